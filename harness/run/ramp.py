"""The stress ramp's measurement: what each ramp step achieved, from the run's state.

The judgement of those steps (the highest sustained rate, the first step that
broke) is :func:`harness.metrics.highest_sustained_rate`; this module turns the
runner's per-batch records into its :class:`~harness.metrics.StepMeasurement`
inputs. The runner calls it while the load runs (to stop a ramp that broke) and
once at the end (for the report), so both judge the same figures.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from harness.load.schedule import Schedule
from harness.metrics import LatencyHistogram, StepMeasurement
from harness.report.model import Threshold
from harness.run.state import RunState
from harness.scenario import MetricKey
from historian.model import NS_PER_SECOND as NS

RAMP_GRACE_S = 3.0  # a ramp step is judged this long after it ends (its last batches land)
DEFAULT_P99_LIMIT_MS = 50.0  # when the scenario names no nominal p99 threshold


def p99_limit_ms(thresholds: Sequence[Threshold]) -> float:
    """The nominal publish->queryable p99 limit a ramp step must stay under."""
    for t in thresholds:
        if t.metric == MetricKey.P99_QUERYABLE_NOMINAL and not isinstance(t.limit, str):
            return float(t.limit)
    return DEFAULT_P99_LIMIT_MS


def measure_ramp_steps(
    schedule: Schedule,
    state: RunState,
    *,
    now_ns: int,
    stopped_at: int | None,
    final: bool = False,
) -> list[StepMeasurement]:
    """Offered/achieved rate and p99 of each ramp step that has ended (+ grace).

    A batch of the step that is not queryable yet counts with the latency it has
    at least (now - intended send time), so a step can be judged right after it
    ends without waiting for its stragglers, and is never judged too kindly.
    ``stopped_at`` is the first phase index the runner cut short (not judged);
    ``final`` (all data is in) drops the grace.
    """
    steps = []
    for k, name in enumerate(schedule.phase_names):
        if not name.startswith("ramp"):
            continue
        if stopped_at is not None and k >= stopped_at:
            break  # cut short by the stop: nothing to judge
        start, end = schedule.phase_bounds_ns[k]
        grace = 0 if final else int(RAMP_GRACE_S * NS)  # at the end, all data is in
        if now_ns < state.origin_wall_ns + end + grace:
            break  # a step still running (or just ended) is not judged
        infos = state.batches_by_phase.get(k, [])
        hist = LatencyHistogram()
        hist.merge(state.phase_hists.get(k, LatencyHistogram()))
        pending = [now_ns - i.intended_wall_ns for i in infos if not i.applied_ns]
        if pending:
            hist.record_many_ns(np.array(pending, dtype=np.int64))
        applied = state.applied_points_by_phase.get(k, [])
        pts = sum(n for _, n in applied)
        last = max((t for t, _ in applied), default=state.origin_wall_ns + end)
        span = max(last - (state.origin_wall_ns + start), end - start)
        p99 = hist.percentile_ms(99.0) if hist.count else float("inf")
        steps.append(StepMeasurement(name, schedule.phase_rates[k], pts / (span / NS), p99))
    return steps
