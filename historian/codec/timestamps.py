"""Timestamp codecs: delta-of-delta bit packing (numba) and pcodec on deltas.

Both rely on the chunk header for the first and last timestamp and the count,
so a perfectly regular chunk (one repeated delta, including n <= 2) costs a
single mode byte: the delta is ``(max_ts - min_ts) / (n - 1)``.

General case (``ts-dod``): deltas are divided by their greatest common divisor
``g`` (1 s sampling with ms jitter in ns units shrinks by 10^6), then each
delta-of-delta is zigzagged and written in a Prometheus-style bucket:
``0`` (dod 0) | ``10``+7 bits | ``110``+12 | ``1110``+20 | ``1111``+64.
All arithmetic is modulo 2^64, so gaps as wide as the whole int64 range
round-trip. Equal timestamps (delta 0) are preserved; descending input is
rejected before it gets here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pcodec
from numba import njit
from numpy.typing import NDArray
from pcodec import standalone

from historian.codec.bits import (
    bytes_to_words,
    get_bits,
    put_bits,
    varint_decode,
    varint_encode,
    words_to_bytes,
)
from historian.codec.errors import ChunkCorruptError

MODE_REGULAR = 0
MODE_DOD = 1


def deltas_of(ts: NDArray[np.int64]) -> NDArray[np.uint64]:
    u = ts.view(np.uint64)
    return u[1:] - u[:-1]  # wraps: exact for any sorted int64 pair


def is_regular(deltas: NDArray[np.uint64]) -> bool:
    return deltas.size == 0 or bool(np.all(deltas == deltas[0]))


@njit(cache=True, nogil=True)
def _gcd_all(d: NDArray[np.uint64]) -> np.uint64:
    g = np.uint64(0)
    for i in range(d.size):
        a = d[i]
        b = g
        while b != 0:
            a, b = b, a % b
        g = a
        if g == 1:
            break
    return g


@njit(cache=True, nogil=True)
def _dod_encode(dd: NDArray[np.uint64]) -> tuple[NDArray[np.uint64], int]:
    n = dd.size
    words = np.zeros((n * 68) // 64 + 4, np.uint64)
    pos = 0
    for i in range(1, n):
        x = np.int64(dd[i] - dd[i - 1])
        z = np.uint64((x << 1) ^ (x >> 63))
        if z == 0:
            pos += 1
        elif z < np.uint64(1 << 7):
            pos = put_bits(words, pos, np.uint64(2), 2)
            pos = put_bits(words, pos, z, 7)
        elif z < np.uint64(1 << 12):
            pos = put_bits(words, pos, np.uint64(6), 3)
            pos = put_bits(words, pos, z, 12)
        elif z < np.uint64(1 << 20):
            pos = put_bits(words, pos, np.uint64(14), 4)
            pos = put_bits(words, pos, z, 20)
        else:
            pos = put_bits(words, pos, np.uint64(15), 4)
            pos = put_bits(words, pos, z, 64)
    return words, pos


@njit(cache=True, nogil=True)
def _dod_decode(
    words: NDArray[np.uint64], limit: int, first: np.uint64, g: np.uint64, start: np.uint64, n: int
) -> tuple[NDArray[np.uint64], int]:
    out = np.empty(n, np.uint64)
    out[0] = start
    if n == 1:
        return out, 0
    d = first
    out[1] = start + d * g
    pos = 0
    for i in range(2, n):
        nb = 0
        width = 0
        while nb < 4:
            if pos + 1 > limit:
                return out, -1
            bit = get_bits(words, pos, 1)
            pos += 1
            if bit == 0:
                break
            nb += 1
        if nb == 1:
            width = 7
        elif nb == 2:
            width = 12
        elif nb == 3:
            width = 20
        elif nb == 4:
            width = 64
        z = np.uint64(0)
        if width > 0:
            if pos + width > limit:
                return out, -1
            z = get_bits(words, pos, width)
            pos += width
        dod = np.uint64(np.int64(z >> np.uint64(1)) ^ -np.int64(z & np.uint64(1)))
        d = d + dod
        out[i] = out[i - 1] + d * g
    return out, pos


def dod_encode(ts: NDArray[np.int64]) -> bytes:
    deltas = deltas_of(ts)
    if is_regular(deltas):
        return bytes([MODE_REGULAR])
    g = _gcd_all(deltas)
    dd = deltas // g
    words, nbits = _dod_encode(dd)
    head = varint_encode(np.array([g, dd[0]], dtype=np.uint64)).tobytes()
    return bytes([MODE_DOD]) + head + words_to_bytes(words, nbits)


def regular_timestamps(n: int, min_ts: int, max_ts: int) -> NDArray[np.int64]:
    if n == 0:
        return np.empty(0, np.int64)
    if n == 1:
        return np.array([min_ts], np.int64)
    span = np.uint64((max_ts - min_ts) % (1 << 64))
    step = span // np.uint64(n - 1)
    if step * np.uint64(n - 1) != span:
        raise ChunkCorruptError("regular timestamp chunk: span is not a multiple of the step")
    steps = np.arange(n, dtype=np.uint64) * step
    return (steps + np.uint64(min_ts % (1 << 64))).view(np.int64)


def dod_decode(payload: bytes | memoryview, n: int, min_ts: int, max_ts: int) -> NDArray[np.int64]:
    raw = bytes(payload)
    if not raw:
        raise ChunkCorruptError("timestamp section is empty")
    if raw[0] == MODE_REGULAR:
        if len(raw) != 1:
            raise ChunkCorruptError("regular timestamp section has trailing bytes")
        return regular_timestamps(n, min_ts, max_ts)
    if raw[0] != MODE_DOD or n < 3:
        raise ChunkCorruptError(f"unknown timestamp mode {raw[0]} for {n} points")
    buf = np.frombuffer(raw, np.uint8)
    head, end = varint_decode(buf, 1, 2)
    if end < 0 or head[0] == 0:
        raise ChunkCorruptError("delta-of-delta header is truncated or has a zero divisor")
    words, limit = bytes_to_words(raw[end:])
    start = np.uint64(min_ts % (1 << 64))
    out, used = _dod_decode(words, limit, head[1], head[0], start, n)
    if used < 0 or limit - used >= 8:
        raise ChunkCorruptError("delta-of-delta bit stream is truncated or has trailing bytes")
    ts = out.view(np.int64)
    check_timestamps(ts, min_ts, max_ts)
    return ts


def check_timestamps(ts: NDArray[np.int64], min_ts: int, max_ts: int) -> None:
    if ts.size and (ts[0] != min_ts or ts[-1] != max_ts or np.any(ts[1:] < ts[:-1])):
        raise ChunkCorruptError("decoded timestamps disagree with the header's min/max or go back")


_PCO = pcodec.ChunkConfig()
# for series without trend (jitter, slot steps): skips pcodec's delta search, 3-4x faster
_PCO_IID = pcodec.ChunkConfig(delta_spec=pcodec.DeltaSpec.no_op())


def delta_pco_encode(ts: NDArray[np.int64]) -> bytes:
    return bytes(standalone.simple_compress(np.ascontiguousarray(deltas_of(ts)), _PCO))


def delta_pco_decode(
    payload: bytes | memoryview, n: int, min_ts: int, max_ts: int
) -> NDArray[np.int64]:
    deltas = pco_decompress(payload, np.dtype(np.uint64), max(n - 1, 0))
    out = np.empty(n, np.uint64)
    if n:
        out[0] = np.uint64(min_ts % (1 << 64))
        np.cumsum(deltas, out=out[1:])
        out[1:] += out[0]
    ts = out.view(np.int64)
    check_timestamps(ts, min_ts, max_ts)
    return ts


def pco_decompress(payload: bytes | memoryview, dtype: np.dtype[Any], n: int) -> NDArray[Any]:
    """pcodec standalone decode with shape/dtype checks; its errors become ChunkCorruptError."""
    try:
        arr: NDArray[Any] | None = standalone.simple_decompress(bytes(payload))
    except (RuntimeError, TypeError, ValueError) as exc:
        raise ChunkCorruptError(f"pcodec stream is corrupt: {exc}") from exc
    if arr is None:
        arr = np.empty(0, dtype)
    if arr.dtype != dtype or arr.size != n:
        raise ChunkCorruptError(f"pcodec stream holds {arr.size} {arr.dtype}, expected {n} {dtype}")
    return arr


def grid_encode(ts: NDArray[np.int64]) -> bytes | None:
    """``ts-grid``: nominal period P, slot numbers k (deltas, mostly 1) and jitter j.

    ``ts = min_ts + k * P + j * g`` with ``g`` the gcd of all deltas (the
    timestamps' resolution, e.g. 1 ms): collector timestamps with random
    jitter cost the jitter's entropy instead of the (wider) entropy of their
    deltas or delta-of-deltas. Not applicable below 3 points or to chunks
    spanning 2^62 ns or more.
    """
    if ts.size < 3 or int(ts[-1]) - int(ts[0]) >= 2**62:
        return None
    off = ts - ts[0]
    deltas = np.diff(off)
    resolution = int(_gcd_all(deltas.view(np.uint64)))
    period = _nominal_period(deltas, resolution)
    if period <= 0:
        return None
    k = (off + period // 2) // period
    jitter = (off - k * period) // resolution  # exact: off and period are multiples of it
    slots = bytes(standalone.simple_compress(np.diff(k), _PCO_IID))
    head = varint_encode(np.array([period, resolution, len(slots)], np.uint64)).tobytes()
    return head + slots + bytes(standalone.simple_compress(jitter, _PCO_IID))


def _nominal_period(deltas: NDArray[np.int64], resolution: int) -> int:
    """The sampling period: mean of the deltas near their median, rounded to the resolution.

    Gaps (deltas far from the median) are left out; the mean of jittered
    deltas telescopes to (last - first) / count, so it is accurate to the
    jitter divided by the chunk length, and rounding to the resolution lands
    on the round nominal period. A median alone can be a resolution step off,
    and a period one step off drifts away from the grid.
    """
    guess = int(np.median(deltas[:257]))
    if guess <= 0 or resolution <= 0:
        return 0
    normal = deltas[np.abs(deltas - guess) <= guess // 2]
    mean = float(normal.mean()) if normal.size else float(guess)
    return max(round(mean / resolution), 1) * resolution


def grid_decode(payload: bytes | memoryview, n: int, min_ts: int, max_ts: int) -> NDArray[np.int64]:
    raw = bytes(payload)
    head, at = varint_decode(np.frombuffer(raw, np.uint8), 0, 3)
    period, resolution, slot_bytes = (int(x) for x in head)
    if at < 0 or n < 3 or not (0 < period < 2**62 and 0 < resolution < 2**62):
        raise ChunkCorruptError("ts-grid header is truncated or invalid")
    end = at + slot_bytes
    if end > len(raw):
        raise ChunkCorruptError("ts-grid slot section runs past the end")
    dk = pco_decompress(raw[at:end], np.dtype(np.int64), n - 1)
    jitter = pco_decompress(raw[end:], np.dtype(np.int64), n)
    ts, ordered = _grid_rebuild(dk, jitter, period, resolution, min_ts)
    if not ordered or ts[0] != min_ts or ts[-1] != max_ts:
        raise ChunkCorruptError("ts-grid timestamps disagree with the header or go back")
    return ts


@njit(cache=True, nogil=True)
def _grid_rebuild(
    dk: NDArray[np.int64], jitter: NDArray[np.int64], period: int, resolution: int, start: int
) -> tuple[NDArray[np.int64], bool]:
    """One pass: ts = start + k * period + jitter * resolution (mod 2^64), and is it sorted."""
    n = jitter.size
    out = np.empty(n, np.uint64)
    p = np.uint64(period)
    g = np.uint64(resolution)
    s = np.uint64(start)
    k = np.uint64(0)
    ordered = True
    out[0] = s + np.uint64(jitter[0]) * g
    for i in range(1, n):
        k += np.uint64(dk[i - 1])
        out[i] = s + k * p + np.uint64(jitter[i]) * g
        if np.int64(out[i]) < np.int64(out[i - 1]):
            ordered = False
    return out.view(np.int64), ordered
