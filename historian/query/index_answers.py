"""Summaries and plot values over long ranges from the segment index, not every point.

A year of a 1 Hz tag is 31.5 M points, ~7,700 chunks of 4,096. Decoding all of
them costs seconds and half a gigabyte; their index rows (per-chunk statistics,
``historian/docs/format/segment.md``) cost a few hundred kilobytes. The snapshot
splits a range into rows that stand for their chunk's points and the *rest*
(edge chunks, chunks without stats, points newer sources hold:
:meth:`~historian.query.snapshot.Snapshot.index_parts`). Here each query family
decides which rows it can use for the intervals it was asked for, decodes the
others, and hands rows + points to the same semantics as the decoded path:

- **summaries**: :func:`historian.query.chunkstats.summaries_from_chunk_stats`
  (exact, except the time-weighted standard deviation, so callers that want it
  decode instead);
- **plot values**: a row wholly inside one pixel interval whose points are all
  Good contributes exactly its first, last, minimum and maximum point (the
  points plot selection would take from it), so plot over the reduced series
  equals plot over every point. The minimum/maximum points are rebuilt from the
  row with quality ``Good`` (0): a Good sub-code (e.g. ``GoodLocalOverride``) on
  those two points is not in the index (documented in ``docs/query/plot.md``).

Memory: the rows, the decoded rest (edge chunks) and the result; never the range.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from numpy.typing import NDArray

from historian.model import QUALITY_DTYPE, TIME_DTYPE, VALUE_DTYPE, Point, SeriesColumns
from historian.query.chunkstats import chunks_usable_in_intervals, summaries_from_chunk_stats
from historian.query.columns import QueryColumns
from historian.query.plot import pixel_edges, plot_values
from historian.query.snapshot import Snapshot
from historian.query.summary import Summaries, Weighting, summaries_for_edges

__all__ = ["plot_from_index", "summaries_from_index"]


def _few(usable: NDArray[np.bool_]) -> bool:
    """Too few usable rows to pay for reading the others one by one: decode the range in
    one read instead (measured: 20 days into 1,000 pixels, where no hourly chunk fits a
    43-minute pixel, took 315 ms chunk by chunk against 123 ms in one read)."""
    return int(usable.sum()) * 2 < len(usable)


def _with_decoded(
    snap: Snapshot, series: int, rest: SeriesColumns, rows: NDArray[np.void]
) -> SeriesColumns:
    """``rest`` plus the decoded points of ``rows`` (spans no other source touches)."""
    if not len(rows):
        return rest
    parts = [rest] + [
        snap.read(series, int(a), int(b) + 1)
        for a, b in zip(rows["min_ts"], rows["max_ts"], strict=True)
    ]
    ts = np.concatenate([p.ts for p in parts])
    order = np.argsort(ts, kind="stable")
    return SeriesColumns(
        series,
        ts[order],
        np.concatenate([p.values for p in parts])[order],
        np.concatenate([p.quality for p in parts])[order],
    )


def summaries_from_index(
    snap: Snapshot,
    series: int,
    edges: NDArray[np.int64],
    *,
    stepped: bool,
    weighting: Weighting | str,
    before: Point | None,
    after: Point | None,
    types: Iterable[str] | None,
    treat_uncertain_as_bad: bool = False,
) -> tuple[Summaries, int]:
    """Summaries over ``edges`` and the number of chunks answered from their index rows."""
    parts = snap.index_parts(series, int(edges[0]), int(edges[-1]))
    rows = parts.stats
    usable = chunks_usable_in_intervals(
        rows, edges, stepped=stepped, treat_uncertain_as_bad=treat_uncertain_as_bad
    )
    if _few(usable):
        whole = snap.read(series, int(edges[0]), int(edges[-1]))
        decoded = summaries_for_edges(
            whole,
            edges,
            stepped=stepped,
            weighting=weighting,
            before=before,
            after=after,
            types=types,
            treat_uncertain_as_bad=treat_uncertain_as_bad,
        )
        return decoded, 0
    rest = _with_decoded(snap, series, parts.rest, rows[~usable])
    result = summaries_from_chunk_stats(
        rows[usable],
        rest,
        edges,
        stepped=stepped,
        weighting=weighting,
        before=before,
        after=after,
        types=types,
        treat_uncertain_as_bad=treat_uncertain_as_bad,
    )
    return result, int(usable.sum())


def plot_rows_usable(rows: NDArray[np.void], edges: NDArray[np.int64]) -> NDArray[np.bool_]:
    """Rows that lie wholly inside one pixel interval and hold only Good points."""
    lo, hi = rows["min_ts"], rows["max_ts"]
    k_lo = np.searchsorted(edges, lo, "right") - 1
    k_hi = np.searchsorted(edges, hi, "right") - 1
    ok = rows["has_stats"] & (k_lo == k_hi) & (k_lo >= 0) & (hi < edges[-1])
    ok &= rows["good_count"].astype(np.int64) == rows["count"].astype(np.int64)
    return np.asarray(ok, bool)


def plot_from_index(
    snap: Snapshot,
    series: int,
    start: int,
    end: int,
    intervals: int,
    *,
    before: Point | None,
    after: Point | None,
) -> tuple[QueryColumns, int]:
    """Plot values of ``[start, end)`` and the number of chunks answered from their rows."""
    edges = pixel_edges(start, end, intervals)
    parts = snap.index_parts(series, start, end)
    rows = parts.stats
    usable = plot_rows_usable(rows, edges)
    if _few(usable):
        whole = snap.read(series, start, end)
        return plot_values(whole, start, end, intervals, before=before, after=after), 0
    rest = _with_decoded(snap, series, parts.rest, rows[~usable])
    use = rows[usable]
    has_values = use["n"] > 0  # all-NaN chunks have no minimum or maximum
    ts = np.concatenate(
        [
            rest.ts,
            use["min_ts"],
            use["max_ts"],
            use["min_at"][has_values],
            use["max_at"][has_values],
        ]
    ).astype(TIME_DTYPE)
    values = np.concatenate(
        [
            rest.values,
            use["first_value"],
            use["last_value"],
            use["min"][has_values],
            use["max"][has_values],
        ]
    ).astype(VALUE_DTYPE)
    n_extreme = 2 * int(has_values.sum())
    quality = np.concatenate(
        [
            rest.quality,
            use["first_quality"],
            use["last_quality"],
            np.zeros(n_extreme, QUALITY_DTYPE),
        ]
    ).astype(QUALITY_DTYPE)
    # one point may be several of first/last/min/max: keep one per timestamp
    # (the row's own first/last quality wins over the rebuilt extreme's)
    order = np.argsort(ts, kind="stable")
    ts, values, quality = ts[order], values[order], quality[order]
    first = np.ones(len(ts), bool)
    first[1:] = ts[1:] != ts[:-1]
    reduced = QueryColumns.from_arrays(ts[first], values[first], quality[first])
    return plot_values(reduced, start, end, intervals, before=before, after=after), len(use)
