"""A synthetic shadow feed and the discrepancies a shadow run seeds on the legacy side.

:func:`shadow_feed` makes a catalogue of analog tags (CompDev/ExcDev set, as a
PI point would have them) and their 1 Hz signals: a slow sine per tag plus noise
well inside CompDev, a few Uncertain readings and a few Bad ones (NaN,
``BadSensorFailure``), so lossy legacy compression has real work and the diff
has real quality to compare. Every value is a pure function of (tag, time, seed).

:class:`Injection` is one seeded discrepancy; :func:`apply_injections` applies a
list of them to a batch (vectorised), which is what the legacy side's consumer
does to every batch before storing it. ``EXPECTED_REASON`` says which reason kind
the diff must report for each.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from historian.catalogue import TagCatalogue, TagInfo
from historian.model import PointBatch, Quality

__all__ = [
    "EXPECTED_REASON",
    "Injection",
    "InjectionKind",
    "apply_injections",
    "frozen_values",
    "shadow_feed",
]

InjectionKind = Literal["drop", "stuck", "scale", "offset", "quality"]
EXPECTED_REASON: dict[str, str] = {
    "drop": "gap_in_legacy",
    "stuck": "stuck_in_legacy",
    "scale": "scale_mismatch",
    "offset": "time_offset",
    "quality": "quality_disagreement",
}
SECONDARY_REASONS = frozenset({"rollup_mismatch", "value_mismatch"})
"""Findings that follow from an injected discrepancy (a dropped hour changes that hour's
average; a wrong quality lets a Bad value into a Good reading) and are not false alarms."""
COMPDEV = 0.05
EXCDEV = 0.01
NOISE = 0.004


@dataclass(frozen=True)
class Injection:
    kind: InjectionKind
    series: int
    lo_ns: int = 0
    hi_ns: int = 2**62
    factor: float = 1.0  # scale: legacy = twinbench x factor
    shift_ns: int = 0  # offset: legacy stamps = twinbench's + shift
    value: float = float("nan")
    """stuck: the frozen value; NaN = the last value before the window in the batch at hand
    (give it when batches are distorted one at a time, see :func:`frozen_values`)."""


def shadow_feed(
    n_tags: int, start_ns: int, seconds: int, *, seed: int = 7, period_s: float = 1.0
) -> tuple[TagCatalogue, PointBatch]:
    """The catalogue and every point of the feed, sorted by (series, ts)."""
    tags = [
        TagInfo(
            i + 1,
            f"acme.permian.north.pad01.well{i:04d}.esp.tubing_pressure",
            unit="bar",
            excdev=EXCDEV,
            compdev=COMPDEV,
            legacy_name=f"WELL{i:04d}.TP",
        )
        for i in range(n_tags)
    ]
    n = int(seconds / period_s)
    ts = start_ns + (np.arange(n, dtype=np.int64) * int(period_s * 1e9))
    rng = np.random.default_rng(seed)
    t_s = (ts - start_ns) / 1e9
    series, stamps, values, quality = [], [], [], []
    for tag in tags:
        phase = rng.uniform(0, 2 * np.pi)
        span = rng.uniform(300.0, 900.0)
        v = 50.0 + 10.0 * np.sin(2 * np.pi * t_s / span + phase) + rng.normal(0, NOISE, n)
        q = np.zeros(n, np.uint16)
        uncertain = rng.random(n) < 0.002
        bad = rng.random(n) < 0.002
        q[uncertain] = Quality.UNCERTAIN_SENSOR_NOT_ACCURATE
        q[bad] = Quality.BAD_SENSOR_FAILURE
        v[bad] = np.nan
        series.append(np.full(n, tag.id, np.uint32))
        stamps.append(ts)
        values.append(v)
        quality.append(q)
    batch = PointBatch(
        np.concatenate(series), np.concatenate(stamps), np.concatenate(values),
        np.concatenate(quality), True,
    )  # fmt: skip
    return TagCatalogue(tags), batch


def frozen_values(injections: list[Injection], feed: PointBatch) -> list[Injection]:
    """Fix each stuck injection's value to the feed's last reading before its window, so that
    distorting batch by batch freezes every batch at the same value."""
    out = []
    for inj in injections:
        if inj.kind == "stuck" and np.isnan(inj.value):
            m = (feed.series == inj.series) & (feed.ts < inj.lo_ns) & np.isfinite(feed.values)
            if m.any():
                inj = replace(inj, value=float(feed.values[m][np.argmax(feed.ts[m])]))
        out.append(inj)
    return out


def apply_injections(batch: PointBatch, injections: list[Injection]) -> PointBatch:
    """The legacy side's copy of ``batch`` with every injection applied."""
    series, ts = batch.series, batch.ts.copy()
    values, quality = batch.values.copy(), batch.quality.copy()
    keep = np.ones(len(ts), bool)
    for inj in injections:
        m = (series == inj.series) & (batch.ts >= inj.lo_ns) & (batch.ts < inj.hi_ns)
        if not m.any():
            continue
        if inj.kind == "drop":
            keep &= ~m
        elif inj.kind == "stuck":
            # the sensor froze at its last value before the window (the first one inside if none)
            before = (series == inj.series) & (batch.ts < inj.lo_ns)
            if not np.isnan(inj.value):
                frozen = inj.value
            else:
                frozen = values[before][-1] if before.any() else values[m][0]
            values[m] = np.where(np.isnan(values[m]), np.nan, frozen)
        elif inj.kind == "scale":
            values[m] *= inj.factor
        elif inj.kind == "offset":
            ts[m] += inj.shift_ns
        elif inj.kind == "quality":
            quality[m & (quality != 0)] = 0  # the legacy writer maps every status to Good
    return PointBatch(series[keep], ts[keep], values[keep], quality[keep])
