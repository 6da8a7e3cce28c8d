"""Process unit: PID behaviour (tracking, saturation, anti-windup) and solve_ivp vs GEKKO."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from sim.models.process_unit import ProcessUnit, simulate_gekko


def _inputs(m: ProcessUnit, n: int) -> np.ndarray:
    # level setpoint step, a temperature setpoint the steam valve cannot reach
    # (saturates at 100 %), then an outlet disturbance
    return np.array(
        [
            m.inputs(2.0 if k < 10 else 2.6, 60.0 if k < 40 else 85.0, 0.5 if k < 80 else 0.8)
            for k in range(n)
        ]
    )


def test_pid_tracks_level_setpoint() -> None:
    m = ProcessUnit()
    u = np.array([m.inputs(2.5, 60.0)] * 600)
    xs = m.simulate(m.initial_state(level=2.0), u, 1.0)
    assert abs(xs[-1, 0] - 2.5) < 0.01
    assert abs(xs[-1, 1] - 60.0) < 0.5


def _steam_valve(m: ProcessUnit, xs: np.ndarray, u: np.ndarray) -> np.ndarray:
    return np.array([m.controller_outputs(x, u[min(k, len(u) - 1)])[3] for k, x in enumerate(xs)])


def test_saturation_and_anti_windup() -> None:
    n = 500
    with_aw = ProcessUnit()
    p = with_aw.p
    without = ProcessUnit(replace(p, temp=replace(p.temp, tt=1e12)))  # tracking disabled
    # unreachable temperature for 200 s, then back to the start value
    u = np.array([with_aw.inputs(2.0, 120.0 if k < 200 else 60.0) for k in range(n)])
    xa = with_aw.simulate(with_aw.initial_state(), u, 1.0)
    xb = without.simulate(without.initial_state(), u, 1.0)
    ua, ub = _steam_valve(with_aw, xa, u), _steam_valve(without, xb, u)
    assert ua[100:200].min() > 0.99 and ub[100:200].min() > 0.99  # both saturated open
    # back-calculation holds the integrator near the limit; without it, it winds up
    assert xa[:200, 4].max() < 1.5 < 3.0 < xb[:200, 4].max()
    # so the valve leaves the limit much sooner after the setpoint drops
    first_a = 200 + int(np.argmax(ua[200:] < 0.99))
    first_b = 200 + int(np.argmax(ub[200:] < 0.99))
    assert first_a + 30 < first_b
    assert xa[first_b, 1] < xb[first_b, 1]  # and overshoots less


@pytest.mark.slow
def test_solve_ivp_and_gekko_agree() -> None:
    m = ProcessUnit()
    u = _inputs(m, 120)
    x0 = m.initial_state()
    live = m.simulate(x0, u, 1.0)
    ref = simulate_gekko(m, x0, u, 1.0)
    assert ref.shape == live.shape
    err = np.abs(live - ref).max(axis=0)
    assert err[0] < 1e-3  # level, m
    assert err[1] < 0.02  # temperature, degC
    assert np.ptp(live[:, 0]) > 0.2 and np.ptp(live[:, 1]) > 2.0  # the run really moved


def test_outputs_are_consistent() -> None:
    m = ProcessUnit()
    x = m.initial_state(level=3.0)
    out = m.outputs(x, m.inputs(3.0, 60.0))
    assert out["pressure"] == pytest.approx(1.01325 + 0.0981 * 3.0, rel=1e-3)
    assert 0.0 <= out["inlet_valve"] <= 100.0
