"""Number and time formatting, and the captions, shared by every report rendering.

One place, so a value reads the same in the Markdown and HTML tables, on the charts
and in ``report compare``.

>>> format_value(16734), format_value(3.399988296393225), format_value(None)
('16,734', '3.4', 'n/a')
>>> round_sig(3.399988296393225)
'3.4'
>>> utc_iso(1_767_225_600 * 1_000_000_000)
'2026-01-01T00:00:00Z'
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from harness.metric_keys import MetricKey

__all__ = [
    "BASELINE_KEY",
    "bytes_per_point_caption",
    "format_value",
    "round_sig",
    "started_label",
    "utc_iso",
]

BASELINE_KEY = MetricKey.BASELINE_BYTES_PER_POINT


def format_value(value: float | None) -> str:
    """Numbers as people read them: integers with separators, others to 4 significant digits."""
    if value is None:
        return "n/a"
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    if abs(value) >= 1_000:
        return f"{value:,.0f}"
    return f"{value:.4g}" if abs(value) >= 1e-3 else f"{value:.3e}"


def round_sig(value: float, digits: int = 3) -> str:
    """A label-sized number: ``digits`` significant digits, no trailing zeros (3.4, 12.7, 0.05)."""
    if not math.isfinite(value):
        return "n/a"
    return f"{value:.{digits}g}"


def utc_iso(ns: int) -> str:
    """Epoch nanoseconds as ISO 8601 UTC to the second, the form ``Report.started_utc`` holds."""
    return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def started_label(started_utc: str, *, is_load_start: bool) -> str:
    """The run's start as both renderings print it: ISO 8601 UTC, and what it is the start of.

    Reports written before the runner recorded the load's start hold the time the report
    was made (after the load); they say so rather than pass it off as the start.
    """
    if is_load_start:
        return f"{started_utc} (UTC, the start of the load: t = 0 s on the charts)"
    return f"{started_utc} (UTC, when the report was made, after the load)"


def bytes_per_point_caption(
    metrics: Mapping[str, float | None],
    thresholds: Sequence[Mapping[str, Any]],
    *,
    baseline_is: str = "The dashed line",
) -> str:
    """What the bytes/point baseline is and what it judges, so a tag type standing above the
    line next to a PASS verdict is not a puzzle. ``baseline_is`` names how it is drawn."""
    base = metrics.get(BASELINE_KEY)
    if base is None:
        return ""
    text = f"{baseline_is} is the compression baseline, {round_sig(base)} B/point"
    judged = next((t for t in thresholds if t.get("limit") == BASELINE_KEY), None)
    if judged is not None:
        verdict = "pass" if judged["passed"] else "FAIL"
        text += (
            f"; the threshold '{judged['name']}' compares `{judged['metric']}` "
            f"({format_value(judged['value'])} B/point) with it ({verdict}): it judges the "
            "store as a whole, not each tag type"
        )
    tags, points = metrics.get("plant.tags_with_data"), metrics.get("plant.points_stored")
    if tags and points:
        text += (
            f". The plant rows are per tag type, over {format_value(round(points / tags))} "
            "points per tag in this run: a series of few points costs more bytes per point "
            "than the long synthetic series, so plant tag types can stand above the baseline"
        )
    return text + "."
