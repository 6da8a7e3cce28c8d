"""``twinbench shadow diff``: per-tag verdicts of a legacy historian against a twinbench store.

Exit codes: 0 every tag matches or is within tolerance, 1 any tag mismatches or is
missing on one side (a pipeline can gate on it), 2 a usage error (one line on
stderr, no traceback).
"""

from __future__ import annotations

import time
from pathlib import Path

import typer

app = typer.Typer(
    help="Shadow mode: compare twinbench with a legacy historian.", no_args_is_help=True
)

FORMATS = ("table", "json", "html")


def _usage(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


@app.command("diff")
def diff(
    historian: Path = typer.Option(
        ..., "--historian", help="twinbench store directory (not in use by a server)"
    ),
    legacy: str | None = typer.Option(
        None, "--legacy", help="PostgreSQL URL of the SCADA database (postgresql://...)"
    ),
    legacy_csv: Path | None = typer.Option(
        None, "--legacy-csv", help="PI-style CSV export (tag,timestamp,value)"
    ),
    start: str | None = typer.Option(
        None,
        help="range start (ISO 8601 or PI-style, e.g. *-1d); default: the legacy's first reading",
    ),
    end: str | None = typer.Option(
        None, help="range end, exclusive; default: just after the legacy's last reading"
    ),
    tags: str = typer.Option("*", "--tags", help="glob on the catalogue path"),
    rules: Path | None = typer.Option(
        None, "--rules", help="TOML file of per-tag tolerances (docs/shadow.md)"
    ),
    fmt: str = typer.Option("table", "--format", help="table | json | html"),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="write the report here instead of stdout"
    ),
) -> None:
    """Diff the legacy against the store, tag by tag; exit code 1 on any mismatch."""
    from harness.shadow.diff import diff_store
    from harness.shadow.legacy_read import read_pi_csv, read_postgres
    from harness.shadow.render import render
    from harness.shadow.rules import RulesError, RuleSet
    from historian.api.times import parse_time
    from historian.catalogue import TagCatalogue
    from historian.lsm.engine import Historian
    from historian.query.engine import QueryEngine

    if (legacy is None) == (legacy_csv is None):
        raise _usage("give exactly one of --legacy postgresql://... or --legacy-csv FILE")
    if fmt not in FORMATS:
        raise _usage(f"--format {fmt!r} is not one of {', '.join(FORMATS)}")
    if legacy is not None and not legacy.startswith(("postgresql://", "postgres://")):
        raise _usage(
            f"--legacy {legacy!r} is not a PostgreSQL URL; write postgresql://user@host:port/db"
        )
    if legacy_csv is not None and not legacy_csv.is_file():
        raise _usage(f"--legacy-csv {legacy_csv} is not a file")
    if not (historian / "MANIFEST").exists() and not historian.is_dir():
        raise _usage(f"--historian {historian} is not a twinbench store directory")
    try:
        ruleset = RuleSet.load(rules) if rules is not None else RuleSet()
        lo = parse_time(start) if start else None
        hi = parse_time(end) if end else None
    except (RulesError, ValueError) as exc:
        raise _usage(str(exc)) from None
    catalogue = TagCatalogue.load(historian)
    if catalogue is None:
        raise _usage(
            f"--historian {historian} has no tag catalogue; "
            "import one (twinbench historian import) first"
        )
    lo_read = lo if lo is not None else -(2**62)
    hi_read = hi if hi is not None else 2**62
    try:
        if legacy is not None:
            import psycopg

            try:
                data = read_postgres(legacy, lo_read, hi_read)
            except psycopg.Error as exc:
                raise _usage(
                    f"cannot read the legacy database: {str(exc).strip().splitlines()[0]}"
                ) from None
            label = legacy.split("@")[-1]
        else:
            assert legacy_csv is not None
            data = read_pi_csv(str(legacy_csv), lo, hi)
            label = str(legacy_csv)
    except OSError as exc:
        raise _usage(f"cannot read the legacy: {exc}") from None
    if lo is None or hi is None:
        if data.points == 0:
            raise _usage("the legacy holds no readings; give --start and --end")
        lo = int(data.ts.min()) if lo is None else lo
        hi = int(data.ts.max()) + 1 if hi is None else hi
    try:
        db = Historian.open(str(historian))
    except Exception as exc:  # a locked or corrupt store: say which, no traceback
        raise _usage(f"cannot open --historian {historian}: {exc}") from None
    try:
        t0 = time.perf_counter()
        report = diff_store(
            QueryEngine(db, catalogue),
            data,
            lo,
            hi,
            tags=tags,
            rules=ruleset,
            legacy_label=label,
            historian_label=str(historian),
        )
        report.elapsed_s = time.perf_counter() - t0
    finally:
        db.close()
    text = render(report, fmt)
    if output is not None:
        output.write_text(text + "\n")
    else:
        typer.echo(text)
    raise typer.Exit(1 if report.failed else 0)
