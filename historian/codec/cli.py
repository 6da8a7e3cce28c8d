"""``twinbench compression``: measure files, gate the corpus against its baseline."""

from __future__ import annotations

import json
import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from historian.codec.corpus import DEFAULT_CORPUS_DIR, load_corpus
from historian.codec.gate import (
    DEFAULT_BASELINE,
    BaselineError,
    Tolerance,
    check,
    measure_corpus,
    read_baseline,
    write_baseline,
)
from historian.codec.measure import SeriesSizes, measure_series
from historian.codec.readers import SeriesFileError, read_series_file

app = typer.Typer(
    help="Measure compression and gate bytes/point against the committed baseline.",
    no_args_is_help=True,
)

MEASURE_SCHEMA_VERSION = 1


class OutputFormat(StrEnum):
    table = "table"
    json = "json"


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def series_json(s: SeriesSizes) -> dict[str, Any]:
    """One series in the stable ``measure --format json`` schema (docs/format/chunk.md)."""

    def size(c: Any) -> dict[str, Any] | None:
        if c is None:
            return None
        return {"bytes": c.nbytes, "bytes_per_point": round(c.bytes_per_point, 6)}

    ts_codec, value_codec, quality_codec = [*s.chosen.detail.split("+"), "", "", ""][:3]
    return {
        "name": s.name,
        "points": s.points,
        "chosen": {
            **(size(s.chosen) or {}),
            "value_codec": value_codec,
            "timestamp_codec": ts_codec,
            "quality_codec": quality_codec,
        },
        "codecs": {k: size(v) for k, v in s.codecs.items()},
        "external": {k: size(v) for k, v in s.external.items()},
        "round_trip": "ok",
    }


def _peer_sizes(rows: list[SeriesSizes], series: list[tuple[str, Any, Any]]) -> None:
    """Add InfluxDB TSM bytes/point to each row's external sizes (one influxd for all)."""
    from historian.codec.measure import CodecSize
    from historian.codec.peers import (
        PeerUnavailableError,
        influx_tsm_sizes,
        prometheus_block_sizes,
    )

    keyed = [(str(i), ts, v) for i, (_, ts, v) in enumerate(series)]
    try:
        influx, prom = influx_tsm_sizes(keyed), prometheus_block_sizes(keyed)
    except PeerUnavailableError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    for i, row in enumerate(rows):
        peer = influx[str(i)]
        detail = f"{peer.skipped} non-finite points not stored" if peer.skipped else ""
        row.external["influxdb"] = CodecSize("influxdb", peer.nbytes, peer.points, detail)
        if str(i) in prom:  # absent for series before 1970
            peer = prom[str(i)]
            detail = f"{peer.skipped} timestamps truncated to ms" if peer.skipped else ""
            row.external["prometheus"] = CodecSize("prometheus", peer.nbytes, peer.points, detail)


@app.command()
def measure(
    files: Annotated[list[Path] | None, typer.Argument(help="CSV or Parquet files")] = None,
    format: Annotated[
        OutputFormat, typer.Option("--format", help="table or json")
    ] = OutputFormat.table,
    time_column: Annotated[str | None, typer.Option(help="name of the time column")] = None,
    chunk_points: Annotated[
        int, typer.Option(help="split series in chunks of N points (0 = one chunk)")
    ] = 0,
    corpus: Annotated[
        bool, typer.Option("--corpus", help="measure the compression corpus (no FILEs needed)")
    ] = False,
    peers: Annotated[
        bool,
        typer.Option("--peers", help="also store every series in InfluxDB 1.x and Prometheus TSDB"),
    ] = False,
) -> None:
    """Encode every numeric column of FILE... with every codec; print bytes/point side by side."""
    if not files and not corpus:
        typer.echo("error: name CSV/Parquet files to measure, or pass --corpus", err=True)
        raise typer.Exit(2)
    groups: list[tuple[dict[str, Any], list[tuple[str, Any, Any]]]] = []
    for path in files or []:
        try:
            fs = read_series_file(path, time_column)
        except SeriesFileError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from exc
        entry: dict[str, Any] = {
            "file": str(path),
            "time_column": fs.time_column,
            "rows": int(fs.ts.size),
            "out_of_order_rows": fs.out_of_order_rows,
            "series": [],
        }
        groups.append((entry, [(n, ts, v) for n, (ts, v) in fs.series.items()]))
    if corpus:
        cs = load_corpus()
        entry = {"file": "corpus", "time_column": "", "rows": 0, "out_of_order_rows": 0}
        groups.append(({**entry, "series": []}, [(c.name, c.ts, c.values) for c in cs]))
    measured = [
        [measure_series(n, ts, v, chunk_points=chunk_points) for n, ts, v in items]
        for _, items in groups
    ]
    if peers:
        _peer_sizes(
            [s for rows in measured for s in rows], [x for _, items in groups for x in items]
        )
    cols = ["file", "series", "points", "bytes", "B/pt", "chosen", "gorilla", "pcodec", "parquet"]
    cols += ["influxdb", "prometheus"] if peers else []
    table = Table(title="bytes/point incl. timestamps (ours also incl. quality + 48 B header)")
    for col in cols:
        table.add_column(col, justify="left" if col in ("file", "series", "chosen") else "right")
    out: list[dict[str, Any]] = []
    for (entry, _), rows in zip(groups, measured, strict=True):
        for s in rows:
            entry["series"].append(series_json(s))
            gorilla = s.codecs.get("gorilla")
            cells = [
                entry["file"], s.name, str(s.points), str(s.chosen.nbytes),
                _fmt(s.chosen.bytes_per_point), s.chosen.detail.split("+")[1],
                _fmt(gorilla.bytes_per_point if gorilla else None),
                _fmt(s.external["pcodec"].bytes_per_point),
                _fmt(s.external["parquet"].bytes_per_point),
            ]  # fmt: skip
            if peers:
                for name in ("influxdb", "prometheus"):
                    peer_size = s.external.get(name)
                    cells.append(_fmt(peer_size.bytes_per_point if peer_size else None))
            table.add_row(*cells)
        out.append(entry)
    if format is OutputFormat.json:
        typer.echo(json.dumps({"schema_version": MEASURE_SCHEMA_VERSION, "files": out}, indent=2))
    else:
        Console(width=180).print(table)


