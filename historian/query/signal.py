"""The signal a series of recorded points stands for, evaluated and integrated in columns.

Every query family reads one model of "what the value was at time t":

* Between two recorded points ``p_j`` (at ``t_j``) and ``p_{j+1}`` the signal is
  a straight line from ``v_j`` to ``v_{j+1}`` when the tag is not stepped and
  both points are *usable*; otherwise it holds ``v_j`` (with ``p_j``'s
  quality). So interpolation never crosses a Bad value: a good value holds up
  to the Bad point, and the Bad point holds until the next usable one (PI's
  rule for system digital states such as ``I/O Timeout``).
* Before the first point there is no data; after the last point the last value
  holds (flagged ``EXTRAPOLATED``).
* *Usable* means "not Bad and a finite value" (the definition the segment
  index's chunk statistics use); summaries may also count Uncertain as
  unusable (``treat_uncertain_as_bad``).

Helpers here work on many index ranges at once (``reduceat`` over the ranges,
never a Python loop per range); :mod:`historian.query.integrate` builds the
time-weighted integrals on them.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import Any

import numpy as np
from numpy.typing import NDArray

from historian.model import (
    QUALITY_DTYPE,
    TIME_DTYPE,
    VALUE_DTYPE,
    Quality,
    QualityArray,
    TimeArray,
    ValueArray,
    severity_of,
)
from historian.query.columns import FLAG_DTYPE, ColumnsLike, FlagArray, PointLike, ValueFlag

NS = 1e-9


class Signal:
    """One series with its boundary points merged in; per-point masks are computed on first use.

    Point queries (interpolation at a few times) never touch the whole series:
    :meth:`usable_at` and :meth:`severity_at` look at the indices they are given
    until a whole-series mask has been asked for.
    """

    def __init__(
        self,
        ts: TimeArray,
        values: ValueArray,
        quality: QualityArray,
        *,
        stepped: bool,
        bad_from: int,
        inside: slice,
    ) -> None:
        self.ts = ts
        self.values = values
        self.quality = quality
        self.stepped = stepped
        self.bad_from = bad_from
        """Lowest severity that is not usable: 2 (Bad), or 1 when Uncertain counts as Bad."""
        self.inside = inside
        """Indices of the caller's in-range points inside the merged arrays."""

    @cached_property
    def severity(self) -> NDArray[np.uint8]:
        return severity_of(self.quality)

    @cached_property
    def usable(self) -> NDArray[np.bool_]:
        # severity < bad_from  <=>  quality < bad_from << 14: one compare on uint16
        ok: NDArray[np.bool_] = (self.quality < np.uint16(self.bad_from << 14)) & np.isfinite(
            self.values
        )
        return ok

    @cached_property
    def not_good(self) -> NDArray[np.intp]:
        """Indices of the points whose quality is not Good (Uncertain or Bad)."""
        return np.flatnonzero(self.quality >= np.uint16(0x4000))

    @cached_property
    def uncertain_index(self) -> NDArray[np.intp]:
        """Indices of the Uncertain points (from the few not-Good ones)."""
        ng = self.not_good
        return ng[self.quality[ng] < np.uint16(0x8000)]

    def is_uncertain_at(self, idx: NDArray[np.intp]) -> NDArray[np.bool_]:
        q = self.quality[idx]
        mask: NDArray[np.bool_] = (q >= np.uint16(0x4000)) & (q < np.uint16(0x8000))
        return mask

    @cached_property
    def unusable(self) -> NDArray[np.intp]:
        """Indices of the unusable points (usually few): found from the not-Good indices
        and one scan for non-finite values, without building the whole-series mask."""
        if "usable" in self.__dict__:
            return np.flatnonzero(~self.usable)
        ng = self.not_good
        bad_quality = ng[self.quality[ng] >= np.uint16(self.bad_from << 14)]
        non_finite = np.flatnonzero(~np.isfinite(self.values))
        if len(non_finite) == 0:
            return bad_quality
        return np.union1d(bad_quality, non_finite).astype(np.intp)

    @property
    def all_usable(self) -> bool:
        return len(self.unusable) == 0

    @cached_property
    def finite(self) -> ValueArray:
        """``values`` with non-finite ones set to 0 (``values`` itself when all are finite):
        safe for sums over every point that are then corrected at the unusable ones."""
        bad = self.unusable
        if len(bad) == 0 or np.isfinite(self.values[bad]).all():
            return self.values
        out = self.values.copy()
        out[bad[~np.isfinite(self.values[bad])]] = 0.0
        return out

    def usable_at(self, idx: NDArray[np.intp]) -> NDArray[np.bool_]:
        if "usable" in self.__dict__:
            return self.usable[idx]
        ok: NDArray[np.bool_] = (severity_of(self.quality[idx]) < self.bad_from) & np.isfinite(
            self.values[idx]
        )
        return ok

    def severity_at(self, idx: NDArray[np.intp]) -> NDArray[np.uint8]:
        if "severity" in self.__dict__:
            return self.severity[idx]
        return severity_of(self.quality[idx])


