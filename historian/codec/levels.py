"""``levels``: few distinct values (steps, states, setpoints), a dictionary plus range-coded runs.

Stepped tags (on/off states, valve positions, operator setpoints, a
quantised level flickering between neighbours) hold a handful of distinct
values. This codec stores those values once, as their float64 bit patterns
(exact: NaN payloads, -0.0, infinities are just patterns), sorted by value,
and codes the series as runs: per run the level index, given the previous
run's level (it always differs, so two levels cost nothing), and the run
length as an Elias-gamma bit length in unary under the run's level (a pump's
on and off dwell times differ) plus the bits below its leading one, every
decision adaptive, with the LZMA range coder of :mod:`historian.codec.arith`.

Runs rather than one decision per point: the adaptive coder's cheapest
decision costs ~0.022 bits, so a per-point "same as before" flag would spend
178 bytes on the corpus's 43,200-point setpoint series, where runs cost 46
(measurements on the chunk format page).

Declines (``None``) above ``MAX_LEVELS`` distinct patterns; the distinct
count stops at the first pattern over the limit, so on noise it costs a few
dozen points. Layout: historian/docs/format/chunk.md.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray

from historian.codec.arith import MASK32, PROB_ONE, _decode_bit, _encode_bit, bit_length
from historian.codec.bits import varint_decode, varint_encode
from historian.codec.errors import ChunkCorruptError
from historian.codec.gorilla import gorilla_decode, gorilla_encode

MAX_LEVELS = 64
"""Most distinct values coded as levels (one index context per level, each must learn)."""
MAX_LEN_BITS = 32
"""Run lengths are < 2^32 (a chunk holds at most 2^32 - 1 points)."""
DICT_RAW = 0
DICT_GORILLA = 1
DICT_DECIMAL = 2
DICT_DECIMAL_F32 = 3
MAX_EXPONENT = 15
_EXPONENTS = 10.0 ** np.arange(MAX_EXPONENT + 1)
_EXACT = float(2**53)
_SPARE = 512
"""Output headroom checked per run: one run writes at most ~(6 + 2 * 32) decisions."""


@njit(cache=True, nogil=True)
def distinct_patterns(
    bits: NDArray[np.uint64], limit: int
) -> tuple[NDArray[np.uint64], NDArray[np.uint8], bool]:
    """(distinct patterns in first-seen order, each point's index into them, ok).

    ``ok`` is False (and the arrays meaningless) as soon as more than ``limit``
    distinct patterns are seen: on noise that is after ``limit + 1`` points.
    """
    table = np.empty(limit, np.uint64)
    idx = np.empty(bits.size, np.uint8)
    count = 0
    last = -1
    for i in range(bits.size):
        x = bits[i]
        if last >= 0 and table[last] == x:
            idx[i] = last
            continue
        found = -1
        for j in range(count):
            if table[j] == x:
                found = j
                break
        if found < 0:
            if count == limit:
                return table[:0], idx[:0], False
            table[count] = x
            found = count
            count += 1
        idx[i] = found
        last = found
    return table[:count], idx, True


@njit(cache=True, inline="always")
def _tree_depth(symbols: int) -> int:
    """Binary decisions to code one of ``symbols`` values (0 for one value)."""
    d = 0
    while (1 << d) < symbols:
        d += 1
    return d


@njit(cache=True, nogil=True)
def runs_encode(idx: NDArray[np.uint8], n_levels: int) -> tuple[NDArray[np.uint8], int]:
    """The range-coded runs of ``idx`` (level indices below ``n_levels``) and their number."""
    n = idx.size
    d_first = _tree_depth(n_levels)
    d_next = _tree_depth(n_levels - 1)
    probs_first = np.full((1, 1 << d_first), PROB_ONE // 2, np.uint32)
    probs_next = np.full((n_levels, 1 << d_next), PROB_ONE // 2, np.uint32)
    probs_nb = np.full((n_levels, MAX_LEN_BITS), PROB_ONE // 2, np.uint32)
    probs_m = np.full((MAX_LEN_BITS + 1, MAX_LEN_BITS), PROB_ONE // 2, np.uint32)
    out = np.zeros(4 * _SPARE, np.uint8)
    low = np.uint64(0)
    rng = np.uint64(MASK32)
    pos = 0
    prev = -1
    i = 0
    runs = 0
    while i < n:
        if pos + _SPARE > out.size:
            bigger = np.zeros(out.size * 2, np.uint8)
            bigger[:pos] = out[:pos]
            out = bigger
        cur = int(idx[i])
        j = i + 1
        while j < n and idx[j] == cur:
            j += 1
        length = j - i
        if prev < 0:
            node = 1
            for b in range(d_first - 1, -1, -1):
                bit = (cur >> b) & 1
                pos, low, rng = _encode_bit(out, pos, low, rng, probs_first, 0, node, bit)
                node = 2 * node + bit
        else:
            s = cur if cur < prev else cur - 1  # the next level is never the previous one
            node = 1
            for b in range(d_next - 1, -1, -1):
                bit = (s >> b) & 1
                pos, low, rng = _encode_bit(out, pos, low, rng, probs_next, prev, node, bit)
                node = 2 * node + bit
        nb = bit_length(np.uint64(length))  # 1..32
        for k in range(nb - 1):
            pos, low, rng = _encode_bit(out, pos, low, rng, probs_nb, cur, k, 1)
        if nb < MAX_LEN_BITS:
            pos, low, rng = _encode_bit(out, pos, low, rng, probs_nb, cur, nb - 1, 0)
        for k in range(nb - 1):
            bit = (length >> (nb - 2 - k)) & 1
            pos, low, rng = _encode_bit(out, pos, low, rng, probs_m, nb, k, bit)
        prev = cur
        i = j
        runs += 1
    for _ in range(4):  # flush all of low, as arith.rc_encode does
        out[pos] = np.uint8(low >> np.uint64(24))
        pos += 1
        low = (low << np.uint64(8)) & np.uint64(MASK32)
    return out[:pos].copy(), runs


@njit(cache=True, nogil=True)
def runs_decode(
    code: NDArray[np.uint8], patterns: NDArray[np.uint64], n: int, runs: int
) -> tuple[NDArray[np.uint64], int]:
    """``n`` bit patterns back from ``runs`` runs; status 0, or -1 for a damaged stream.

    The run count makes the end exact: a range decoder reads zeros past its
    last byte without noticing, so a wrong point count alone could decode.
    """
    out = np.empty(n, np.uint64)
    n_levels = patterns.size
    d_first = _tree_depth(n_levels)
    d_next = _tree_depth(n_levels - 1)
    probs_first = np.full((1, 1 << d_first), PROB_ONE // 2, np.uint32)
    probs_next = np.full((n_levels, 1 << d_next), PROB_ONE // 2, np.uint32)
    probs_nb = np.full((n_levels, MAX_LEN_BITS), PROB_ONE // 2, np.uint32)
    probs_m = np.full((MAX_LEN_BITS + 1, MAX_LEN_BITS), PROB_ONE // 2, np.uint32)
    size = code.size
    if size < 4:
        return out, -1
    c = np.uint64(0)
    for k in range(4):
        c = (c << np.uint64(8)) | np.uint64(code[k])
    pos = 4
    rng = np.uint64(MASK32)
    prev = -1
    filled = 0
    for _ in range(runs):
        s = 0
        node = 1
        if prev < 0:
            for _ in range(d_first):
                bit, pos, c, rng = _decode_bit(code, pos, c, rng, probs_first, 0, node)
                node = 2 * node + bit
            s = node - (1 << d_first)
            if s >= n_levels:
                return out, -1
            cur = s
        else:
            for _ in range(d_next):
                bit, pos, c, rng = _decode_bit(code, pos, c, rng, probs_next, prev, node)
                node = 2 * node + bit
            s = node - (1 << d_next)
            if s >= n_levels - 1:
                return out, -1
            cur = s if s < prev else s + 1
        nb = 1
        while nb < MAX_LEN_BITS:
            bit, pos, c, rng = _decode_bit(code, pos, c, rng, probs_nb, cur, nb - 1)
            if bit == 0:
                break
            nb += 1
        length = 1
        for k in range(nb - 1):
            bit, pos, c, rng = _decode_bit(code, pos, c, rng, probs_m, nb, k)
            length = 2 * length + bit
        if pos > size or length > n - filled:
            return out, -1  # read past the end, or more points than the chunk holds
        out[filled : filled + length] = patterns[cur]
        filled += length
        prev = cur
    if pos != size or filled != n:  # exactly the bytes the encoder wrote (see arith.rc_decode)
        return out, -1
    return out, 0


def _order_key(bits: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """Unsigned keys that sort float64 bit patterns by value (negatives reversed, NaN last)."""
    sign = (bits >> np.uint64(63)).astype(bool)
    return np.where(sign, ~bits, bits | np.uint64(1 << 63))


def _decimal_levels(m: NDArray[np.int64], e: int, f32: bool) -> NDArray[np.float64]:
    """What the decoder computes from decimal integers: ``m / 10^e`` (float64), maybe as float32."""
    v: NDArray[np.float64] = m.astype(np.float64) / _EXPONENTS[e]
    return v.astype(np.float32).astype(np.float64) if f32 else v


@njit(cache=True, nogil=True)
def _decimal_exponent(levels: NDArray[np.float64]) -> tuple[int, bool]:
    """Smallest ``e`` with every level ``rint(v * 10^e) / 10^e`` (or its float32), or -1.

    One numba pass instead of a 16 x 64 numpy matrix (18 us of numpy calls per
    chunk, more than the rest of the encode); the encoder re-checks the answer
    against the decoder's own numpy arithmetic before using it.
    """
    for e in range(MAX_EXPONENT + 1):
        p = 10.0**e
        for f32 in (False, True):
            ok = True
            for v in levels:
                y = v * p
                if not (abs(y) < _EXACT):  # also NaN and inf
                    ok = False
                    break
                back = np.float64(np.int64(np.rint(y))) / p  # as decoded: -0.0 -> 0
                if f32:
                    back = np.float64(np.float32(back))
                if back != v or (back == 0.0 and np.signbit(back) != np.signbit(v)):
                    ok = False
                    break
            if ok:
                return e, f32
    return -1, False


def _as_decimals(levels: NDArray[np.float64]) -> tuple[int, bool, NDArray[np.int64]] | None:
    """(e, float32, m) with every level exactly ``m / 10^e`` (or its float32), smallest e; or None.

    pcodec's decimal codec spent ~120 us per dictionary, most of a chooser call
    on a short chunk; a varint per level is also smaller for a few dozen.
    """
    e, f32 = _decimal_exponent(levels)
    if e < 0:
        return None
    m = np.rint(levels * _EXPONENTS[e]).astype(np.int64)
    if not np.array_equal(_decimal_levels(m, e, f32).view(np.uint64), levels.view(np.uint64)):
        return None  # never seen: numba and numpy agree on IEEE division and rounding
    return e, f32, m


def _dictionary(levels: NDArray[np.float64]) -> bytes:
    """The smallest of raw, Gorilla and (when exact) ascending decimal integers as varints."""
    options = [
        bytes([DICT_RAW]) + levels.astype("<f8").tobytes(),
        bytes([DICT_GORILLA]) + gorilla_encode(levels),
    ]
    dec = _as_decimals(levels)
    if dec is not None:
        e, f32, m = dec
        first = int(m[0])
        steps = np.diff(m).astype(np.uint64)  # levels ascend by value: steps are >= 0
        zz = ((first << 1) ^ (first >> 63)) % 2**64
        body = np.concatenate([np.array([zz], np.uint64), steps])
        kind = DICT_DECIMAL_F32 if f32 else DICT_DECIMAL
        options.append(bytes([kind, e]) + varint_encode(body).tobytes())
    return min(options, key=len)


def _read_dictionary(kind: int, body: bytes, n_levels: int) -> NDArray[np.float64]:
    if kind == DICT_RAW:
        if len(body) != 8 * n_levels:
            raise ChunkCorruptError("levels value section: raw dictionary has the wrong size")
        return np.frombuffer(body, "<f8").astype(np.float64)
    if kind == DICT_GORILLA:
        return gorilla_decode(body, n_levels)
    if kind in (DICT_DECIMAL, DICT_DECIMAL_F32):
        if not body or body[0] > MAX_EXPONENT:
            raise ChunkCorruptError("levels value section: decimal exponent missing or too large")
        ints, end = varint_decode(np.frombuffer(body, np.uint8), 1, n_levels)
        if end != len(body):
            raise ChunkCorruptError("levels value section: decimal dictionary has the wrong size")
        zz = int(ints[0])
        first = np.int64((zz >> 1) ^ -(zz & 1))
        with np.errstate(over="ignore"):
            m = np.cumsum(ints.view(np.int64)[1:], dtype=np.int64) + first
        m = np.concatenate([np.array([first], np.int64), m])
        return _decimal_levels(m, body[0], kind == DICT_DECIMAL_F32)
    raise ChunkCorruptError(f"levels value section: unknown dictionary kind {kind}")


def levels_encode(values: NDArray[np.float64]) -> bytes | None:
    bits = np.ascontiguousarray(values, dtype=np.float64).view(np.uint64)
    if bits.size == 0:
        return b""
    table, idx, ok = distinct_patterns(bits, MAX_LEVELS)
    if not ok:
        return None
    order = np.argsort(_order_key(table), kind="stable")
    rank = np.empty(order.size, np.uint8)
    rank[order] = np.arange(order.size, dtype=np.uint8)
    code, runs = runs_encode(rank[idx], table.size)
    dictionary = _dictionary(table[order].view(np.float64))
    head = varint_encode(np.array([table.size, runs, len(dictionary)], np.uint64)).tobytes()
    return head + dictionary + code.tobytes()


def levels_decode(payload: bytes | memoryview, n: int) -> NDArray[np.float64]:
    raw = bytes(payload)
    if n == 0:
        if raw:
            raise ChunkCorruptError("levels section of an empty chunk must be empty")
        return np.empty(0, np.float64)
    buf = np.frombuffer(raw, np.uint8)
    head, at = varint_decode(buf, 0, 3)
    n_levels, runs, dict_len = (int(x) for x in head)
    if (
        at < 0
        or not 1 <= n_levels <= MAX_LEVELS
        or not 1 <= runs <= n
        or dict_len < 1
        or at + dict_len > len(raw)
    ):
        raise ChunkCorruptError("levels value section: bad header")
    levels = _read_dictionary(raw[at], raw[at + 1 : at + dict_len], n_levels)
    patterns = np.ascontiguousarray(levels, dtype=np.float64).view(np.uint64)
    out, status = runs_decode(buf[at + dict_len :], patterns, n, runs)
    if status != 0:
        raise ChunkCorruptError("levels: the range-coded runs are truncated or damaged")
    return out.view(np.float64)
