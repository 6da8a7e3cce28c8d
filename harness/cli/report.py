"""``twinbench report``: read and compare scenario reports.

twinbench report show reports/runs/20260101T000000Z-noisy
twinbench report compare OLD_DIR NEW_DIR [--prefix latency.] [--changed-only]
twinbench report render reports/runs/20260101T000000Z-noisy   (report.md/.html from its JSON)
"""

from __future__ import annotations

from pathlib import Path

import typer

from harness.report.format import format_value
from harness.report.md import render_markdown
from harness.report.model import Report, ReportError, load_report

app = typer.Typer(help="Read and compare scenario reports.", no_args_is_help=True)

__all__ = ["app", "compare_table"]


def _load(path: Path) -> Report:
    try:
        return load_report(path)
    except ReportError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


@app.command()
def show(run: Path = typer.Argument(..., help="Run directory or its report.json")) -> None:
    """Print the Markdown summary of one run (verdict, thresholds, latency, accounting)."""
    md = run / "report.md" if run.is_dir() else run.with_name("report.md")
    if md.is_file():
        typer.echo(md.read_text(encoding="utf-8"))
    else:  # a bare report.json: render the summary from it
        typer.echo(render_markdown(_load(run)))


def _missing(key: str, a: Report, b: Report) -> str:
    """Why a row has no delta: absent from one report, or present but null (not measured)."""
    if a.metrics.get(key) is None and b.metrics.get(key) is None:
        return "not measured"
    side, report = ("A", a) if a.metrics.get(key) is None else ("B", b)
    return f"not measured in {side}" if key in report.metrics else f"missing in {side}"


def compare_table(a: Report, b: Report, *, prefix: str = "", changed_only: bool = False) -> str:
    """One row per metric: A, B, B - A and the relative change; metrics in only one report too."""
    keys = sorted(k for k in set(a.metrics) | set(b.metrics) if k.startswith(prefix))
    rows = []
    for key in keys:
        va, vb = a.metrics.get(key), b.metrics.get(key)
        if va is not None and vb is not None:
            delta = vb - va
            rel = f"{delta / abs(va):+.1%}" if va else ("+inf" if delta else "0.0%")
            if changed_only and delta == 0:
                continue
            rows.append([key, format_value(va), format_value(vb), f"{delta:+,.4g}", rel])
        else:
            if changed_only and va is None and vb is None:
                continue
            rows.append([key, format_value(va), format_value(vb), "", _missing(key, a, b)])
    header = ["metric", f"A ({a.scenario})", f"B ({b.scenario})", "delta", "change"]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(r: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )

    out = [
        f"A: {a.scenario} {a.started_utc} verdict {a.verdict}",
        f"B: {b.scenario} {b.started_utc} verdict {b.verdict}",
        "",
        line(header),
        "  ".join("-" * w for w in widths),
        *(line(r) for r in rows),
    ]
    return "\n".join(out)


@app.command()
def compare(
    a: Path = typer.Argument(..., help="Baseline run directory or report.json"),
    b: Path = typer.Argument(..., help="Candidate run directory or report.json"),
    prefix: str = typer.Option("", help="Only metrics whose key starts with this"),
    changed_only: bool = typer.Option(False, "--changed-only", help="Hide unchanged metrics"),
) -> None:
    """Table of metric deltas, B relative to A."""
    typer.echo(compare_table(_load(a), _load(b), prefix=prefix, changed_only=changed_only))


@app.command()
def render(
    run: Path = typer.Argument(..., help="Run directory or its report.json"),
) -> None:
    """Re-render report.md and report.html from report.json (after a renderer change)."""
    from harness.report.write import render_run_dir

    try:
        out = render_run_dir(run)
    except ReportError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    for name in ("report.md", "report.html"):
        typer.echo(f"report: {out / name}")
