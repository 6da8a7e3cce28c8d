"""Long CSV: ``tag,timestamp,value,status``, one point per line (``exchange-csv.md``).

>>> import os, tempfile
>>> import numpy as np
>>> path = os.path.join(tempfile.mkdtemp(), "points.csv")
>>> with LongCsvWriter(path) as w:
...     w.write("plant.a.flow", np.array([1, 2]), np.array([0.5, np.nan]),
...             np.array([0, 0x809B], dtype=np.uint16))
>>> print(open(path).read(), end="")
tag,timestamp,value,status
plant.a.flow,1970-01-01T00:00:00.000000001Z,0.5,Good
plant.a.flow,1970-01-01T00:00:00.000000002Z,,BadNoData
>>> p = read_long(path)
>>> p.names, p.ts.tolist(), p.quality.tolist()
(['plant.a.flow'], [1, 2], [0, 32923])
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from historian.model import QualityArray, Severity, TimeArray, ValueArray, severity_of
from historian.statuscodes import status_name

from .csv_table import open_csv_writer, read_csv_batches
from .points import (
    NameTable,
    ParsedPoints,
    check_empty_values,
    concat,
    encode_names,
    parse_status_column,
    parse_values,
    value_present,
)
from .timestamps import format_timestamps, parse_timestamps

__all__ = ["HEADER", "LongCsvWriter", "read_long", "status_column", "value_strings"]

HEADER = ["tag", "timestamp", "value", "status"]


def read_long(path: str) -> ParsedPoints:
    """Parse and check a whole long CSV file; raises InputFormatError (file:line:column)."""
    csv = read_csv_batches(path, HEADER)
    names = NameTable()
    tags, stamps, values, qualities = [], [], [], []
    for first, batch in csv:
        local, idx = csv.parse(encode_names, first, 1, batch.column(0))
        ts = csv.parse(parse_timestamps, first, 2, batch.column(1))
        quality = csv.parse(parse_status_column, first, 4, batch.column(3))
        v = csv.parse(parse_values, first, 3, batch.column(2))
        csv.parse(check_empty_values, first, 3, value_present(batch.column(2)), quality)
        tags.append(names.globalise(local, idx))
        stamps.append(ts)
        values.append(v)
        qualities.append(quality)
    return ParsedPoints(
        path,
        names.names,
        concat(tags, np.int32),
        concat(stamps, np.int64),
        concat(values, np.float64),
        concat(qualities, np.uint16),
        locate=lambda i: (csv.line_of_row(i), 2),
    )


def value_strings(values: ValueArray, quality: QualityArray) -> pa.Array:
    """Shortest round-trip decimal per value; NaN is empty on a Bad point, else ``NaN``."""
    text = pc.cast(pa.array(values, pa.float64()), pa.string())
    nan = np.isnan(values)
    if not nan.any():
        return text
    bad = severity_of(quality) == Severity.BAD
    return pc.if_else(pa.array(nan & bad), "", pc.if_else(pa.array(nan), "NaN", text))


def status_column(quality: QualityArray) -> pa.DictionaryArray:
    """Symbolic StatusCode names as a dictionary column (one string per distinct code)."""
    uniq, inverse = np.unique(np.asarray(quality, dtype=np.uint16), return_inverse=True)
    names = pa.array([status_name(int(q)) for q in uniq], pa.string())
    return pa.DictionaryArray.from_arrays(pa.array(inverse.reshape(-1).astype(np.int32)), names)


def tag_column(name: str, n: int) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(
        pa.array(np.zeros(n, dtype=np.int32)), pa.array([name], pa.string())
    )


_SCHEMA = pa.schema(
    [
        ("tag", pa.dictionary(pa.int32(), pa.string())),
        ("timestamp", pa.string()),
        ("value", pa.string()),
        ("status", pa.dictionary(pa.int32(), pa.string())),
    ]
)


class LongCsvWriter:
    """Writes points series by series; tag names never need quoting (they are path tokens)."""

    def __init__(self, path: str) -> None:
        self._sink, self._writer = open_csv_writer(path, _SCHEMA)
        self.points = 0

    def write(
        self, name: str, ts: TimeArray, values: ValueArray, quality: QualityArray, **_: Any
    ) -> None:
        n = len(ts)
        if n == 0:
            return
        batch = pa.record_batch(
            [
                tag_column(name, n),
                format_timestamps(ts),
                value_strings(values, quality),
                status_column(quality),
            ],
            schema=_SCHEMA,
        )
        self._writer.write_batch(batch)
        self.points += n

    def close(self) -> None:
        self._writer.close()
        self._sink.close()

    def __enter__(self) -> LongCsvWriter:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