def build_signal(
    cols: ColumnsLike,
    *,
    stepped: bool,
    before: PointLike | None = None,
    after: PointLike | None = None,
    treat_uncertain_as_bad: bool = False,
) -> Signal:
    """Merge ``before`` + ``cols`` + ``after`` (no copy when both are None).

    ``before`` must be earlier than every point of ``cols`` and ``after`` later;
    one that equals the first (last) point's timestamp is the same point seen
    twice by the read seam and is dropped.
    """
    ts, values, quality = cols.ts, cols.values, cols.quality
    n = len(ts)
    if before is not None:
        if n and before.ts > ts[0]:
            raise ValueError(f"before point at {before.ts} is not earlier than the first point")
        if n and before.ts == ts[0]:
            before = None
    if after is not None:
        last = ts[-1] if n else (before.ts if before is not None else None)
        if last is not None and after.ts < last:
            raise ValueError(f"after point at {after.ts} is not later than the last point")
        if last is not None and after.ts == last:
            after = None
    if before is not None or after is not None:
        head = [before] if before is not None else []
        tail = [after] if after is not None else []
        ts = np.concatenate(
            [
                np.array([p.ts for p in head], TIME_DTYPE),
                ts,
                np.array([p.ts for p in tail], TIME_DTYPE),
            ]
        )
        values = np.concatenate(
            [
                np.array([p.value for p in head], VALUE_DTYPE),
                values,
                np.array([p.value for p in tail], VALUE_DTYPE),
            ]
        )
        quality = np.concatenate(
            [
                np.array([p.quality for p in head], QUALITY_DTYPE),
                quality,
                np.array([p.quality for p in tail], QUALITY_DTYPE),
            ]
        )
    lo = 1 if before is not None else 0
    return Signal(
        np.asarray(ts, TIME_DTYPE),
        np.asarray(values, VALUE_DTYPE),
        np.asarray(quality, QUALITY_DTYPE),
        stepped=stepped,
        bad_from=1 if treat_uncertain_as_bad else 2,
        inside=slice(lo, lo + n),
    )


