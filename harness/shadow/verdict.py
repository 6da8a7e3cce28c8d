"""What a shadow diff says per tag: the verdict, its reasons, counts, worst differences.

The JSON form (``DiffReport.to_dict``) is schema ``twinbench.shadow/1``,
documented in ``docs/shadow.md``. Verdicts, most severe first:

- ``missing_in_twinbench`` / ``missing_in_legacy``: the tag has readings on one side only;
- ``mismatch``: at least one discrepancy (a reason whose ``kind`` is not informational);
- ``within_tolerance``: every legacy value agrees within the tolerances (compression,
  skew), but not exactly: the legacy stores fewer points, or some agreed only inside
  CompDev + ExcDev or the skew window;
- ``match``: the same readings with the same values.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

__all__ = ["INFO_KINDS", "SCHEMA", "DiffReport", "Reason", "TagResult", "Verdict", "iso"]

SCHEMA = "twinbench.shadow/1"
Verdict = Literal[
    "match", "within_tolerance", "mismatch", "missing_in_legacy", "missing_in_twinbench"
]
INFO_KINDS = frozenset({"compressed", "within_skew", "rollup_rule"})
"""Reason kinds that explain a tolerance instead of a discrepancy."""


def iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass
class Reason:
    kind: str
    """value_mismatch | duplicates | quality_disagreement | gap_in_legacy | gap_in_twinbench |
    time_offset | scale_mismatch | stuck_in_legacy | stuck_in_twinbench | rollup_mismatch |
    compressed | within_skew | rollup_rule"""
    detail: str
    count: int = 0
    ranges: list[tuple[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "detail": self.detail,
            "count": self.count,
            "ranges": [list(r) for r in self.ranges],
        }


@dataclass
class TagResult:
    tag: str
    legacy_id: str
    verdict: Verdict = "match"
    stepped: bool = False
    twinbench_points: int = 0
    legacy_points: int = 0
    compared: int = 0
    exact: int = 0
    within_tolerance: int = 0
    mismatched: int = 0
    tolerance: float = 0.0
    worst_abs_diff: float = 0.0
    worst_at: str | None = None
    worst_legacy_value: float | None = None
    worst_twinbench_value: float | None = None
    time_offset_s: float = 0.0
    scale_ratio: float = 1.0
    rollup_rule: str | None = None
    """Which average the legacy's rollups are: event | time | both | neither | None (no rollups)."""
    reasons: list[Reason] = field(default_factory=list)

    def add(
        self, kind: str, detail: str, count: int = 0, ranges: list[tuple[str, str]] | None = None
    ) -> None:
        self.reasons.append(Reason(kind, detail, count, ranges or []))

    @property
    def discrepancies(self) -> list[Reason]:
        return [r for r in self.reasons if r.kind not in INFO_KINDS]

    def decide(self) -> None:
        if self.verdict in ("missing_in_legacy", "missing_in_twinbench"):
            return
        if self.discrepancies:
            self.verdict = "mismatch"
        elif self.within_tolerance or self.legacy_points != self.twinbench_points:
            self.verdict = "within_tolerance"
        else:
            self.verdict = "match"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["reasons"] = [r.to_dict() for r in self.reasons]
        return d


@dataclass
class DiffReport:
    legacy: str
    historian: str
    start: str
    end: str
    tags: list[TagResult]
    points_compared: int = 0
    elapsed_s: float = 0.0

    @property
    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(
            ("match", "within_tolerance", "mismatch", "missing_in_legacy", "missing_in_twinbench"),
            0,
        )
        for t in self.tags:
            out[t.verdict] += 1
        return out

    @property
    def failed(self) -> bool:
        return any(t.verdict != "match" and t.verdict != "within_tolerance" for t in self.tags)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "legacy": self.legacy,
            "historian": self.historian,
            "start": self.start,
            "end": self.end,
            "summary": {
                "tags": len(self.tags),
                "verdicts": self.counts,
                "points_compared": self.points_compared,
                "elapsed_s": round(self.elapsed_s, 6),
                "points_per_s": round(self.points_compared / self.elapsed_s)
                if self.elapsed_s > 0
                else None,
            },
            "tags": [t.to_dict() for t in self.tags],
        }
