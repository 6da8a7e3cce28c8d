"""The historian-aware shadow diff of one tag, and of a whole legacy against a store.

Per tag (``diff_tag``), in this order, all column-wise:

1. duplicates: legacy readings with the same timestamp (the first one is compared);
2. a constant time offset (``align.estimate_offset``) larger than the skew tolerance;
   the legacy stamps are corrected by it for everything below;
3. forward: each usable legacy value against twinbench's at-time value at its
   timestamp (``QueryEngine.at_times``: step or linear per tag), allowing the
   tag's CompDev + ExcDev plus ``abs_tol``/``rel_tol``, and the skew window;
   a constant ratio (``align.estimate_scale``) is a unit/scale mismatch, and the
   values are compared after dividing it out;
4. quality: severities where both recorded the same timestamp (PI keeps no
   Uncertain, so Uncertain counts as Good against a PI CSV);
5. reverse: twinbench's usable values against the legacy's reconstruction
   (linear or stepped between its usable readings), allowing CompDev + 2 x ExcDev
   (the worst case of exception + swinging-door reconstruction); stretches that
   fail it are a gap in the legacy (no legacy reading inside), a stuck legacy
   sensor (the legacy holds one value while twinbench moves) or the other way round;
6. silences: a legacy interval longer than ``max(10 x twinbench's sampling
   period, CompMax)`` with twinbench data inside is a gap in the legacy; the
   converse a gap in twinbench;
7. rollups (``rollups.compare_rollups``) when the legacy has them.
"""

from __future__ import annotations

import fnmatch
import time

import numpy as np

from harness.legacy.scada_schema import node_id
from harness.shadow.align import estimate_offset, estimate_scale, runs, signal_at, skew_residual
from harness.shadow.legacy_read import LegacyData, LegacySeries
from harness.shadow.rollups import compare_rollups
from harness.shadow.rules import Rules, RuleSet
from harness.shadow.verdict import DiffReport, TagResult, iso
from historian.catalogue import TagInfo
from historian.model import severity_of
from historian.query.engine import QueryEngine

__all__ = ["diff_store", "diff_tag", "legacy_ids"]

_SEV = ("Good", "Uncertain", "Bad")
EXACT_REL = 1e-9


def legacy_ids(tag: TagInfo) -> tuple[str, ...]:
    """The ids a legacy may know the tag by: SCADA node id, PI tag name, the path itself."""
    return tuple(dict.fromkeys(i for i in (node_id(tag.name), tag.legacy_name, tag.name) if i))


def _ranges(ts: np.ndarray, mask: np.ndarray, limit: int = 10) -> list[tuple[str, str]]:
    s, e = runs(mask)
    return [(iso(int(ts[a])), iso(int(ts[b]))) for a, b in zip(s[:limit], e[:limit], strict=True)]


def _silences(
    outer: np.ndarray, inner: np.ndarray, max_gap: int, lo: int, hi: int
) -> list[tuple[int, int]]:
    """Intervals of ``outer`` (with the range edges) longer than ``max_gap``
    holding >= 2 ``inner``."""
    edges = np.concatenate([[lo], outer, [hi]])
    long = np.flatnonzero(np.diff(edges) > max_gap)
    if len(long) == 0:
        return []
    a, b = edges[long], edges[long + 1]
    inside = np.searchsorted(inner, b, "left") - np.searchsorted(inner, a, "right")
    return [(int(x), int(y)) for x, y, n in zip(a, b, inside, strict=True) if n >= 2]


def _extend(
    spans: list[tuple[int, int]], a: int, b: int, held: float, lr_ts: np.ndarray, lr_v: np.ndarray
) -> None:
    """Append ``[a, b]`` (the legacy holding ``held``), joined to the last span when the legacy
    held that same value all the way between them: a moving signal crosses a stuck value now
    and then, which makes one stuck stretch, not many."""
    if spans:
        x, y = spans[-1]
        between = lr_v[np.searchsorted(lr_ts, y, "left") : np.searchsorted(lr_ts, a, "right")]
        if len(between) and np.all(between == held):
            spans[-1] = (x, b)
            return
    spans.append((a, b))


