"""Parquet encoding of cold parts: raw points and rollups (historian/docs/format/parquet.md).

Raw part: columns ``series`` (uint32), ``ts`` (int64 ns since the epoch, UTC),
``value`` (float64), ``quality`` (uint16), sorted by (series, ts), one point
per (series, ts). Encodings chosen by measurement (``benchmarks/bench_tier.py`` prints the
table): ``ts`` DELTA_BINARY_PACKED, ``value`` dictionary (plain where the
dictionary overflows), ``series`` and ``quality`` dictionary (RLE: long runs),
zstd level 3 (level 9 buys < 1 % for 3x the encode time).

Rollup part (one per level): ``series``, ``bucket`` (start of the 1 min / 1 h
/ 1 day bucket, ns) and every field of
:data:`historian.sstable.CHUNK_SUMMARY_DTYPE`, one row per (series, bucket)
holding points: exactly the record a segment's stats block keeps per chunk,
so the query path reads rollups and segment index rows the same way.

>>> import numpy as np
>>> s = np.array([1, 1, 1, 2], np.uint32); t = np.array([0, 30, 70, 5], np.int64) * 10**9
>>> v = np.array([1.0, 2.0, 4.0, 9.0]); q = np.zeros(4, np.uint16)
>>> r = rollup_rows(s, t, v, q, 60 * 10**9)
>>> r["series"].tolist(), r["count"].tolist(), r["sum"].tolist()
([1, 1, 2], [2, 1, 1], [3.0, 4.0, 9.0])
>>> back = decode_rollups(encode_rollups(r))
>>> bool((back == r).all())
True
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from numpy.typing import NDArray

from historian.sstable import CHUNK_SUMMARY_DTYPE
from historian.sstable.stats import compute_chunk_stats

__all__ = [
    "RAW_SCHEMA",
    "ROLLUP_DTYPE",
    "decode_rollups",
    "encode_raw",
    "encode_rollups",
    "level_ns",
    "read_raw",
    "rollup_rows",
]

RAW_SCHEMA = pa.schema(
    [
        ("series", pa.uint32()),
        ("ts", pa.int64()),
        ("value", pa.float64()),
        ("quality", pa.uint16()),
    ]
)
ROLLUP_DTYPE = np.dtype(
    [("series", "<u4"), ("bucket", "<i8")]
    + [(n, CHUNK_SUMMARY_DTYPE[n]) for n in CHUNK_SUMMARY_DTYPE.names or ()]
)
LEVEL_NS = {"1m": 60 * 10**9, "1h": 3_600 * 10**9, "1d": 86_400 * 10**9}

DEFAULT_ENCODING: dict[str, Any] = {
    # measured (bench_tier.py --encodings, 1 Hz plant-like tag, 2 decimals): value dictionary
    # 1.54 B/pt, plain 1.58, byte-stream-split 4.46 (it defeats zstd on decimal data);
    # pyarrow falls back to plain per column chunk when the dictionary outgrows its page
    "use_dictionary": ["series", "quality", "value"],
    "column_encoding": {"ts": "DELTA_BINARY_PACKED"},
}


def level_ns(level: str) -> int:
    return LEVEL_NS[level]


def encode_raw(
    series: NDArray[np.uint32],
    ts: NDArray[np.int64],
    values: NDArray[np.float64],
    quality: NDArray[np.uint16],
    *,
    row_group_rows: int,
    zstd_level: int,
    encoding: dict[str, Any] | None = None,
    compression: str = "zstd",
) -> bytes:
    """One raw part as Parquet bytes (input sorted by (series, ts), no duplicates)."""
    table = pa.Table.from_arrays(
        [pa.array(series), pa.array(ts), pa.array(values), pa.array(quality)], schema=RAW_SCHEMA
    )
    enc = DEFAULT_ENCODING if encoding is None else encoding
    sink = io.BytesIO()
    pq.write_table(
        table,
        sink,
        row_group_size=row_group_rows,
        compression=compression,
        compression_level=zstd_level if compression == "zstd" else None,
        write_statistics=True,
        **enc,
    )
    return sink.getvalue()


def read_raw(data: bytes) -> tuple[NDArray[Any], ...]:
    """(series, ts, value, quality) of a whole raw part."""
    t = pq.read_table(io.BytesIO(data))
    return tuple(t.column(n).to_numpy() for n in ("series", "ts", "value", "quality"))


def rollup_rows(
    series: NDArray[np.uint32],
    ts: NDArray[np.int64],
    values: NDArray[np.float64],
    quality: NDArray[np.uint16],
    width_ns: int,
) -> NDArray[np.void]:
    """ROLLUP_DTYPE rows: one per (series, ts // width) run of the sorted input."""
    if not len(ts):
        return np.zeros(0, ROLLUP_DTYPE)
    bucket = (ts // width_ns) * width_ns
    cut = np.flatnonzero((series[1:] != series[:-1]) | (bucket[1:] != bucket[:-1])) + 1
    starts = np.concatenate([[0], cut]).astype(np.int64)
    ends = np.concatenate([cut, [len(ts)]]).astype(np.int64)
    stats = compute_chunk_stats(ts, values, quality, starts, ends)
    out = np.zeros(len(starts), ROLLUP_DTYPE)
    out["series"] = series[starts]
    out["bucket"] = bucket[starts]
    for name in CHUNK_SUMMARY_DTYPE.names or ():
        out[name] = stats[name]
    return out


def encode_rollups(rows: NDArray[np.void], zstd_level: int = 9) -> bytes:
    """Rollup rows as Parquet. Measured on a day of a 1 Hz tag: dropping dictionaries and
    the statistics of all but the key columns, and delta-coding the time columns, cuts the
    1 min level from 61 % to 43 % of the raw part and the 1 day level (one row, so mostly
    footer) from 5.0 % to 3.8 %."""
    names = list(ROLLUP_DTYPE.names or ())
    table = pa.Table.from_arrays([pa.array(rows[n]) for n in names], names=names)
    sink = io.BytesIO()
    times = ("bucket", "min_ts", "max_ts", "min_at", "max_at")
    pq.write_table(
        table,
        sink,
        compression="zstd",
        compression_level=zstd_level,
        use_dictionary=False,
        write_statistics=["series", "bucket", "min_ts", "max_ts"],
        column_encoding={n: "DELTA_BINARY_PACKED" for n in times},
    )
    return sink.getvalue()


def decode_rollups(data: bytes | pa.Table) -> NDArray[np.void]:
    table = data if isinstance(data, pa.Table) else pq.read_table(io.BytesIO(data))
    out = np.zeros(table.num_rows, ROLLUP_DTYPE)
    for name in ROLLUP_DTYPE.names or ():
        out[name] = table.column(name).to_numpy()
    return out