def evaluate(
    sig: Signal, x: TimeArray, *, left_limit: bool = False
) -> tuple[ValueArray, QualityArray, FlagArray]:
    """The signal's value, quality and flags at each time in ``x`` (any order).

    ``left_limit=True`` gives the limit from the left (the value just before
    ``x``, as a time-weighted interval ending at ``x`` sees it); a recorded
    point exactly at ``x`` is then not used.
    """
    x = np.asarray(x, TIME_DTYPE)
    m = len(sig.ts)
    out_v = np.full(len(x), np.nan, VALUE_DTYPE)
    out_q = np.full(len(x), Quality.BAD_NO_DATA, QUALITY_DTYPE)
    out_f = np.full(len(x), ValueFlag.NO_DATA, FLAG_DTYPE)
    if m == 0 or len(x) == 0:
        return out_v, out_q, out_f
    j = np.searchsorted(sig.ts, x, "left" if left_limit else "right") - 1
    has = j >= 0
    jc = np.maximum(j, 0)
    jn = np.minimum(jc + 1, m - 1)
    exact = has & (sig.ts[jc] == x)
    has_next = has & (j < m - 1)
    out_v[has] = sig.values[jc[has]]
    out_q[has] = sig.quality[jc[has]]
    out_f[has] = ValueFlag.NONE
    out_f[has & ~exact & has_next] = ValueFlag.INTERPOLATED
    out_f[has & ~exact & ~has_next] = ValueFlag.EXTRAPOLATED
    if not sig.stepped:
        lin = has_next & ~exact & sig.usable_at(jc) & sig.usable_at(jn)
        if lin.any():
            j0, j1 = jc[lin], jn[lin]
            frac = (x[lin] - sig.ts[j0]) / (sig.ts[j1] - sig.ts[j0])
            v0 = sig.values[j0]
            out_v[lin] = v0 + (sig.values[j1] - v0) * frac
            worse = sig.severity_at(j1) > sig.severity_at(j0)
            out_q[np.flatnonzero(lin)[worse]] = sig.quality[j1[worse]]
    return out_v, out_q, out_f


def first_index_of_extremes(
    values: NDArray[np.float64],
    lo: NDArray[np.intp],
    hi: NDArray[np.intp],
    skip: NDArray[np.intp] | None = None,
) -> tuple[NDArray[np.float64], NDArray[np.intp], NDArray[np.float64], NDArray[np.intp]]:
    """Per index range ``[lo, hi)``: minimum, its first index, maximum, its first index.

    Ranges must be contiguous and ascending (``lo[k+1] == hi[k]``), as interval
    edges give them. NaN values and the (sorted) indices in ``skip`` do not count
    (masked block by block, so no masked copy of the whole array is made); an
    empty or all-NaN range gives NaN and index -1. Two passes over the
    values in cache-sized blocks: one ``reduceat`` per block for the extremes of
    the pieces between range bounds, one comparison per block to find where each
    range's extreme first occurs.
    """
    k = len(lo)
    mins, maxs = np.full(k, np.nan), np.full(k, np.nan)
    min_at, max_at = np.full(k, -1, np.intp), np.full(k, -1, np.intp)
    ne = hi > lo
    if not ne.any():
        return mins, min_at, maxs, max_at
    first, last = int(lo[ne][0]), int(hi[ne][-1])
    cuts = np.unique(np.concatenate([lo[ne], hi[ne], np.arange(first, last, BLOCK)]))
    p_min, p_max = np.full(len(cuts), np.nan), np.full(len(cuts), np.nan)
    blocks = range(first, last, BLOCK)
    skip = np.zeros(0, np.intp) if skip is None else skip

    def block(s: int, e: int) -> NDArray[np.float64]:
        b0, b1 = np.searchsorted(skip, [s, e])
        if b1 == b0:
            return values[s:e]
        x = values[s:e].copy()
        x[skip[b0:b1] - s] = np.nan
        return x

    for s in blocks:
        e = min(s + BLOCK, last)
        c0, c1 = np.searchsorted(cuts, [s, e])
        x = block(s, e)
        p_min[c0:c1] = np.fmin.reduceat(x, cuts[c0:c1] - s)
        p_max[c0:c1] = np.fmax.reduceat(x, cuts[c0:c1] - s)
    # Each range's extreme over its pieces (pieces of a range are contiguous in ``cuts``).
    at_lo = np.searchsorted(cuts, lo[ne])
    at_hi = np.searchsorted(cuts, hi[ne])
    piece_range = np.full(len(cuts), -1, np.intp)
    n_pieces = at_hi - at_lo
    piece_range[np.repeat(at_lo, n_pieces) + _ramp(n_pieces)] = np.repeat(
        np.arange(len(at_lo)), n_pieces
    )
    r_min = np.fmin.reduceat(p_min, at_lo)
    r_max = np.fmax.reduceat(p_max, at_lo)
    # reduceat runs each range to the next one's start: ranges are contiguous, so exact,
    # except the last, which must stop at its own end.
    r_min[-1] = np.fmin.reduce(p_min[at_lo[-1] : at_hi[-1]])
    r_max[-1] = np.fmax.reduce(p_max[at_lo[-1] : at_hi[-1]])
    idx_min = _first_hit(block, cuts, piece_range, p_min, r_min, blocks, last)
    idx_max = _first_hit(block, cuts, piece_range, p_max, r_max, blocks, last)
    mins[ne], maxs[ne] = r_min, r_max
    min_at[ne], max_at[ne] = idx_min, idx_max
    return mins, min_at, maxs, max_at