def diff_tag(
    engine: QueryEngine, tag: TagInfo, legacy_id: str, series: LegacySeries | None,
    start_ns: int, end_ns: int, rules: Rules, *, has_uncertain: bool = True,
) -> tuple[TagResult, int]:  # fmt: skip
    """The verdict of one tag and how many points were compared."""
    r = TagResult(tag.name, legacy_id, stepped=bool(tag.stepped))
    skew = int(rules.skew_s * 1e9)
    margin = int(rules.max_offset_s * 1e9) + skew + 1
    raw = engine.raw(tag.name, start_ns - margin, end_ns + margin)
    t_sev = severity_of(raw.quality)
    t_in = (raw.ts >= start_ns) & (raw.ts < end_ns)
    r.twinbench_points = int(t_in.sum())
    lts = series.ts if series is not None else np.empty(0, np.int64)
    r.legacy_points = len(lts)
    if r.legacy_points == 0 or r.twinbench_points == 0:
        if r.legacy_points or r.twinbench_points:
            r.verdict = "missing_in_legacy" if r.twinbench_points else "missing_in_twinbench"
            r.add(
                f"gap_in_{'legacy' if r.twinbench_points else 'twinbench'}",
                "no readings in the range",
                max(r.legacy_points, r.twinbench_points),
                [(iso(start_ns), iso(end_ns))],
            )
        return r, 0
    assert series is not None
    dup = np.concatenate([[False], lts[1:] == lts[:-1]])
    if dup.any():
        r.add(
            "duplicates",
            f"{int(dup.sum())} legacy readings repeat a timestamp",
            int(dup.sum()),
            _ranges(lts, dup),
        )
    lts, lv, lsev = lts[~dup], series.values[~dup], series.severity[~dup]
    compdev, excdev = tag.compdev or 0.0, tag.excdev or 0.0
    usable_t = (t_sev < 2) & np.isfinite(raw.values)
    tt, tv = raw.ts[usable_t], raw.values[usable_t]
    lgood = (lsev < 2) & np.isfinite(lv)
    tol = rules.abs_tol + compdev + excdev + rules.rel_tol * np.abs(np.nan_to_num(lv))
    r.tolerance = rules.abs_tol + compdev + excdev

    off, f0, f1 = estimate_offset(
        lts[lgood], lv[lgood], tt, tv, tol[lgood], stepped=r.stepped,
        max_offset_ns=int(rules.max_offset_s * 1e9), min_offset_ns=skew,
    )  # fmt: skip
    if off:
        r.time_offset_s = off / 1e9
        r.add(
            "time_offset",
            f"legacy timestamps are {off / 1e9:+.3f} s off "
            f"(explains {f1:.0%} of its values, none {f0:.0%})",
            len(lts),
            [(iso(int(lts[0])), iso(int(lts[-1])))],
        )
        lts = lts - off

    at = engine.at_times(tag.name, lts)
    at_v, at_sev = at.values, severity_of(at.quality)
    comparable = lgood & (at_sev < 2) & np.isfinite(at_v)
    ratio = estimate_scale(lv[comparable], at_v[comparable], tol[comparable])
    if ratio is not None:
        r.scale_ratio = ratio
        r.add(
            "scale_mismatch",
            f"legacy values are twinbench's x {ratio:.6g} (a unit or scale error)",
            int(comparable.sum()),
        )
        lv = lv / ratio
    diff = np.abs(lv - at_v)
    # equal up to float rounding (a text round trip, a scale divided out), whatever the rules allow
    exact = comparable & (diff <= EXACT_REL * np.maximum(1.0, np.abs(np.nan_to_num(lv))))
    res = skew_residual(
        lv,
        at_v,
        signal_at(tt, tv, lts - skew, stepped=r.stepped),
        signal_at(tt, tv, lts + skew, stepped=r.stepped),
    )
    within = comparable & ~exact & (np.nan_to_num(res, nan=np.inf) <= tol)
    bad = comparable & ~exact & ~within
    r.compared = int(comparable.sum())
    by_skew = within & (np.nan_to_num(diff) > tol)
    if by_skew.any():
        r.add(
            "within_skew",
            f"{int(by_skew.sum())} legacy values agree only within the "
            f"+-{rules.skew_s:g} s skew window",
            int(by_skew.sum()),
        )

    # quality where both recorded the same instant
    idx = np.clip(np.searchsorted(raw.ts, lts), 0, len(raw.ts) - 1)
    hit = raw.ts[idx] == lts
    ts_sev = t_sev[idx].copy()
    if not has_uncertain:
        ts_sev[ts_sev == 1] = 0
    qdis = hit & (ts_sev != lsev)
    if qdis.any():
        pairs, counts = np.unique(
            ts_sev[qdis].astype(np.int32) * 3 + lsev[qdis], return_counts=True
        )
        detail = "; ".join(
            f"twinbench {_SEV[p // 3]} / legacy {_SEV[p % 3]}: {c}"
            for p, c in zip(pairs.tolist(), counts.tolist(), strict=True)
        )
        r.add("quality_disagreement", detail, int(qdis.sum()), _ranges(lts, qdis))

    # reverse: twinbench against the legacy's reconstruction
    ti = t_in & usable_t
    ti_ts, ti_v = raw.ts[ti], raw.values[ti]
    lr_ts, lr_v = lts[lgood], lv[lgood]
    recon = signal_at(lr_ts, lr_v, ti_ts, stepped=r.stepped)
    rev_tol = rules.abs_tol + compdev + 2 * excdev + rules.rel_tol * np.abs(ti_v)
    rev_bad = np.isfinite(recon) & (np.abs(ti_v - recon) > rev_tol)
    stuck_l: list[tuple[int, int]] = []
    stuck_t: list[tuple[int, int]] = []
    min_run = int(rules.min_run_s * 1e9)
    period = int(np.median(np.diff(raw.ts))) if len(raw.ts) > 1 else 1
    for s, e in zip(*runs(rev_bad), strict=True):
        a, b = int(ti_ts[s]), int(ti_ts[e])
        # the legacy readings whose reconstruction covers the stretch (bracketing ones included)
        lo_i = max(int(np.searchsorted(lr_ts, a, "right")) - 1, 0)
        span = lr_v[lo_i : int(np.searchsorted(lr_ts, b, "left")) + 1]
        t_span = ti_v[s : e + 1]
        if len(span) >= 2 and np.ptp(span) == 0 and np.ptp(t_span) > rev_tol[s]:
            _extend(stuck_l, a, b, float(span[0]), lr_ts, lr_v)
        elif len(span) >= 2 and np.ptp(t_span) == 0 and np.ptp(span) > rev_tol[s]:
            stuck_t.append((a, b))
    stuck_l = [(x, y) for x, y in stuck_l if y - x >= min_run]
    stuck_t = [(x, y) for x, y in stuck_t if y - x >= min_run]
    # a tag with an ExcDev or CompDev (0 included: a state reported on change) is stored by
    # exception in the legacy: silences up to CompMax are normal there
    lossy = tag.compdev is not None or tag.excdev is not None
    max_gap = max(10 * period, int(rules.comp_max_s * 1e9) + period if lossy else 0)
    gaps = _silences(lts, ti_ts, max_gap, start_ns, end_ns)
    if gaps:
        r.add(
            "gap_in_legacy",
            f"{len(gaps)} stretch(es) twinbench recorded that the legacy lacks",
            len(gaps),
            [(iso(x), iso(y)) for x, y in gaps[:10]],
        )
    t_gaps = _silences(raw.ts[t_in], lts, max(10 * period, max_gap), start_ns, end_ns)
    if t_gaps:
        r.add(
            "gap_in_twinbench",
            f"{len(t_gaps)} stretch(es) the legacy recorded that twinbench lacks",
            len(t_gaps),
            [(iso(x), iso(y)) for x, y in t_gaps[:10]],
        )
    for kind, spans, who in (
        ("stuck_in_legacy", stuck_l, "the legacy holds one value while twinbench moves"),
        ("stuck_in_twinbench", stuck_t, "twinbench holds one value while the legacy moves"),
    ):
        if spans:
            r.add(kind, who, len(spans), [(iso(x), iso(y)) for x, y in spans[:10]])
            for (
                x,
                y,
            ) in spans:  # the forward mismatches inside are the stuck sensor, not extra findings
                bad &= ~((lts >= x) & (lts <= y))

    allowed = int(rules.max_mismatch_fraction * r.compared)
    r.exact = int(exact.sum())
    r.mismatched = int(bad.sum())
    r.within_tolerance = r.compared - r.exact - r.mismatched
    worst_pool = np.flatnonzero(bad) if bad.any() else np.flatnonzero(comparable)
    if len(worst_pool):
        w = worst_pool[int(np.argmax(diff[worst_pool]))]
        r.worst_abs_diff = float(diff[w])
        r.worst_at, r.worst_legacy_value, r.worst_twinbench_value = (
            iso(int(lts[w])),
            float(lv[w] * (ratio or 1.0)),
            float(at_v[w]),
        )
    if r.mismatched > allowed:
        r.add(
            "value_mismatch",
            f"{r.mismatched} legacy values differ from twinbench by more than "
            f"{r.tolerance:.6g} (worst {r.worst_abs_diff:.6g})",
            r.mismatched,
            _ranges(lts, bad),
        )
    if r.legacy_points < r.twinbench_points and not gaps:
        r.add(
            "compressed",
            f"legacy keeps {r.legacy_points} of {r.twinbench_points} points; "
            "twinbench's values are within CompDev + 2 x ExcDev of its reconstruction",
            r.legacy_points,
        )
    return r, r.compared + int(np.isfinite(recon).sum())


