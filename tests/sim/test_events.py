"""SimPy field events and the vectorised alarm monitor."""

from __future__ import annotations

from collections import Counter

import numpy as np

from sim.events import AlarmMonitor, EventConfig, FieldEvents, FieldInputs


def _field(n: int, cfg: EventConfig, levels: np.ndarray | None = None) -> FieldEvents:
    inputs = FieldInputs(np.full(n, 2880.0), np.ones(n), np.ones(n), np.zeros(n))
    lv = levels if levels is not None else np.full(n, 30.0)
    return FieldEvents(inputs, seed=3, tank_level=lambda: lv, config=cfg)


def test_trips_restart_and_log_in_time_order() -> None:
    ev = _field(50, EventConfig(trip_mtbf_s=3600.0, restart_mean_s=300.0))
    ev.advance(4 * 3600.0)
    kinds = Counter(e.kind for e in ev.log)
    assert kinds["trip"] > 100 and kinds["restart"] > 100
    ts = [e.t_s for e in ev.log]
    assert ts == sorted(ts) and ts[-1] <= 4 * 3600.0
    for w in range(50):  # the current run state is consistent with the last event
        last = [e.kind for e in ev.log if e.well == w and e.kind in ("trip", "restart")]
        if last:
            assert ev.inputs.run[w] == (0.0 if last[-1] == "trip" else 1.0) or ev.in_maintenance[w]


def test_maintenance_stops_a_pad() -> None:
    cfg = EventConfig(trip_mtbf_s=1e12, maintenance_every_s=7200.0, maintenance_s=1800.0)
    ev = _field(20, cfg)
    starts = []
    for t in range(60, 7200, 60):
        ev.advance(float(t))
        if ev.in_maintenance.any():
            idx = np.flatnonzero(ev.in_maintenance)
            assert np.all(ev.inputs.run[idx] == 0.0)
            assert len(idx) == 10
            starts.append(t)
    assert starts
    ev.advance(7200.0 + 1800.0)
    assert any(e.kind == "maintenance_end" for e in ev.log)


def test_haul_off_dispatched_for_high_tank() -> None:
    levels = np.array([90.0, 30.0])
    ev = _field(2, EventConfig(trip_mtbf_s=1e12, truck_delay_s=(100.0, 200.0)), levels)
    ev.advance(600.0)
    assert ev.inputs.haul[0] > 0 and ev.inputs.haul[1] == 0
    levels[0] = 5.0
    ev.advance(700.0)
    assert ev.inputs.haul[0] == 0
    assert [e.kind for e in ev.log if e.well == 0] == ["haul_start", "haul_end"]


def test_shift_changes_at_six_and_eighteen() -> None:
    ev = _field(1, EventConfig(trip_mtbf_s=1e12, valve_mean_s=1e12))
    ev.advance(86400.0)
    shifts = [(e.t_s, e.note) for e in ev.log if e.kind == "shift"]
    assert shifts == [(6 * 3600.0, "day"), (18 * 3600.0, "night")]
    setpoints = [e for e in ev.log if e.kind == "setpoint"]
    day = sum(1 for e in setpoints if e.note == "day")
    assert day > len(setpoints) - day  # day shift moves setpoints more often


def test_same_seed_same_events() -> None:
    a, b = _field(30, EventConfig()), _field(30, EventConfig())
    a.advance(20000.0)
    b.advance(20000.0)
    assert a.log == b.log and len(a.log) > 10


def test_alarm_delay_and_deadband() -> None:
    nan = np.array([np.nan])
    mon = AlarmMonitor(np.array([95.0]), np.array([80.0]), nan, nan, np.array([2.0]),
                       np.array([3.0]))  # fmt: skip
    seq = [79, 81, 82, 83, 84, 79, 81, 79.5, 77.9, 77]
    got = []
    for t, v in enumerate(seq):
        got += [(t, e.level, e.active) for e in mon.update(np.array([float(v)]), float(t))]
    # raised after 3 s above 80 (t=1..4), stays through 79/79.5 (deadband), clears < 78
    assert got == [(4, "HI", True), (8, "HI", False)]


def test_alarm_lo_lolo() -> None:
    nan = np.array([np.nan, np.nan])
    mon = AlarmMonitor(nan, nan, np.array([10.0, 10.0]), np.array([5.0, 5.0]),
                       np.array([1.0, 1.0]), np.array([0.0, 0.0]))  # fmt: skip
    ev = mon.update(np.array([4.0, 8.0]), 0.0)
    assert sorted((e.tag_index, e.level) for e in ev) == [(0, "LO"), (0, "LOLO"), (1, "LO")]