def _ramp(counts: NDArray[np.intp]) -> NDArray[np.intp]:
    """``[0..c0-1, 0..c1-1, ...]`` for counts ``c``."""
    total = int(counts.sum())
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    ramp: NDArray[np.intp] = np.arange(total) - starts
    return ramp


def _first_hit(
    block: Callable[[int, int], NDArray[np.float64]],
    cuts: NDArray[np.intp],
    piece_range: NDArray[np.intp],
    piece_best: NDArray[np.float64],
    range_best: NDArray[np.float64],
    blocks: range,
    last: int,
) -> NDArray[np.intp]:
    """First index of each range's extreme: in the first of its pieces that holds it."""
    n_ranges = len(range_best)
    holds = (piece_range >= 0) & (piece_best == range_best[np.maximum(piece_range, 0)])
    # keep only the first holding piece of each range
    cand = np.flatnonzero(holds)
    _, first_of_range = np.unique(piece_range[cand], return_index=True)
    chosen = cand[first_of_range]
    target = np.full(len(cuts), np.nan)
    target[chosen] = piece_best[chosen]
    out = np.full(n_ranges, -1, np.intp)
    found: list[NDArray[np.intp]] = []
    for s in blocks:
        e = min(s + BLOCK, last)
        c0, c1 = np.searchsorted(cuts, [s, e])
        if not np.isfinite(target[c0:c1]).any():
            continue
        lengths = np.diff(np.append(cuts[c0:c1], e))
        hit = np.flatnonzero(block(s, e) == np.repeat(target[c0:c1], lengths)) + s
        if len(hit):
            piece = np.searchsorted(cuts, hit, "right") - 1
            _, first = np.unique(piece, return_index=True)
            found.append(hit[first])
    if found:
        hits = np.concatenate(found)
        piece = np.searchsorted(cuts, hits, "right") - 1
        out[piece_range[piece]] = hits
    return out


def usable_result(
    sig: Signal, values: ValueArray, quality: QualityArray, flags: FlagArray
) -> NDArray[np.bool_]:
    """Whether values from :func:`evaluate` may enter arithmetic under the signal's rule."""
    ok: NDArray[np.bool_] = (
        ((flags & ValueFlag.NO_DATA) == 0)
        & (severity_of(quality) < sig.bad_from)
        & np.isfinite(values)
    )
    return ok


def range_sums(x: NDArray[np.generic], lo: NDArray[np.intp], hi: NDArray[np.intp]) -> NDArray[Any]:
    """``x[lo[k]:hi[k]].sum()`` for every k in one ``reduceat``; empty ranges give 0.

    Ranges must be in ascending order and must not overlap (``hi[k] <= lo[k+1]``).
    """
    out = np.zeros(len(lo), x.dtype)
    ne = hi > lo
    if not ne.any():
        return out
    idx = np.empty(2 * int(ne.sum()), np.intp)
    idx[0::2] = lo[ne]
    idx[1::2] = hi[ne]
    if idx[-1] >= len(x):
        idx = idx[:-1]
    out[ne] = np.add.reduceat(x, idx)[0::2]
    return out


BLOCK = 1 << 15
"""Points per block for :func:`blocked_range_sums`: temporaries stay in the CPU cache."""


