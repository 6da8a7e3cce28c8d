"""Schedules, synthetic batches and the open-model drivers (real clock, small bounded runs)."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.load import (
    NOT_SENT,
    ScheduleError,
    SyntheticSource,
    concat,
    drive,
    drive_queries,
    poisson,
    poisson_bursts,
    ramp,
    square_wave_bursts,
    steady,
    synthetic_values,
)
from historian.model import NS_PER_SECOND as NS
from tests.harness.load.virtual_clock import VirtualClock

T0 = 1_767_225_600 * NS  # 2026-01-01


def test_steady_spacing_and_totals() -> None:
    s = steady(10_000, 500, 3.0)
    assert len(s) == 60 and s.total_points == 30_000
    assert np.all(np.diff(s.send_ns) == 50_000_000)
    assert s.duration_ns == 3 * NS and s.phase_names == ("steady",)


def test_poisson_is_seeded_and_has_the_asked_mean_rate() -> None:
    a = poisson(100_000, 100, 20.0, seed=7)
    b = poisson(100_000, 100, 20.0, seed=7)
    c = poisson(100_000, 100, 20.0, seed=8)
    assert np.array_equal(a.send_ns, b.send_ns) and not np.array_equal(a.send_ns, c.send_ns)
    # 20,000 expected batches: Poisson sd ~141, so 3 % is > 4 sd
    assert abs(len(a) - 20_000) < 600
    gaps = np.diff(a.send_ns) / 1e6
    assert abs(np.std(gaps) / np.mean(gaps) - 1.0) < 0.05  # exponential: cv = 1
    assert a.send_ns[-1] < 20 * NS


def test_square_wave_bursts_alternate_phases_at_ten_times_the_rate() -> None:
    s = square_wave_bursts(1_000, burst_s=1.0, period_s=4.0, duration_s=12.0, batch_points=10)
    spans = s.phases()
    assert [p.name for p in spans] == ["steady", "burst"] * 3
    assert [p.start_ns / NS for p in spans] == [0, 3, 4, 7, 8, 11]
    assert [p.points for p in spans] == [3_000, 10_000] * 3
    assert spans[1].nominal_rate_pts_s == 10_000


def test_poisson_bursts_cover_the_duration_reproducibly() -> None:
    kw = dict(burst_factor=10.0, mean_burst_s=0.5, mean_gap_s=2.0, duration_s=30.0, batch_points=50)
    a = poisson_bursts(2_000, seed=3, **kw)  # type: ignore[arg-type]
    b = poisson_bursts(2_000, seed=3, **kw)  # type: ignore[arg-type]
    assert np.array_equal(a.send_ns, b.send_ns)
    assert a.duration_ns == pytest.approx(30 * NS, abs=10)
    spans = a.phases()
    burst = [p for p in spans if p.name == "burst"]
    quiet = [p for p in spans if p.name == "steady"]
    burst_rate = sum(p.points for p in burst) / sum((p.end_ns - p.start_ns) / NS for p in burst)
    quiet_rate = sum(p.points for p in quiet) / sum((p.end_ns - p.start_ns) / NS for p in quiet)
    assert 4 < burst_rate / quiet_rate < 25


def test_ramp_is_geometric_with_one_phase_per_step() -> None:
    s = ramp(1_000, 16_000, steps=5, step_s=2.0, batch_points=100)
    assert s.phase_names == ("step-0", "step-1", "step-2", "step-3", "step-4")
    assert [round(r) for r in s.phase_rates] == [1_000, 2_000, 4_000, 8_000, 16_000]
    assert [p.points for p in s.phases()] == [2_000, 4_000, 8_000, 16_000, 32_000]


def test_concat_shifts_times_and_keeps_phase_names() -> None:
    s = concat([steady(100, 10, 1.0, phase="warm-up"), steady(200, 10, 2.0, phase="fault")])
    spans = s.phases()
    assert [(p.name, p.first, p.stop) for p in spans] == [("warm-up", 0, 10), ("fault", 10, 50)]
    assert s.send_ns[10] == NS and s.phase_name_of(10) == "fault"
    assert np.all(np.diff(s.send_ns) >= 0)


@pytest.mark.parametrize(
    "call",
    [
        lambda: steady(-1, 10, 1.0),
        lambda: steady(100, 0, 1.0),
        lambda: steady(100, 10, 0.0),
        lambda: ramp(10, 5, steps=3, step_s=1.0, batch_points=1),
        lambda: square_wave_bursts(10, burst_s=5, period_s=5, duration_s=10, batch_points=1),
        lambda: concat([]),
    ],
)
def test_impossible_schedules_are_refused(call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ScheduleError):
        call()


@settings(max_examples=30, deadline=None)
@given(
    n_series=st.integers(1, 50),
    sizes=st.lists(st.integers(1, 300), min_size=1, max_size=20),
    gaps=st.lists(st.integers(0, 5_000), min_size=20, max_size=20),
)
def test_synthetic_points_are_unique_and_recomputable(
    n_series: int, sizes: list[int], gaps: list[int]
) -> None:
    src = SyntheticSource(np.arange(100, 100 + n_series), seed=11, start_ns=T0)
    offsets = np.cumsum(gaps[: len(sizes)])  # intended times may be closer than the points need
    batches = [src.batch(int(o), n) for o, n in zip(offsets, sizes, strict=False)]
    s = np.concatenate([b.series for b in batches]).astype(np.int64)
    t = np.concatenate([b.ts for b in batches])
    v = np.concatenate([b.values for b in batches])
    assert len(np.unique(s * 2**40 + (t - T0))) == len(t)
    assert np.all(np.diff(t) > 0)  # strictly increasing across the whole run
    assert np.array_equal(synthetic_values(s, t, 11), v)
    # two digits, exactly: value * 100 is an integer after one rounding
    assert np.array_equal(np.round(v * 100) / 100, v)
    assert src.points_generated == sum(sizes)


def test_synthetic_source_is_deterministic_and_seed_dependent() -> None:
    a = SyntheticSource([1, 2, 3], seed=5, start_ns=T0).batch(0, 1_000)
    b = SyntheticSource([1, 2, 3], seed=5, start_ns=T0).batch(0, 1_000)
    c = SyntheticSource([1, 2, 3], seed=6, start_ns=T0).batch(0, 1_000)
    assert np.array_equal(a.values, b.values) and not np.array_equal(a.values, c.values)
    assert a.ts[0] == T0 and a.series.tolist()[:4] == [1, 2, 3, 1]


def test_start_at_stamps_points_from_the_load_start_not_construction() -> None:
    """A scenario's source is built before the services start; its first point must
    carry the load's start time, or a tier's hot window sees the data as already old."""
    src = SyntheticSource([1, 2], seed=5, start_ns=T0)
    src.start_at(T0 + 60 * 10**9)
    first = src.batch(0, 10)
    assert first.ts[0] == T0 + 60 * 10**9
    assert np.array_equal(first.values, synthetic_values(first.series, first.ts, 5))
    with pytest.raises(RuntimeError, match="after the first batch"):
        src.start_at(T0)  # would move timestamps backwards under points already sent


async def test_slow_sender_latency_is_measured_from_the_intended_time() -> None:
    """Coordinated omission: a 50 ms sender against a 10 ms schedule must show the queue.

    On a virtual clock, so the numbers are exact: batch i starts when batch i-1
    ends, (i * 50) ms, and completes at (i + 1) * 50 ms, but was due at i * 10 ms."""
    schedule = steady(100, 1, 0.2)  # 20 batches, one every 10 ms
    src = SyntheticSource([1], seed=1, start_ns=T0)
    clock = VirtualClock()

    async def slow_send(i: int, batch: object) -> None:
        await clock.sleep(0.05)

    try:
        r = await drive(schedule, slow_send, source=src, max_in_flight=1, clock=clock)
    finally:
        clock.close()
    assert r.completed == 20 and not r.errors
    service = (r.completed_ns - r.started_ns) / 1e6
    assert service.tolist() == [50.0] * 20  # what a closed loop would report
    from_intended = r.latency_from_intended_ns() / 1e6
    np.testing.assert_allclose(from_intended, 50 + 40 * np.arange(20))
    assert r.latency.summary()["max"] == pytest.approx(810, rel=0.01)
    assert r.lateness.summary()["max"] == pytest.approx(760, rel=0.01)


async def test_open_model_with_enough_concurrency_keeps_up() -> None:
    schedule = steady(100, 1, 0.2)
    src = SyntheticSource([1], seed=1, start_ns=T0)
    clock = VirtualClock()

    async def send(i: int, batch: object) -> None:
        await clock.sleep(0.05)

    try:
        r = await drive(schedule, send, source=src, max_in_flight=16, clock=clock)
    finally:
        clock.close()
    assert r.completed == 20
    # every batch starts on time and takes exactly its 50 ms of service
    assert r.lateness.summary()["max"] < 0.01  # ms (the histogram floor)
    assert r.latency.summary()["max"] == pytest.approx(50, rel=0.01)


async def test_drive_records_batches_errors_and_stops_at_the_overrun() -> None:
    schedule = steady(1_000, 10, 0.05)  # 5 batches
    src = SyntheticSource([1, 2], seed=1, start_ns=T0)
    seen: list[int] = []

    async def flaky(i: int, batch: object) -> None:
        if i == 2:
            raise ConnectionError("bus down")

    r = await drive(schedule, flaky, source=src, on_batch=lambda i, b: seen.append(len(b)))
    assert seen == [10] * 5 and r.failed.tolist() == [False, False, True, False, False]
    assert r.completed == 4 and "bus down" in r.errors[0]

    async def stuck(i: int, batch: object) -> None:
        await asyncio.sleep(10)

    r = await drive(steady(1_000, 10, 0.05), stuck, source=src, max_overrun_s=0.2)
    assert r.sent == 1 and r.completed == 0  # gave up instead of waiting 50 s
    assert np.count_nonzero(r.started_ns == NOT_SENT) == 4


async def test_query_driver_issues_each_kind_at_the_fixed_rate() -> None:
    calls = {"raw": 0, "last": 0}

    def raw() -> None:
        calls["raw"] += 1

    async def last() -> None:
        calls["last"] += 1
        await asyncio.sleep(0.001)

    def broken() -> None:
        raise RuntimeError("no such series")

    r = await drive_queries(
        {"raw": raw, "last": last, "broken": broken}, rate_qps=150, duration_s=0.4, seed=2
    )
    assert sum(r.issued.values()) == 60 and r.skipped == 0
    assert calls["raw"] == r.issued["raw"] == 20 and calls["last"] == 20
    assert r.failed == {"broken": 20, "last": 0, "raw": 0}
    assert r.latency["raw"].count == 20 and r.latency["broken"].count == 0
    assert r.latency["last"].summary()["p50"] < 100
