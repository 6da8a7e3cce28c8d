"""Every registered scenario is consistent, schedulable, and has a CI-sized short form."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest

from harness.metrics import StepMeasurement, highest_sustained_rate
from harness.report.model import Report, evaluate
from harness.scenario import (
    FaultEvent,
    LoadPhase,
    MetricKey,
    Scenario,
    ScenarioError,
    SensorFaultMix,
)
from historian.model import NS_PER_SECOND as NS
from scenarios import UnknownScenarioError, all_scenarios, get

NAMES = [
    "noisy", "bursty", "partitioned", "crash", "stress", "shadow", "chaos", "failover", "replay",
    "edge",
]  # fmt: skip


def test_registry_lists_every_scenario_and_names_them_on_error() -> None:
    assert list(all_scenarios()) == NAMES
    with pytest.raises(UnknownScenarioError) as err:
        get("nosuch")
    assert "nosuch" in str(err.value) and all(n in str(err.value) for n in NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_full_and_short_schedules_match_their_definition(name: str) -> None:
    full = get(name)
    for s in (full, get(name, short=True)):
        sched = s.schedule()
        assert sched.duration_ns == pytest.approx(s.duration_s * NS, abs=1_000)
        assert sched.phase_names[0] == "warm-up"
        assert np.all(np.diff(sched.send_ns) >= 0) and sched.send_ns[-1] < sched.duration_ns
        warm = sched.phases()[0]
        assert warm.end_ns == pytest.approx(s.warmup_s * NS, abs=1_000)
        for f in s.faults:
            assert f.at_s >= 0 and f.end_s <= s.duration_s + 1e-9
    short = get(name, short=True)
    # a replay's short copy is its recording at a higher speed: service start-up dominates
    lowest = 10 if full.replay else 20
    assert short.is_short and lowest <= short.duration_s <= max(40, full.short_s)
    assert {p.name for p in short.schedule().phases()} <= {p.name for p in full.schedule().phases()}
    if full.short_faults is not None:  # its own short schedule: every kind, in the same phases
        assert {f.kind for f in short.faults} == {f.kind for f in full.faults}
        assert {_phase_at(short, f.at_s) for f in short.faults} <= {
            _phase_at(full, f.at_s) for f in full.faults
        }
        return
    assert [f.kind for f in short.faults] == [f.kind for f in full.faults]
    # the same faults happen in the same phase in the short form
    for f_full, f_short in zip(full.faults, short.faults, strict=True):
        assert _phase_at(full, f_full.at_s) == _phase_at(short, f_short.at_s)


def _phase_at(s: Scenario, t_s: float) -> str:
    return next(p.name for p in s.schedule().phases() if p.start_ns <= t_s * NS < p.end_ns)


@pytest.mark.parametrize("name", NAMES)
def test_every_scenario_guards_loss_and_duplicates(name: str) -> None:
    metrics = {t.metric for t in get(name).thresholds}
    assert {MetricKey.ACKED_LOST, MetricKey.DUPLICATED} <= metrics


def test_issue_thresholds_are_where_they_belong() -> None:
    by = {n: {t.metric: t for t in s.thresholds} for n, s in all_scenarios().items()}
    p99 = by["noisy"][MetricKey.P99_QUERYABLE_NOMINAL]
    assert (p99.comparator, p99.limit) == ("<", 50.0)
    assert by["noisy"][MetricKey.BYTES_PER_POINT].limit == MetricKey.BASELINE_BYTES_PER_POINT
    assert by["crash"][MetricKey.CRASH_RECOVERY_S].limit == 10.0
    drain = by["partitioned"][MetricKey.DRAIN_OVER_NOMINAL]
    assert (drain.comparator, drain.limit) == (">=", 5.0)
    assert MetricKey.STRESS_SUSTAINED in by["stress"]


def test_partitioned_cuts_both_links_and_crash_kills_historian() -> None:
    kinds = [f.kind for f in get("partitioned").faults]
    assert kinds == ["partition-collector-bus", "partition-bus-historian"]
    assert "kill-historian" in [f.kind for f in get("crash").faults]


def test_bursty_bursts_reach_ten_times_nominal() -> None:
    s = get("bursty")
    rates = {p.name: p.nominal_rate_pts_s for p in s.schedule().phases()}
    assert rates["burst"] == pytest.approx(10 * s.nominal_rate_pts_s)


def test_stress_ramp_and_sustained_rate_fit_together() -> None:
    s = get("stress")
    steps = [p for p in s.schedule().phases() if p.name.startswith("ramp-")]
    assert len(steps) == 8 and steps[0].nominal_rate_pts_s == 2 * s.nominal_rate_pts_s
    assert all(b.nominal_rate_pts_s > a.nominal_rate_pts_s for a, b in itertools.pairwise(steps))
    # load time 4-6 min: with service start-up the nox session lands in ~5-10 min
    assert 240 <= s.duration_s <= 360
    # a made-up machine that holds 20 ms p99 up to 500 k points/s
    measured = [
        StepMeasurement(
            p.name,
            p.nominal_rate_pts_s,
            p.nominal_rate_pts_s * 0.99,
            20.0 if p.nominal_rate_pts_s < 500_000 else 80.0,
        )
        for p in steps
    ]
    sustained = highest_sustained_rate(measured, p99_limit_ms=50.0)
    assert 300_000 < sustained.highest_pts_s < 500_000
    r = Report(scenario="stress", profile="stress", seed=s.seed, duration_s=s.duration_s)
    r.set_metric(MetricKey.STRESS_SUSTAINED, sustained.highest_pts_s)
    evaluate(r, [t for t in s.thresholds if t.metric == MetricKey.STRESS_SUSTAINED])
    assert r.verdict == "pass"


def test_short_ramp_keeps_fewer_but_real_steps() -> None:
    short = get("stress", short=True)
    steps = [p for p in short.schedule().phases() if p.name.startswith("ramp-")]
    assert 2 <= len(steps) <= 4 and all(p.end_ns - p.start_ns >= NS for p in steps)


def test_inconsistent_definitions_are_refused() -> None:
    base = get("crash")
    with pytest.raises(ScenarioError, match="load phases last"):
        dataclasses.replace(base, duration_s=base.duration_s + 5)
    with pytest.raises(ScenarioError, match="ends after the run"):
        dataclasses.replace(base, faults=(FaultEvent(119.0, 5.0, "kill-nats"),))
    with pytest.raises(ScenarioError, match="unknown fault kind"):
        FaultEvent(1.0, 1.0, "unplug-everything")  # type: ignore[arg-type]
    with pytest.raises(ScenarioError, match="warm-up"):
        dataclasses.replace(base, load=(LoadPhase("steady", "steady", 120.0, 1_000.0),))
    with pytest.raises(ScenarioError, match=r"0\.\.1"):
        SensorFaultMix(spikes=1.5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        base.seed = 3  # type: ignore[misc]


def test_schedules_are_reproducible_from_the_seed() -> None:
    a, b = get("noisy").schedule(), get("noisy").schedule()
    assert np.array_equal(a.send_ns, b.send_ns)
    other = dataclasses.replace(get("noisy"), seed=1).schedule()
    assert not np.array_equal(a.send_ns, other.send_ns)
