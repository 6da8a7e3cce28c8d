"""Summaries from the segment index's per-chunk statistics plus the points they do not cover.

The record is H5's ``CHUNK_SUMMARY_DTYPE`` (:mod:`historian.sstable.stats`): per chunk
``min_ts``, ``max_ts``, ``count``, usable count ``n``, ``good_count``, ``bad_count``,
first/last value and quality, ``min``/``max`` with ``min_at``/``max_at``, ``sum``,
``m2`` (Σ (v - chunk mean)²), ``tw_step``/``dur_step``, ``tw_linear``/``dur_linear``
(value·ns / ns over the chunk's own span). A row can stand for its points in an
interval's summary only when (:func:`chunks_usable_in_intervals`):

* it has stats and lies wholly inside one interval (an edge inside it would need
  the value at the edge, which only its points know);
* its first and last points are usable (they join the chunk to its neighbours
  in the time-weighted signal, and give the event-weighted start/end);
* for a linear tag, ``dur_linear == dur_step``: no usable point is followed by an
  unusable one inside the chunk. (The record's linear integral leaves such a
  segment out; the signal model holds the value there, so the chunk is decoded.)
* with ``treat_uncertain_as_bad``, no Uncertain point (``good + bad == count``).

:func:`summaries_from_chunk_stats` then combines, per interval, the usable rows
with the *rest* (every other point, decoded): each row's first and last point go
into the signal with the segment between them replaced by the row's integral,
and the event parts add (counts, sums; m2 by Chan's rule; extremes compare).
Exact for every summary type except the time-weighted standard deviation, which
the record cannot give (it has no ∫ s² dt): that is NaN for intervals that used a
row; ask without rows (decode) when it is needed.

>>> import numpy as np
>>> from historian.query.columns import QueryColumns
>>> from historian.sstable.stats import compute_chunk_stats
>>> ts = np.arange(0, 100, 10, dtype=np.int64)
>>> v = np.arange(10, dtype=np.float64)
>>> q = np.zeros(10, np.uint16)
>>> rows = compute_chunk_stats(ts, v, q, np.array([2]), np.array([6]))  # points 20..50
>>> edges = np.array([0, 100], np.int64)
>>> chunks_usable_in_intervals(rows, edges, stepped=False).tolist()
[True]
>>> keep = np.r_[0:2, 6:10]
>>> rest = QueryColumns.from_arrays(ts[keep], v[keep], q[keep])
>>> s = summaries_from_chunk_stats(rows, rest, edges, stepped=False)
>>> s.average.tolist(), s.count.tolist(), s.minimum.tolist(), s.maximum.tolist()
([4.95], [10], [0.0], [9.0])
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from numpy.typing import NDArray

from historian.model import QUALITY_DTYPE, TIME_DTYPE, VALUE_DTYPE, TimeArray, severity_of
from historian.query.columns import ColumnsLike, PointLike, QueryColumns
from historian.query.integrate import SegmentOverrides, interval_integrals
from historian.query.signal import Signal, build_signal
from historian.query.summary import (
    NS_PER_DAY,
    Summaries,
    Weighting,
    check_edges,
    finish,
    parse_types,
    weighting_of,
)
from historian.query.summary_parts import (
    EXTREME_TYPES,
    STD_TYPES,
    EventParts,
    event_parts,
    good_duration_only,
    inside_ranges,
    time_parts,
)

__all__ = ["chunks_usable_in_intervals", "summaries_from_chunk_stats"]


def chunks_usable_in_intervals(
    rows: NDArray[np.void],
    edges: TimeArray,
    *,
    stepped: bool,
    treat_uncertain_as_bad: bool = False,
) -> NDArray[np.bool_]:
    """Which ``CHUNK_SUMMARY_DTYPE`` rows may stand for their points (module docstring)."""
    edges = np.asarray(edges, TIME_DTYPE)
    lo, hi = rows["min_ts"], rows["max_ts"]
    k_lo = np.searchsorted(edges, lo, "right") - 1
    k_hi = np.searchsorted(edges, hi, "right") - 1
    ok = rows["has_stats"] & (k_lo == k_hi) & (k_lo >= 0) & (hi < edges[-1])
    bad_from = 1 if treat_uncertain_as_bad else 2
    for end in ("first", "last"):
        ok &= severity_of(rows[f"{end}_quality"]) < bad_from
        ok &= np.isfinite(rows[f"{end}_value"])
    if not stepped:
        ok &= rows["dur_linear"] == rows["dur_step"]
    if treat_uncertain_as_bad:
        ok &= rows["good_count"].astype(np.int64) + rows["bad_count"] == rows["count"]
    result: NDArray[np.bool_] = np.asarray(ok, bool)
    return result


def summaries_from_chunk_stats(
    rows: NDArray[np.void],
    rest: ColumnsLike,
    edges: TimeArray,
    *,
    stepped: bool,
    weighting: Weighting | str = Weighting.TIME,
    before: PointLike | None = None,
    after: PointLike | None = None,
    types: Iterable[str] | None = None,
    treat_uncertain_as_bad: bool = False,
    total_per_ns: int = NS_PER_DAY,
) -> Summaries:
    """Summaries over ``edges`` from usable rows (time-ordered, not overlapping) and ``rest``.

    Contract: ``rows`` passed :func:`chunks_usable_in_intervals`; ``rest`` holds every
    other recorded point of ``[edges[0], edges[-1])``, none inside a row's span;
    ``before`` / ``after`` as for :func:`historian.query.summary.summaries`. The
    result equals ``summaries_for_edges`` over all the points (to rounding), except
    the time-weighted standard deviation of intervals that used a row (NaN).
    """
    edges = check_edges(edges)
    want = parse_types(types)
    kind = weighting_of(weighting)
    # The reduced series: rest points plus each row's first and last point.
    n_rows = len(rows)
    single = rows["min_ts"] == rows["max_ts"]
    rep_ts = np.concatenate([rows["min_ts"], rows["max_ts"][~single]]).astype(TIME_DTYPE)
    rep_v = np.concatenate([rows["first_value"], rows["last_value"][~single]]).astype(VALUE_DTYPE)
    rep_q = np.concatenate([rows["first_quality"], rows["last_quality"][~single]]).astype(
        QUALITY_DTYPE
    )
    # Both parts are sorted: merge by insertion positions instead of sorting.
    rep_order = np.argsort(rep_ts, kind="stable")
    rep_ts, rep_v, rep_q = rep_ts[rep_order], rep_v[rep_order], rep_q[rep_order]
    rest_ts = np.asarray(rest.ts, TIME_DTYPE)
    total = len(rest_ts) + len(rep_ts)
    at_rep = np.searchsorted(rest_ts, rep_ts) + np.arange(len(rep_ts))
    is_rep = np.zeros(total, bool)
    is_rep[at_rep] = True
    m_ts = np.empty(total, TIME_DTYPE)
    m_v = np.empty(total, VALUE_DTYPE)
    m_q = np.empty(total, QUALITY_DTYPE)
    m_ts[at_rep], m_v[at_rep], m_q[at_rep] = rep_ts, rep_v, rep_q
    m_ts[~is_rep] = rest_ts
    m_v[~is_rep] = np.asarray(rest.values, VALUE_DTYPE)
    m_q[~is_rep] = np.asarray(rest.quality, QUALITY_DTYPE)
    reduced = QueryColumns.from_arrays(m_ts, m_v, m_q)
    sig = build_signal(
        reduced, stepped=stepped, before=before, after=after,
        treat_uncertain_as_bad=treat_uncertain_as_bad,
    )  # fmt: skip
    # Index of each row's first point in the signal; the segment after it is the chunk.
    first_at = np.searchsorted(sig.ts, rows["min_ts"]).astype(np.intp)
    multi = ~single
    overrides = SegmentOverrides(
        segment=first_at[multi],
        area=(rows["tw_step"] if stepped else rows["tw_linear"])[multi].astype(np.float64),
        good_ns=(rows["dur_step"] if stepped else rows["dur_linear"])[multi].astype(np.int64),
    )
    if kind is Weighting.TIME:
        tparts, _, _ = time_parts(sig, edges, want - STD_TYPES, overrides)
        if want & STD_TYPES:
            exact, _, _ = time_parts(sig, edges, STD_TYPES, None)
            tparts.deviation = exact.deviation
        good_ns = tparts.good_ns
    else:
        tparts = None
        good_ns = _good_ns_with_rows(sig, edges, overrides)
    # Event parts of the rest only: representatives are masked out of the signal.
    rest_sig = build_signal(
        rest, stepped=stepped,
        treat_uncertain_as_bad=treat_uncertain_as_bad,
    )  # fmt: skip
    r_lo, r_hi = inside_ranges(rest_sig, edges)
    event = kind is Weighting.EVENT
    ev = event_parts(rest_sig, r_lo, r_hi, (want | {"average"}) if event else want, sums=event)
    interval = np.searchsorted(edges, rows["min_ts"], "right") - 1
    _add_rows(ev, rows, interval, want)
    if tparts is not None and n_rows:
        used = np.zeros(len(edges) - 1, bool)
        used[interval] = True
        tparts.deviation = np.where(used, np.nan, tparts.deviation)
    return finish(
        edges, kind, want, ev, tparts, good_ns,
        treat_uncertain_as_bad=treat_uncertain_as_bad, total_per_ns=total_per_ns,
    )  # fmt: skip


def _good_ns_with_rows(
    sig: Signal, edges: TimeArray, overrides: SegmentOverrides
) -> NDArray[np.int64]:
    if len(overrides.segment) == 0:
        return good_duration_only(sig, edges)
    return interval_integrals(sig, edges, overrides).good_ns


def _add_rows(
    ev: EventParts, rows: NDArray[np.void], interval: NDArray[np.intp], want: set[str]
) -> None:
    """Fold each row's event statistics into its interval's parts (in place)."""
    if len(rows) == 0:
        return
    k = len(ev.count)
    n = rows["n"].astype(np.int64)
    n_rows = np.bincount(interval, weights=n, minlength=k).astype(np.int64)
    sum_rows = np.bincount(interval, weights=rows["sum"], minlength=k)
    # Chan: m2 = m2_rest + Σ m2_row + Σ n_g (mean_g - mean)² over the groups.
    total_n = ev.count + n_rows
    total_sum = np.where(ev.count > 0, ev.total, 0.0) + sum_rows
    mean = np.divide(total_sum, total_n, out=np.zeros(k), where=total_n > 0)
    rest_mean = np.divide(ev.total, ev.count, out=np.zeros(k), where=ev.count > 0)
    m2 = np.where(ev.count > 0, np.nan_to_num(ev.m2) + ev.count * (rest_mean - mean) ** 2, 0.0)
    row_mean = np.divide(rows["sum"], n, out=np.zeros(len(n)), where=n > 0)
    m2 += np.bincount(
        interval, weights=rows["m2"] + n * (row_mean - mean[interval]) ** 2, minlength=k
    )
    ev.m2 = m2 if want & STD_TYPES else ev.m2
    ev.total = total_sum.astype(np.float64)
    ev.count = total_n
    ev.n_all = ev.n_all + np.bincount(interval, weights=rows["count"], minlength=k).astype(np.int64)
    unc = rows["good_count"].astype(np.int64) + rows["bad_count"] < rows["count"]
    ev.uncertain = ev.uncertain | (np.bincount(interval, weights=unc, minlength=k) > 0)
    if want & EXTREME_TYPES:
        _fold_extreme(ev, rows, interval, maximum=False)
        _fold_extreme(ev, rows, interval, maximum=True)
    # First / last usable value: a row's first and last points are usable by contract.
    for i in range(2):
        first = i == 0
        t_row = rows["min_ts"] if first else rows["max_ts"]
        v_row = rows["first_value"] if first else rows["last_value"]
        t_cur = ev.first_time if first else ev.last_time
        v_cur = ev.first if first else ev.last
        order = np.argsort(t_row if first else -t_row, kind="stable")
        pick_k, pick_i = np.unique(interval[order], return_index=True)
        cand_t = t_row[order][pick_i]
        cand_v = v_row[order][pick_i]
        cur = t_cur[pick_k]
        empty = np.isnan(v_cur[pick_k])
        better = empty | ((cand_t < cur) if first else (cand_t > cur))
        t_cur[pick_k[better]] = cand_t[better]
        v_cur[pick_k[better]] = cand_v[better]


def _fold_extreme(
    ev: EventParts, rows: NDArray[np.void], interval: NDArray[np.intp], *, maximum: bool
) -> None:
    """Per interval, the best row extreme (earliest on ties) against the rest's, in place."""
    val = rows["max"] if maximum else rows["min"]
    at = rows["max_at"] if maximum else rows["min_at"]
    cur_v = ev.maximum if maximum else ev.minimum
    cur_t = ev.max_time if maximum else ev.min_time
    real = ~np.isnan(val)
    val, at, interval = val[real], at[real], interval[real]
    order = np.lexsort((at, -val if maximum else val, interval))
    k, first = np.unique(interval[order], return_index=True)
    best_v, best_t = val[order][first], at[order][first]
    c_v, c_t = cur_v[k], cur_t[k]
    wins = np.isnan(c_v) | ((best_v > c_v) if maximum else (best_v < c_v))
    wins |= (best_v == c_v) & (best_t < c_t)
    cur_v[k[wins]] = best_v[wins]
    cur_t[k[wins]] = best_t[wins]
