"""Legacy hourly/daily averages against twinbench's time- and event-weighted summaries.

The seed's SCADA rollups are ``AVG(value)`` over a bucket's Good readings: each
reading counts once (event-weighted). twinbench's default average is
time-weighted (each value counts for as long as it held, PI's and OPC UA's
rule). For every complete bucket of the range both of twinbench's averages are
computed (Uncertain treated as Bad, as the legacy keeps only Good readings) and
the legacy's figure is matched against each; the tag's ``rollup_rule`` says which
rule the legacy follows (``event``, ``time``, ``both`` when the data cannot tell
them apart, ``neither``), and buckets matching neither rule, or present on one
side only, are a ``rollup_mismatch``.
"""

from __future__ import annotations

import numpy as np

from harness.shadow.legacy_read import LegacyRollups
from harness.shadow.rules import Rules
from harness.shadow.verdict import TagResult, iso
from historian.query.engine import QueryEngine

__all__ = ["ROLLUP_INTERVALS", "compare_rollups"]

ROLLUP_INTERVALS = {"hourly": 3_600_000_000_000, "daily": 86_400_000_000_000}


def compare_rollups(
    result: TagResult,
    engine: QueryEngine,
    tables: dict[str, LegacyRollups | None],
    start_ns: int,
    end_ns: int,
    rules: Rules,
) -> int:
    """Add the rollup findings to ``result``; returns the buckets compared."""
    compared = 0
    verdicts: list[str] = []
    for kind, rows in tables.items():
        step = ROLLUP_INTERVALS[kind]
        lo = -(-start_ns // step) * step  # first complete bucket
        hi = end_ns // step * step
        if hi <= lo:
            continue
        ev = engine.summary(
            result.tag, lo, hi, step, ["average", "count"], "event", treat_uncertain_as_bad=True
        )
        tw = engine.summary(
            result.tag, lo, hi, step, ["average"], "time", treat_uncertain_as_bad=True
        )
        n = len(ev)
        legacy = np.full(n, np.nan)
        if rows is not None and len(rows.bucket):
            inside = (rows.bucket >= lo) & (rows.bucket < hi)
            legacy[(rows.bucket[inside] - lo) // step] = rows.average[inside]
        has_t = ev.count > 0
        has_l = np.isfinite(legacy)
        both = has_t & has_l
        tol = rules.rollup_rel_tol * np.maximum(1.0, np.abs(legacy)) + rules.abs_tol
        ev_ok = both & (np.abs(legacy - ev.average) <= tol)
        tw_ok = both & (np.abs(legacy - tw.average) <= tol)
        neither = (both & ~ev_ok & ~tw_ok) | (has_t != has_l)
        compared += int(both.sum())
        if both.any():
            n_both = int(both.sum())
            if ev_ok.sum() == n_both and tw_ok.sum() == n_both:
                verdicts.append("both")
            elif ev_ok.sum() >= tw_ok.sum() and ev_ok.any():
                verdicts.append("event")
            elif tw_ok.any():
                verdicts.append("time")
            else:
                verdicts.append("neither")
        if neither.any():
            idx = np.flatnonzero(neither)
            diffs = np.abs(legacy - ev.average)[idx]
            worst = float(np.nanmax(diffs)) if np.isfinite(diffs).any() else float("nan")
            result.add(
                "rollup_mismatch",
                f"{len(idx)} {kind} bucket(s) match neither twinbench average or exist on one side "
                f"only (worst |legacy - event avg| {worst:.6g})",
                len(idx),
                [(iso(lo + int(i) * step), iso(lo + (int(i) + 1) * step)) for i in idx[:10]],
            )
    if verdicts:
        rule = (
            verdicts[0]
            if len(set(verdicts)) == 1
            else ("event" if "event" in verdicts else verdicts[0])
        )
        result.rollup_rule = rule
        result.add(
            "rollup_rule",
            f"legacy rollups follow the {rule}-weighted average"
            if rule in ("event", "time")
            else f"legacy rollup rule: {rule}",
            compared,
        )
    return compared