def blocked_range_sums(
    n: int,
    lo: NDArray[np.intp],
    hi: NDArray[np.intp],
    fill: Callable[[int, int, NDArray[np.float64]], None],
) -> NDArray[np.float64]:
    """``Σ x[lo[k]:hi[k]]`` for a per-point array ``x`` of length ``n`` that is never built.

    ``fill(s, e, out)`` writes ``x[s:e]`` into ``out`` (length ``e - s``). The
    points are visited in cache-sized blocks: each block is filled, then cut at
    the range bounds inside it with one ``reduceat``; the pieces are summed per
    range at the end. Against one whole-array temporary this avoids streaming
    several arrays of ``n`` floats through memory. Ranges as for :func:`range_sums`.
    """
    out = np.zeros(len(lo))
    ne = hi > lo
    if n == 0 or not ne.any():
        return out
    first, last = int(lo[ne][0]), int(hi[ne][-1])
    cuts = np.unique(np.concatenate([lo[ne], hi[ne], np.arange(first, last, BLOCK)]))
    pieces = np.zeros(len(cuts))
    buf = np.empty(min(BLOCK, last - first))
    block_starts = np.arange(first, last, BLOCK)
    at_block = np.searchsorted(cuts, np.append(block_starts, last)).tolist()
    for i, s in enumerate(block_starts.tolist()):
        e = min(s + BLOCK, last)
        x = buf[: e - s]
        fill(s, e, x)
        c0, c1 = at_block[i], at_block[i + 1]
        pieces[c0:c1] = np.add.reduceat(x, cuts[c0:c1] - s)
    at_lo = np.searchsorted(cuts, lo[ne]).astype(np.intp)
    at_hi = np.searchsorted(cuts, hi[ne]).astype(np.intp)
    out[ne] = range_sums(pieces, at_lo, at_hi)
    return out


def first_usable_at_or_after(sig: Signal, i: NDArray[np.intp]) -> NDArray[np.intp]:
    """Smallest usable index >= i (len(ts) if none); cost grows with unusable points only."""
    return _skip_unusable(sig, i, forward=True)


def last_usable_at_or_before(sig: Signal, i: NDArray[np.intp]) -> NDArray[np.intp]:
    """Largest usable index <= i (-1 if none)."""
    return _skip_unusable(sig, i, forward=False)


def _skip_unusable(sig: Signal, i: NDArray[np.intp], *, forward: bool) -> NDArray[np.intp]:
    i = np.asarray(i, np.intp)
    if sig.all_usable:
        return i.copy()
    bad = sig.unusable
    # Runs of consecutive unusable indices: an index inside a run jumps past the run's end.
    run = np.concatenate([[0], np.cumsum(np.diff(bad) != 1)])
    run_first = bad[np.searchsorted(run, np.arange(run[-1] + 1), "left")]
    run_last = bad[np.searchsorted(run, np.arange(run[-1] + 1), "right") - 1]
    pos = np.clip(np.searchsorted(bad, i), 0, len(bad) - 1)
    in_bad = bad[pos] == i
    out = i.copy()
    if forward:
        out[in_bad] = run_last[run[pos[in_bad]]] + 1
    else:
        out[in_bad] = run_first[run[pos[in_bad]]] - 1
    return out


def unusable_per_range(
    sig: Signal, lo: NDArray[np.intp], hi: NDArray[np.intp]
) -> NDArray[np.int64]:
    """Number of unusable points in each ``[lo[k], hi[k])``, from the (few) unusable indices."""
    n: NDArray[np.int64] = (
        np.searchsorted(sig.unusable, hi) - np.searchsorted(sig.unusable, lo)
    ).astype(np.int64)
    return n


def sums_over_usable(sig: Signal, lo: NDArray[np.intp], hi: NDArray[np.intp]) -> ValueArray:
    """Σ of the usable values in each contiguous ``[lo[k], hi[k])``.

    One ``reduceat`` over every (finite) value, minus the unusable values per
    range, so a handful of Bad points costs no extra pass over the data.
    """
    total: ValueArray = range_sums(sig.finite, lo, hi).astype(np.float64)
    if len(sig.unusable):
        bad = sig.unusable
        k = np.searchsorted(hi, bad, "right")
        inside = (k < len(hi)) & (bad >= lo[np.minimum(k, len(lo) - 1)])
        np.subtract.at(total, k[inside], sig.finite[bad[inside]])
    return total
