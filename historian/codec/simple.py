"""Small value and quality codecs: raw, constant, run-length, pcodec.

``const`` and ``rle`` serve stuck sensors and digital/step tags; quality is
almost always one code (Good) for a whole chunk, so ``q-const`` costs two
bytes and ``q-rle`` stores (code, run length) varint pairs.
"""

from __future__ import annotations

import numpy as np
import pcodec
from numpy.typing import NDArray
from pcodec import standalone

from historian.codec.bits import varint_decode, varint_encode
from historian.codec.decimal import decimal_decode, decimal_encode
from historian.codec.errors import ChunkCorruptError
from historian.codec.gorilla import gorilla_decode, gorilla_encode
from historian.codec.timestamps import pco_decompress

_PCO = pcodec.ChunkConfig()
RLE_INNER_GORILLA = 0
RLE_INNER_DECIMAL = 1


def raw_encode(values: NDArray[np.float64]) -> bytes:
    return np.ascontiguousarray(values, dtype="<f8").tobytes()


def raw_decode(payload: bytes | memoryview, n: int) -> NDArray[np.float64]:
    if len(payload) != 8 * n:
        raise ChunkCorruptError(f"raw value section has {len(payload)} bytes, expected {8 * n}")
    return np.frombuffer(bytes(payload), "<f8").astype(np.float64)


def const_encode(values: NDArray[np.float64]) -> bytes | None:
    bits = np.ascontiguousarray(values, dtype=np.float64).view(np.uint64)
    if bits.size == 0:
        return b""
    if not np.all(bits == bits[0]):
        return None
    return bits[:1].astype("<u8").tobytes()


def const_decode(payload: bytes | memoryview, n: int) -> NDArray[np.float64]:
    if len(payload) != (8 if n else 0):
        raise ChunkCorruptError("const value section must hold exactly one float64")
    if n == 0:
        return np.empty(0, np.float64)
    return np.full(n, np.frombuffer(bytes(payload), "<u8")[0], np.uint64).view(np.float64)


def _runs(bits: NDArray[np.generic]) -> tuple[NDArray[np.intp], NDArray[np.uint64]]:
    """Start index of every run of equal items, and each run's length."""
    if bits.size == 0:
        return np.empty(0, np.intp), np.empty(0, np.uint64)
    starts = np.flatnonzero(np.concatenate(([True], bits[1:] != bits[:-1])))
    lengths = np.diff(np.append(starts, bits.size)).astype(np.uint64)
    return starts, lengths


def rle_encode(values: NDArray[np.float64]) -> bytes | None:
    """Runs of equal bit patterns: pcodec(run lengths) + the run values, decimal or Gorilla.

    Payload: ``runs`` varint | ``len_bytes`` varint | pcodec(uint64 lengths) |
    inner codec byte (0 Gorilla, 1 decimal) | inner payload of the run values.
    Declines (None) when runs average under 4 points: other codecs win there.
    """
    bits = np.ascontiguousarray(values, dtype=np.float64).view(np.uint64)
    starts, lengths = _runs(bits)
    if starts.size > max(1, bits.size // 4):
        return None
    run_values = bits[starts].view(np.float64)
    lens = bytes(standalone.simple_compress(lengths, _PCO)) if lengths.size else b""
    head = varint_encode(np.array([starts.size, len(lens)], np.uint64)).tobytes()
    inner = min(
        (
            bytes([RLE_INNER_GORILLA]) + gorilla_encode(run_values),
            bytes([RLE_INNER_DECIMAL]) + decimal_encode(run_values),
        ),
        key=len,
    )
    return head + lens + inner


def rle_decode(payload: bytes | memoryview, n: int) -> NDArray[np.float64]:
    raw = bytes(payload)
    buf = np.frombuffer(raw, np.uint8)
    head, at = varint_decode(buf, 0, 2)
    runs, len_bytes = int(head[0]), int(head[1])
    if at < 0 or runs > n or at + len_bytes >= len(raw) + (1 if n == 0 else 0):
        raise ChunkCorruptError("run-length value section: bad header")
    if n == 0:
        return np.empty(0, np.float64)
    lengths = pco_decompress(raw[at : at + len_bytes], np.dtype(np.uint64), runs)
    if int(lengths.sum(dtype=np.uint64)) != n or np.any(lengths == 0) or np.any(lengths > n):
        raise ChunkCorruptError("run-length value section: run lengths do not add up")
    inner, body = raw[at + len_bytes], raw[at + len_bytes + 1 :]
    if inner == RLE_INNER_GORILLA:
        run_values = gorilla_decode(body, runs)
    elif inner == RLE_INNER_DECIMAL:
        run_values = decimal_decode(body, runs)
    else:
        raise ChunkCorruptError(f"run-length value section: unknown inner codec {inner}")
    return np.repeat(run_values, lengths.astype(np.intp))


def pco_encode(values: NDArray[np.float64]) -> bytes:
    v = np.ascontiguousarray(values, dtype=np.float64)
    return bytes(standalone.simple_compress(v, _PCO)) if v.size else b""


def pco_decode(payload: bytes | memoryview, n: int) -> NDArray[np.float64]:
    if n == 0:
        if len(payload):
            raise ChunkCorruptError("pcodec section of an empty chunk must be empty")
        return np.empty(0, np.float64)
    return pco_decompress(payload, np.dtype(np.float64), n).astype(np.float64, copy=False)


def quality_const_encode(quality: NDArray[np.uint16]) -> bytes | None:
    if quality.size and not np.all(quality == quality[0]):
        return None
    return quality[:1].astype("<u2").tobytes()


def quality_const_decode(payload: bytes | memoryview, n: int) -> NDArray[np.uint16]:
    if len(payload) != (2 if n else 0):
        raise ChunkCorruptError("q-const section must hold exactly one uint16")
    if n == 0:
        return np.empty(0, np.uint16)
    return np.full(n, np.frombuffer(bytes(payload), "<u2")[0], np.uint16)


def quality_rle_encode(quality: NDArray[np.uint16]) -> bytes:
    q = np.ascontiguousarray(quality, dtype=np.uint16)
    starts, lengths = _runs(q)
    pairs = np.empty(2 * starts.size, np.uint64)
    pairs[0::2] = q[starts]
    pairs[1::2] = lengths
    return varint_encode(np.concatenate(([np.uint64(starts.size)], pairs))).tobytes()


def quality_rle_decode(payload: bytes | memoryview, n: int) -> NDArray[np.uint16]:
    buf = np.frombuffer(bytes(payload), np.uint8)
    head, at = varint_decode(buf, 0, 1)
    runs = int(head[0]) if at > 0 else -1
    if runs < 0 or runs > n:
        raise ChunkCorruptError("q-rle section: bad run count")
    pairs, end = varint_decode(buf, at, 2 * runs)
    codes, lengths = pairs[0::2], pairs[1::2]
    if end != buf.size or np.any(lengths > n) or int(lengths.sum()) != n or np.any(codes > 0xFFFF):
        raise ChunkCorruptError("q-rle section: runs do not add up to the point count")
    return np.repeat(codes.astype(np.uint16), lengths.astype(np.intp))
