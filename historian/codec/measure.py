"""Bytes per point of one series under every codec, the chooser and outside baselines.

All figures include timestamps; ours also include quality and the 48-byte
chunk header/trailer. Outside baselines, measured on the same points:

- ``pcodec``: pcodec(values) + pcodec(int64 timestamp deltas) + 8 bytes first
  timestamp, default compression level, per chunk when chunking is asked for;
- ``parquet``: one Parquet file (pyarrow) with ``ts`` DELTA_BINARY_PACKED and
  ``value`` dictionary-or-plain, zstd; the smaller of that and
  BYTE_STREAM_SPLIT values (file footer included), always one file.

Every encoding of ours is decoded again and compared bit for bit.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pcodec
import pyarrow as pa
import pyarrow.parquet as pq
from numpy.typing import NDArray
from pcodec import standalone

from historian.codec.chunk import chunk_info, decode_chunk, encode_chunk
from historian.codec.errors import CodecNotApplicableError
from historian.codec.registry import VALUE_CODEC_NAMES
from historian.errors import HistorianError

CHOOSER = "chooser"
Encoder = Callable[..., bytes]


class RoundTripError(HistorianError, AssertionError):
    """A codec decoded to something other than its input: a codec bug, report it."""


@dataclass(frozen=True, slots=True)
class CodecSize:
    name: str
    nbytes: int
    points: int
    detail: str = ""
    """For the chooser: the codecs it picked (most common, if chunks differ)."""

    @property
    def bytes_per_point(self) -> float:
        return self.nbytes / self.points if self.points else 0.0


@dataclass(slots=True)
class SeriesSizes:
    name: str
    points: int
    chosen: CodecSize
    codecs: dict[str, CodecSize | None] = field(default_factory=dict)
    external: dict[str, CodecSize] = field(default_factory=dict)

    def best_other(self) -> CodecSize | None:
        """The smallest size that is not the chooser's pick (ours or outside)."""
        picked = self.chosen.detail.split("+")[1] if "+" in self.chosen.detail else ""
        others = [c for c in self.codecs.values() if c is not None and c.name != picked]
        others += list(self.external.values())
        return min(others, key=lambda c: c.nbytes, default=None)


def _split(n: int, chunk_points: int) -> list[slice]:
    if chunk_points <= 0 or n <= chunk_points:
        return [slice(0, n)]
    return [slice(i, min(i + chunk_points, n)) for i in range(0, n, chunk_points)]


def encode_series(
    name: str,
    ts: NDArray[np.int64],
    values: NDArray[np.float64],
    quality: NDArray[np.uint16],
    codec: str | None,
    chunk_points: int = 0,
    encode: Encoder = encode_chunk,
) -> CodecSize | None:
    """Encode (in chunks), verify the round trip, return the size; None if not applicable."""
    total = 0
    picks: dict[str, int] = {}
    for part in _split(ts.size, chunk_points):
        try:
            data = encode(ts[part], values[part], quality[part], codec=codec)
        except CodecNotApplicableError:
            return None
        t2, v2, q2 = decode_chunk(data)
        same = (
            np.array_equal(t2, ts[part])
            and np.array_equal(v2.view(np.uint64), values[part].view(np.uint64))
            and np.array_equal(q2, quality[part])
        )
        if not same:
            raise RoundTripError(f"{name}: codec {codec or CHOOSER} did not round-trip bit-exactly")
        total += len(data)
        key = "+".join(chunk_info(data).codec_names)
        picks[key] = picks.get(key, 0) + 1
    detail = max(picks, key=lambda k: picks[k]) if picks else ""
    return CodecSize(codec or CHOOSER, total, ts.size, detail)


def pcodec_size(
    ts: NDArray[np.int64], values: NDArray[np.float64], chunk_points: int = 0
) -> CodecSize:
    """pcodec per chunk (the same chunks as ours), values + int64 ts deltas + 8-byte first ts."""
    cfg = pcodec.ChunkConfig()
    n = 0
    for part in _split(ts.size, chunk_points):
        t, v = ts[part], np.ascontiguousarray(values[part])
        if t.size:
            n += len(standalone.simple_compress(v, cfg)) + 8
        if t.size > 1:
            n += len(standalone.simple_compress(np.diff(t), cfg))
    return CodecSize("pcodec", n, ts.size)


def parquet_size(ts: NDArray[np.int64], values: NDArray[np.float64]) -> CodecSize:
    table = pa.table({"ts": pa.array(ts, pa.timestamp("ns")), "value": pa.array(values)})
    sizes = []
    for value_opts in ({"use_dictionary": ["value"]}, {"use_dictionary": False}):
        encodings = {"ts": "DELTA_BINARY_PACKED"}
        if value_opts["use_dictionary"] is False:
            encodings["value"] = "BYTE_STREAM_SPLIT"
        buf = io.BytesIO()
        pq.write_table(table, buf, compression="zstd", column_encoding=encodings, **value_opts)
        sizes.append(buf.tell())
    return CodecSize("parquet", min(sizes), ts.size)


def measure_series(
    name: str,
    ts: NDArray[np.int64],
    values: NDArray[np.float64],
    quality: NDArray[np.uint16] | None = None,
    *,
    chunk_points: int = 0,
    encode: Encoder = encode_chunk,
    external: bool = True,
) -> SeriesSizes:
    q = np.zeros(ts.size, np.uint16) if quality is None else quality
    chosen = encode_series(name, ts, values, q, None, chunk_points, encode)
    assert chosen is not None  # the chooser always finds a codec
    out = SeriesSizes(name, int(ts.size), chosen)
    for codec in VALUE_CODEC_NAMES:
        out.codecs[codec] = encode_series(name, ts, values, q, codec, chunk_points, encode)
    if external:
        out.external["pcodec"] = pcodec_size(ts, values, chunk_points)
        out.external["parquet"] = parquet_size(ts, values)
    return out
