"""The ``twinbench historian import`` / ``export`` commands (registered in ``historian/cli.py``).

Every refusal is one line on stderr and exit status 2: a bad row (``file:line:column:
why``), unknown tags under ``--strict``, a catalogue conflict, or a store held by a
running server. Long imports print a progress line on stderr every few seconds.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import typer

from historian.errors import CatalogueError, CorruptDataError, HistorianError, InputFormatError
from historian.fs import DatabaseLockedError

PROGRESS_EVERY_S = 3.0


def _die(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


def locked_message(data_dir: str) -> str:
    """Who holds the store, from the LOCK file's owner if a server wrote its pid beside it."""
    pid = _lock_holder(data_dir)
    who = f"pid {pid}" if pid else "pid unknown"
    return (
        f"the store {data_dir} is in use by a running server ({who}); stop it or "
        "query it through the server, then retry"
    )


def _lock_holder(data_dir: str) -> int | None:
    """The pid holding ``DIR/LOCK`` (Linux: /proc/locks names the process of each flock)."""
    try:
        inode = os.stat(os.path.join(data_dir, "LOCK")).st_ino
        with open("/proc/locks") as fh:
            for line in fh:
                parts = line.split()
                # "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF"
                if len(parts) >= 6 and parts[1] == "FLOCK" and parts[5].endswith(f":{inode}"):
                    return int(parts[4])
    except (OSError, ValueError):
        return None
    return None


def _progress_printer(label: str) -> Callable[..., None]:
    last = [time.monotonic()]

    def show(done: int, total: int | None = None, seconds: float = 0.0) -> None:
        now = time.monotonic()
        if now - last[0] < PROGRESS_EVERY_S:
            return
        last[0] = now
        rate = done / seconds if seconds > 0 else 0.0
        of = f" / {total:,} ({100 * done / total:.0f} %)" if total else ""
        typer.echo(f"{label}: {done:,}{of} points, {rate / 1e6:.2f} M points/s", err=True)

    return show


def import_cmd(
    files: list[str] = typer.Argument(..., help="input files (long, wide or PI CSV, Parquet)"),
    data_dir: str = typer.Option(..., "--data-dir", help="historian data directory"),
    catalogue: str | None = typer.Option(None, "--catalogue", help="catalogue TOML to merge first"),
    strict: bool = typer.Option(False, "--strict", help="refuse tags not in the catalogue"),
    fmt: str = typer.Option("auto", "--format", help="auto | long | wide | parquet | pi"),
) -> None:
    """Import points; every file is checked completely before the first point is written."""
    from .importer import UnknownTagsError, import_files

    if fmt not in ("auto", "long", "wide", "parquet", "pi"):
        raise _die(f"--format {fmt!r} is not one of auto, long, wide, parquet, pi")
    show = _progress_printer("import")
    try:
        result = import_files(
            files,
            data_dir,
            catalogue_toml=catalogue,
            strict=strict,
            fmt=fmt,
            progress=lambda done, total, s: show(done, total, s),
            warn=lambda msg: typer.echo(f"warning: {msg}", err=True),
        )
    except DatabaseLockedError:
        raise _die(locked_message(data_dir)) from None
    except (InputFormatError, UnknownTagsError, CatalogueError, CorruptDataError) as exc:
        raise _die(f"{exc}; nothing was imported") from None
    except HistorianError as exc:
        raise _die(str(exc)) from None
    rate = result.points / result.seconds if result.seconds > 0 else 0.0
    typer.echo(
        f"imported {result.points:,} points from {result.files} file(s) into {data_dir} "
        f"in {result.seconds:.1f} s ({rate / 1e6:.2f} M points/s); catalogue revision "
        f"{result.catalogue_revision}, {len(result.created_tags)} tag(s) created"
    )


def _time_option(name: str, text: str | None) -> int | None:
    if text is None:
        return None
    import pyarrow as pa

    from .timestamps import parse_timestamps

    try:
        return int(parse_timestamps(pa.array([text]))[0])
    except ValueError as exc:
        raise _die(f"{name}: {str(exc).split(': ', 1)[-1]}") from None


def export_cmd(
    data_dir: str = typer.Option(..., "--data-dir", help="historian data directory"),
    fmt: str = typer.Option(..., "--format", help="long | wide | parquet | pi"),
    output: str = typer.Option(..., "-o", "--output", help="file to write"),
    tags: str | None = typer.Option(None, "--tags", help="glob(s), comma-separated"),
    start: str | None = typer.Option(None, "--start", help="ISO 8601 with zone, inclusive"),
    end: str | None = typer.Option(None, "--end", help="ISO 8601 with zone, exclusive"),
    catalogue: str | None = typer.Option(None, "--catalogue", help="names for a store without one"),
) -> None:
    """Export points of a stopped store (start inclusive, end exclusive)."""
    from .exporter import export

    if fmt not in ("long", "wide", "parquet", "pi"):
        raise _die(f"--format {fmt!r} is not one of long, wide, parquet, pi")
    start_ns, end_ns = _time_option("--start", start), _time_option("--end", end)
    show = _progress_printer("export")
    patterns = [p.strip() for p in tags.split(",") if p.strip()] if tags else None
    try:
        result = export(
            data_dir, output, fmt, tags=patterns, start_ns=start_ns, end_ns=end_ns,
            catalogue_toml=catalogue, progress=lambda done, s: show(done, None, s),
        )  # fmt: skip
    except DatabaseLockedError:
        raise _die(locked_message(data_dir)) from None
    except (HistorianError, OSError) as exc:
        raise _die(str(exc)) from None
    typer.echo(
        f"exported {result.points:,} points of {result.tags} tag(s) to {output} "
        f"in {result.seconds:.1f} s"
    )
