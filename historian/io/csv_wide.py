"""Wide CSV: a ``timestamp`` column, then one value column per tag (``exchange-csv.md``).

A tag column may be followed by ``<tag>#status`` (``#`` never occurs in a tag path):
empty = Good, else a StatusCode name or number. A cell pair that is empty in both
columns is "no point at this time". Export always writes the status columns, so
wide round trips are exact; files without them import as Good values.

>>> import os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "wide.csv")
>>> _ = open(path, "w").write("timestamp,a.x,a.x#status,a.y\\n"
...     "2024-01-01T00:00:00Z,1.5,,7\\n2024-01-01T00:00:01Z,,BadNoData,\\n")
>>> p = read_wide(path)
>>> p.names, p.tag.tolist(), p.values.tolist(), p.quality.tolist()
(['a.x', 'a.y'], [0, 0, 1], [1.5, nan, 7.0], [0, 32923, 0])
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from historian.catalogue.tag import check_name
from historian.errors import CatalogueError, InputFormatError
from historian.model import QualityArray, Severity, TimeArray, ValueArray, severity_of

from .csv_long import status_column, value_strings
from .csv_table import CsvBatches, open_csv_writer, read_csv_batches
from .points import ParsedPoints, concat, parse_status_column, parse_values, value_present
from .rows import BadRow
from .timestamps import format_timestamps, parse_timestamps

__all__ = ["STATUS_SUFFIX", "TIME_COLUMN", "WideCsvWriter", "read_wide"]

TIME_COLUMN = "timestamp"
STATUS_SUFFIX = "#status"
CELLS_PER_BLOCK = 4_000_000


def _layout(csv: CsvBatches) -> list[tuple[str, int, int | None]]:
    """(tag, value column index, status column index or None) from the header."""
    cols = csv.columns
    if not cols or cols[0] != TIME_COLUMN:
        raise InputFormatError(csv.path, 1, 1, f"a wide CSV starts with a {TIME_COLUMN!r} column")
    index = {c: k for k, c in enumerate(cols)}
    if len(index) != len(cols):
        dup = next(c for k, c in enumerate(cols) if index[c] != k)
        raise InputFormatError(csv.path, 1, cols.index(dup) + 1, f"column {dup!r} appears twice")
    out: list[tuple[str, int, int | None]] = []
    for k, c in enumerate(cols[1:], start=1):
        if c.endswith(STATUS_SUFFIX):
            if c[: -len(STATUS_SUFFIX)] not in index:
                raise InputFormatError(
                    csv.path, 1, k + 1, f"status column {c!r} has no value column before it"
                )
            continue
        try:
            check_name(c)
        except CatalogueError:
            raise InputFormatError(
                csv.path, 1, k + 1, f"column {c!r} is not a valid tag path (dot-separated "
                "letters, digits, '_' and '-')",
            ) from None  # fmt: skip
        out.append((c, k, index.get(c + STATUS_SUFFIX)))
    return out


def _tag_cells(
    t: pa.RecordBatch, vcol: int, scol: int | None
) -> tuple[NDArray[np.bool_], ValueArray, QualityArray]:
    """(has a point, value, quality) per row for one tag's value (+ status) column."""
    present = value_present(t.column(vcol))
    if scol is None:
        return present, parse_values(t.column(vcol)), np.zeros(t.num_rows, dtype=np.uint16)
    raw = t.column(scol)
    status_given = value_present(raw)
    try:
        q = parse_status_column(pc.if_else(pa.array(status_given), raw, "Good"))
    except BadRow as bad:
        raise _StatusCell(bad) from None
    has_point = present | status_given
    wrong = has_point & ~present & (severity_of(q) != Severity.BAD)
    if wrong.any():
        raise BadRow(
            int(np.argmax(wrong)),
            "value is empty but the status is not Bad; give a number or a Bad status",
        )
    return has_point, parse_values(t.column(vcol)), q


class _StatusCell(BadRow):
    def __init__(self, bad: BadRow) -> None:
        super().__init__(bad.row, bad.why)


def read_wide(path: str) -> ParsedPoints:
    csv = read_csv_batches(path)
    layout = _layout(csv)
    tags, rows, stamps, values, quality = [], [], [], [], []
    for first, batch in csv:
        ts = csv.parse(parse_timestamps, first, 1, batch.column(0))
        for k, (_name, vcol, scol) in enumerate(layout):
            try:
                has_point, v, q = _tag_cells(batch, vcol, scol)
            except _StatusCell as bad:
                assert scol is not None
                raise csv.error(BadRow(first + bad.row, bad.why), scol + 1) from None
            except BadRow as bad:
                raise csv.error(BadRow(first + bad.row, bad.why), vcol + 1) from None
            idx = np.flatnonzero(has_point)
            tags.append(np.full(len(idx), k, dtype=np.int32))
            rows.append(idx + first)
            stamps.append(ts[idx])
            values.append(v[idx])
            quality.append(q[idx])
    row = concat(rows, np.int64)
    return ParsedPoints(
        path,
        [name for name, _, _ in layout],
        concat(tags, np.int32),
        concat(stamps, np.int64),
        concat(values, np.float64),
        concat(quality, np.uint16),
        locate=lambda i: (csv.line_of_row(int(row[i])), 1),
    )


class WideCsvWriter:
    """Writes time windows: the union of the window's timestamps, one row each."""

    def __init__(self, path: str, names: Sequence[str]) -> None:
        fields = [pa.field(TIME_COLUMN, pa.string())]
        for n in names:
            fields += [pa.field(n, pa.string()), pa.field(n + STATUS_SUFFIX, pa.string())]
        self._schema = pa.schema(fields)
        self._names = list(names)
        self._sink, self._writer = open_csv_writer(path, self._schema)
        self.points = 0

    def write_window(self, series: Sequence[tuple[TimeArray, ValueArray, QualityArray]]) -> None:
        """One (ts, values, quality) per name, in the constructor's order.

        Rows are written in blocks of at most ``CELLS_PER_BLOCK`` cells, so memory stays
        bounded when timestamps do not line up (then nearly every cell is empty).
        """
        stamps: TimeArray = (
            np.unique(np.concatenate([s[0] for s in series])) if series else np.zeros(0, np.int64)
        )
        rows = max(CELLS_PER_BLOCK // max(len(self._schema), 1), 1)
        for lo in range(0, len(stamps), rows):
            block = stamps[lo : lo + rows]
            first, last = int(block[0]), int(block[-1])
            parts = []
            for ts, values, quality in series:
                a, b = np.searchsorted(ts, [first, last + 1])
                parts.append((ts[a:b], values[a:b], quality[a:b]))
            self._write_block(block, parts)

    def _write_block(
        self, stamps: TimeArray, series: Sequence[tuple[TimeArray, ValueArray, QualityArray]]
    ) -> None:
        n = len(stamps)
        columns: list[pa.Array] = [format_timestamps(stamps)]
        for ts, values, quality in series:
            where = np.full(n, len(ts), dtype=np.int64)
            where[np.searchsorted(stamps, ts)] = np.arange(len(ts))
            take = pa.array(where)
            text = pa.concat_arrays([value_strings(values, quality), pa.array([""])])
            status = status_column(quality).cast(pa.string())
            status = pc.if_else(pa.array(quality == 0), "", status)
            columns.append(pc.take(text, take))
            columns.append(pc.take(pa.concat_arrays([status, pa.array([""])]), take))
            self.points += len(ts)
        self._writer.write_batch(pa.record_batch(columns, schema=self._schema))

    def close(self) -> None:
        self._writer.close()
        self._sink.close()

    def __enter__(self) -> WideCsvWriter:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