def diff_store(
    engine: QueryEngine, legacy: LegacyData, start_ns: int, end_ns: int, *,
    tags: str = "*", rules: RuleSet | None = None,
    legacy_label: str = "", historian_label: str = "",
) -> DiffReport:  # fmt: skip
    """Diff every catalogue tag matching ``tags`` (and every legacy-only id) over the range."""
    rules = rules or RuleSet()
    t0 = time.perf_counter()
    results: list[TagResult] = []
    compared = 0
    known = set(legacy.names)
    claimed: set[str] = set()
    for tag in engine.tags(tags):
        ids = legacy_ids(tag)
        lid = next((i for i in ids if i in known), ids[0])
        claimed.add(lid)
        tr = rules.for_tag(tag.name)
        res, n = diff_tag(
            engine,
            tag,
            lid,
            legacy.series(lid),
            start_ns,
            end_ns,
            tr,
            has_uncertain=legacy.has_uncertain,
        )
        if legacy.rollups and res.verdict not in ("missing_in_legacy", "missing_in_twinbench"):
            compare_rollups(
                res,
                engine,
                {k: v.get(lid) for k, v in legacy.rollups.items()},
                start_ns,
                end_ns,
                tr,
            )
        res.decide()
        results.append(res)
        compared += n
    for lid in legacy.names:
        name = lid.removeprefix("ns=2;s=")
        if lid not in claimed and fnmatch.fnmatchcase(name, tags):
            s = legacy.series(lid)
            res = TagResult(name, lid, "missing_in_twinbench", legacy_points=len(s.ts) if s else 0)
            res.add(
                "gap_in_twinbench", "the legacy tag maps to no catalogue tag", res.legacy_points
            )
            results.append(res)
    return DiffReport(
        legacy_label,
        historian_label,
        iso(start_ns),
        iso(end_ns),
        results,
        compared,
        time.perf_counter() - t0,
    )