def _load(corpus_dir: Path) -> list[SeriesSizes]:
    return measure_corpus(load_corpus(corpus_dir))


@app.command("check")
def check_command(
    baseline: Annotated[Path, typer.Option(help="baseline JSON")] = DEFAULT_BASELINE,
    corpus_dir: Annotated[Path, typer.Option(help="corpus directory")] = DEFAULT_CORPUS_DIR,
) -> None:
    """Re-measure the corpus; exit 1 if any series is worse than its baseline."""
    started = time.perf_counter()
    try:
        base, tolerance = read_baseline(baseline)
    except BaselineError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    result = check(_load(corpus_dir), base, tolerance)
    table = Table(
        title=f"compression gate vs {baseline} "
        f"(tolerance +{tolerance.relative:.1%} +{tolerance.absolute} B/pt)"
    )
    for col in ("series", "points", "B/pt now", "baseline", "best other codec", "status"):
        table.add_column(
            col, justify="left" if col in ("series", "best other codec", "status") else "right"
        )
    for r in result.rows:
        status = "ok" if not r.problems else "FAIL: " + "; ".join(r.problems)
        table.add_row(r.series, str(r.points), _fmt(r.now), _fmt(r.baseline), r.best_other, status)
    Console(width=200).print(table)
    elapsed = time.perf_counter() - started
    if not result.passed:
        typer.echo(
            f"compression gate FAILED ({len(result.failures)} problems, {elapsed:.1f} s)", err=True
        )
        raise typer.Exit(1)
    typer.echo(f"compression gate passed ({len(result.rows)} series, {elapsed:.1f} s)")


@app.command("update-baseline")
def update_baseline(
    baseline: Annotated[Path, typer.Option(help="baseline JSON to (re)write")] = DEFAULT_BASELINE,
    corpus_dir: Annotated[Path, typer.Option(help="corpus directory")] = DEFAULT_CORPUS_DIR,
    relative: Annotated[float, typer.Option(help="relative tolerance")] = 0.01,
    absolute: Annotated[float, typer.Option(help="absolute tolerance, B/pt")] = 0.002,
) -> None:
    """Re-measure the corpus and rewrite the baseline file (commit it with the reason)."""
    write_baseline(baseline, _load(corpus_dir), Tolerance(relative, absolute))
    typer.echo(f"wrote {baseline}", file=sys.stdout)


@app.command("lossy")
def lossy_command(
    files: Annotated[
        list[Path] | None, typer.Argument(help="CSV/Parquet files (default: the corpus)")
    ] = None,
    comp_dev_percent: Annotated[float, typer.Option(help="CompDev / ExcDev as % of span")] = 0.5,
    time_column: Annotated[str | None, typer.Option(help="name of the time column")] = None,
) -> None:
    """Swinging door and exception filters: bytes/point of the kept points and fidelity."""
    import numpy as np

    from historian.codec.chunk import encode_chunk
    from historian.codec.lossy import (
        dev_from_span_percent,
        exception_filter,
        fidelity,
        swinging_door,
    )

    series: list[tuple[str, Any, Any]] = []
    if files:
        for path in files:
            try:
                fs = read_series_file(path, time_column)
            except SeriesFileError as exc:
                typer.echo(f"error: {exc}", err=True)
                raise typer.Exit(2) from exc
            series += [(f"{path}:{n}", t, v) for n, (t, v) in fs.series.items()]
    else:
        series = [(s.name, s.ts, s.values) for s in load_corpus()]
    table = Table(title=f"lossy filters at {comp_dev_percent}% of span (errors in value units)")
    for col in (
        "series",
        "filter",
        "kept",
        "B/pt",
        "lossless B/pt",
        "max abs err",
        "TWA abs err",
        "integral err",
        "TWA err",
    ):
        table.add_column(col, justify="left" if col in ("series", "filter") else "right")
    for name, ts, values in series:
        dev = dev_from_span_percent(values, comp_dev_percent)
        q = np.zeros(ts.size, np.uint16)
        lossless = len(encode_chunk(ts, values, q)) / max(ts.size, 1)
        for label, keep in (
            ("swinging door", swinging_door(ts, values, dev)),
            ("exception", exception_filter(ts, values, dev)),
        ):
            f = fidelity(ts, values, keep)
            bpt = len(encode_chunk(ts[keep], values[keep], q[keep])) / max(ts.size, 1)
            table.add_row(
                name, label, f"{f.kept}/{f.points}", f"{bpt:.3f}", f"{lossless:.3f}",
                f"{f.max_abs_error:.4g}", f"{f.twa_abs_error:.4g}",
                f"{f.integral_error:.4g}", f"{f.twa_error:.4g}",
            )  # fmt: skip
    Console(width=200).print(table)
