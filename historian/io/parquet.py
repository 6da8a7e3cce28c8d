"""Parquet exchange files (schema in ``historian/docs/format/exchange-parquet.md``).

One row per point, ordered by tag then time::

    tag        dictionary<int32, string>   tag path
    series_id  uint32                      the exporting store's id (informative)
    timestamp  timestamp[ns, tz=UTC]
    value      double                      NaN = no value (Bad points); never null on export
    status     uint32                      full OPC UA StatusCode (low 16 bits zero)

Import needs ``tag``, ``timestamp`` (any unit, with a time zone) and ``value``;
``status`` is optional (absent = Good) and may be uint32 codes or names; null values
are allowed on Bad points only. Errors name the file, the row (1-based, as "line")
and the column (1-based position in the file's schema).

>>> import os, tempfile
>>> import numpy as np
>>> path = os.path.join(tempfile.mkdtemp(), "p.parquet")
>>> with ParquetPointWriter(path) as w:
...     w.write("a.b", np.array([5, 6]), np.array([1.0, np.nan]),
...             np.array([0, 0x8000], np.uint16), series_id=3)
>>> p = read_parquet(path)
>>> p.names, p.ts.tolist(), p.quality.tolist()
(['a.b'], [5, 6], [0, 32768])
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from historian.errors import InputFormatError
from historian.model import QualityArray, TimeArray, ValueArray

from .csv_long import tag_column
from .points import (
    ParsedPoints,
    check_empty_values,
    encode_names,
    parse_status_column,
    parse_values,
    value_present,
)
from .rows import BadRow

__all__ = ["SCHEMA", "ParquetPointWriter", "read_parquet"]

SCHEMA = pa.schema(
    [
        ("tag", pa.dictionary(pa.int32(), pa.string())),
        ("series_id", pa.uint32()),
        ("timestamp", pa.timestamp("ns", tz="UTC")),
        ("value", pa.float64()),
        ("status", pa.uint32()),
    ]
)
_ROW_GROUP = 1 << 20


def read_parquet(path: str) -> ParsedPoints:
    try:
        table = pq.read_table(path)
    except FileNotFoundError:
        raise InputFormatError(path, 0, 0, "no such file") from None
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputFormatError(path, 0, 0, f"not a readable Parquet file: {exc}") from None
    names = table.schema.names
    for need in ("tag", "timestamp", "value"):
        if need not in names:
            raise InputFormatError(path, 0, 0, f"no {need!r} column; columns are {names}")
    col = {n: names.index(n) + 1 for n in names}

    def error(bad: BadRow, name: str) -> InputFormatError:
        return InputFormatError(path, bad.row + 1, col[name], bad.why)

    tag_col = table["tag"]
    if pa.types.is_dictionary(tag_col.type):
        tag_col = tag_col.cast(pa.string())
    try:
        tag_names, tag = encode_names(tag_col)
    except BadRow as bad:
        raise error(bad, "tag") from None
    ts_type = table.schema.field("timestamp").type
    if not pa.types.is_timestamp(ts_type) or ts_type.tz is None:
        why = f"timestamp column is {ts_type}; write it as timestamp[ns, tz=UTC] (zone required)"
        raise InputFormatError(path, 0, col["timestamp"], why)
    ts_col = table["timestamp"].combine_chunks()
    if ts_col.null_count:
        row = int(np.argmax(ts_col.is_null().to_numpy(zero_copy_only=False)))
        raise error(BadRow(row, "timestamp is null"), "timestamp")
    ts = np.asarray(pc.cast(ts_col, pa.timestamp("ns", tz="UTC")).cast(pa.int64()).to_numpy())
    if "status" in names:
        try:
            quality = parse_status_column(table["status"])
        except BadRow as bad:
            raise error(bad, "status") from None
    else:
        quality = np.zeros(len(ts), dtype=np.uint16)
    value_col = table["value"]
    if not (pa.types.is_floating(value_col.type) or pa.types.is_integer(value_col.type)):
        raise InputFormatError(
            path, 0, col["value"], f"value column is {value_col.type}; needs numbers"
        )
    try:
        values = parse_values(value_col)
        check_empty_values(value_present(value_col), quality)
    except BadRow as bad:
        raise error(bad, "value") from None
    return ParsedPoints(
        path, tag_names, tag, ts, values, quality, locate=lambda i: (i + 1, col["timestamp"])
    )


class ParquetPointWriter:
    """Buffers series into row groups of about a million rows."""

    def __init__(self, path: str) -> None:
        self._writer = pq.ParquetWriter(path, SCHEMA, compression="zstd")
        self._pending: list[pa.RecordBatch] = []
        self._rows = 0
        self.points = 0

    def write(
        self,
        name: str,
        ts: TimeArray,
        values: ValueArray,
        quality: QualityArray,
        *,
        series_id: int = 0,
        **_: Any,
    ) -> None:
        n = len(ts)
        if n == 0:
            return
        batch = pa.record_batch(
            [
                tag_column(name, n),
                pa.array(np.full(n, series_id, dtype=np.uint32)),
                pa.array(np.asarray(ts, np.int64)).cast(pa.timestamp("ns", tz="UTC")),
                pa.array(np.asarray(values, np.float64)),
                pa.array(np.asarray(quality, np.uint32) << 16),
            ],
            schema=SCHEMA,
        )
        self._pending.append(batch)
        self._rows += n
        self.points += n
        if self._rows >= _ROW_GROUP:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            self._writer.write_table(pa.Table.from_batches(self._pending, SCHEMA))
            self._pending, self._rows = [], 0

    def close(self) -> None:
        self._flush()
        self._writer.close()

    def __enter__(self) -> ParquetPointWriter:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
