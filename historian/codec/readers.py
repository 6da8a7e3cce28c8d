"""Read series from CSV or Parquet files for ``twinbench compression measure``.

CSV: the delimiter is sniffed from the first 64 KiB (``,;\\t|`` and space).
The time column is the one given, else the first whose name looks like time
(``timestamp``, ``time``, ``ts``, ``datetime``, ``date``, ``_time``), else the
first column if it parses as time. Time cells are ISO-8601 date-times (taken
as UTC) or numbers of epoch seconds / ms / us / ns (chosen by magnitude:
< 1e11 s, < 1e14 ms, < 1e17 us, else ns). Every other column whose first
non-empty cell is numeric is a series; empty cells are missing points. A
non-numeric cell later in a numeric column is an error naming the file, line
and column. Rows are sorted stably by time (the count of out-of-order rows is
reported); equal timestamps are kept.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from historian.errors import HistorianError

TIME_NAMES = ("timestamp", "time", "ts", "datetime", "date", "_time", "time_ns")


class SeriesFileError(HistorianError, ValueError):
    """A CSV/Parquet file cannot be read as time series; the message names file, line, column."""


@dataclass(slots=True)
class FileSeries:
    path: str
    time_column: str
    ts: NDArray[np.int64]
    series: dict[str, tuple[NDArray[np.int64], NDArray[np.float64]]] = field(default_factory=dict)
    out_of_order_rows: int = 0


def _parse_number(cell: str) -> float | None:
    try:
        return float(cell)
    except ValueError:
        return None


def _epoch_to_ns(numbers: NDArray[np.float64]) -> NDArray[np.int64]:
    peak = float(np.nanmax(np.abs(numbers))) if numbers.size else 0.0
    scale = 1e9 if peak < 1e11 else 1e6 if peak < 1e14 else 1e3 if peak < 1e17 else 1.0
    return np.round(numbers * scale).astype(np.int64)


def _parse_times(cells: list[str], path: str, column: str, first_line: int) -> NDArray[np.int64]:
    if cells and _parse_number(cells[0]) is not None:
        nums = np.empty(len(cells))
        for i, c in enumerate(cells):
            x = _parse_number(c)
            if x is None:
                raise SeriesFileError(
                    f"{path}:{first_line + i}: column {column!r}: {c!r} is not an epoch number"
                )
            nums[i] = x
        return _epoch_to_ns(nums)
    try:
        return np.array(cells, dtype="datetime64[ns]").astype(np.int64)
    except ValueError:
        for i, c in enumerate(cells):
            try:
                np.datetime64(c, "ns")
            except ValueError:
                raise SeriesFileError(
                    f"{path}:{first_line + i}: column {column!r}: {c!r} is not a date-time"
                ) from None
        raise


def _sniff(sample: str) -> type[csv.Dialect] | csv.Dialect:
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t| ")
    except csv.Error:
        return csv.excel


def _pick_time_column(
    header: list[str], rows: list[list[str]], wanted: str | None, path: str
) -> int:
    if wanted is not None:
        if wanted not in header:
            raise SeriesFileError(f"{path}:1: no column named {wanted!r} (columns: {header})")
        return header.index(wanted)
    lowered = [h.strip().lower() for h in header]
    for name in TIME_NAMES:
        if name in lowered:
            return lowered.index(name)
    if rows:
        try:
            np.datetime64(rows[0][0], "ns")
            return 0
        except ValueError:
            pass
    raise SeriesFileError(f"{path}:1: no time column found; pass --time-column NAME")


def read_csv(path: str | Path, time_column: str | None = None) -> FileSeries:
    p = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise SeriesFileError(f"{p}: cannot read: {exc}") from exc
    reader = csv.reader(io.StringIO(text), _sniff(text[:65536]))
    header = next(reader, None)
    if not header:
        raise SeriesFileError(f"{p}:1: empty file, expected a header row")
    rows: list[list[str]] = []
    for line_no, row in enumerate(reader, start=2):
        if not row:
            continue
        if len(row) != len(header):
            raise SeriesFileError(
                f"{p}:{line_no}: {len(row)} fields but the header has {len(header)}"
            )
        rows.append(row)
    tcol = _pick_time_column(header, rows, time_column, p)
    lines = [i + 2 for i in range(len(rows))]  # good enough: blank lines are rare
    ts = _parse_times([r[tcol] for r in rows], p, header[tcol], 2)
    out = FileSeries(p, header[tcol], ts)
    order = np.argsort(ts, kind="stable")
    out.out_of_order_rows = int(np.count_nonzero(order != np.arange(order.size)))
    for c, name in enumerate(header):
        if c == tcol:
            continue
        cells = [r[c].strip() for r in rows]
        first = next((x for x in cells if x), None)
        if first is None or _parse_number(first) is None:
            continue  # a text or empty column is not a series
        vals = np.empty(len(cells))
        keep = np.ones(len(cells), bool)
        for i, cell in enumerate(cells):
            if not cell:
                keep[i] = False
                continue
            x = _parse_number(cell)
            if x is None:
                raise SeriesFileError(f"{p}:{lines[i]}: column {name!r}: {cell!r} is not a number")
            vals[i] = x
        idx = order[keep[order]]
        out.series[name] = (ts[idx], vals[idx])
    out.ts = ts[order]
    return out


def read_parquet(path: str | Path, time_column: str | None = None) -> FileSeries:
    import pyarrow as pa
    import pyarrow.parquet as pq

    p = str(path)
    try:
        table = pq.read_table(p)
    except (OSError, pa.ArrowException) as exc:
        raise SeriesFileError(f"{p}: not a readable Parquet file: {exc}") from exc
    names = table.column_names
    tname = time_column
    if tname is None:
        tname = next((n for n in names if pa.types.is_timestamp(table.schema.field(n).type)), None)
        tname = tname or next((n for n in names if n.lower() in TIME_NAMES), None)
    if tname is None or tname not in names:
        raise SeriesFileError(f"{p}: no time column found; pass --time-column NAME")
    tcol = table.column(tname)
    if pa.types.is_timestamp(tcol.type):
        ts = tcol.cast(pa.timestamp("ns")).to_numpy().astype(np.int64)
    elif pa.types.is_integer(tcol.type) or pa.types.is_floating(tcol.type):
        ts = _epoch_to_ns(tcol.to_numpy().astype(np.float64))
    else:
        ts = _parse_times([str(x) for x in tcol.to_pylist()], p, tname, 1)
    order = np.argsort(ts, kind="stable")
    out = FileSeries(p, tname, ts[order])
    out.out_of_order_rows = int(np.count_nonzero(order != np.arange(order.size)))
    for name in names:
        col = table.column(name)
        if name == tname or not (pa.types.is_integer(col.type) or pa.types.is_floating(col.type)):
            continue
        valid = ~np.asarray(col.is_null().to_numpy(zero_copy_only=False), bool)
        vals = col.to_numpy(zero_copy_only=False).astype(np.float64)
        idx = order[valid[order]]
        out.series[name] = (ts[idx], vals[idx])
    return out


def read_series_file(path: str | Path, time_column: str | None = None) -> FileSeries:
    if not Path(path).exists():
        raise SeriesFileError(f"{path}: no such file")
    if str(path).lower().endswith((".parquet", ".pq")):
        return read_parquet(path, time_column)
    return read_csv(path, time_column)
