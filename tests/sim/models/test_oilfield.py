"""Oil field: physical coupling of the wells, vectorised stepping, solve_ivp vs GEKKO."""

from __future__ import annotations

import numpy as np
import pytest

from sim.models.oilfield import RATED_RPM, OilField, simulate_gekko


def test_pump_speed_drives_current_power_flow_vibration() -> None:
    m = OilField.random(2, seed=3)
    x = m.initial_state(3)
    u = m.default_inputs().reshape(4, 2)
    u[0, 1] = RATED_RPM  # well 1 speeds up from 80 % to 100 %
    x = m.simulate(x, np.array([u.reshape(-1)] * 300), 1.0)[-1]
    before = m.outputs(m.initial_state(3), m.default_inputs())
    after = m.outputs(x, u.reshape(-1))
    for key in ("motor_current", "power", "flow", "vibration", "tubing_pressure"):
        assert after[key][1] > before[key][1] * 1.05, key
        assert after[key][0] == pytest.approx(before[key][0], rel=0.01), key


def test_trip_stops_flow_and_current() -> None:
    m = OilField.random(1, seed=1)
    u = m.default_inputs()
    u[1] = 0.0  # run = 0
    xs = m.simulate(m.initial_state(1), np.array([u] * 600), 1.0)
    out = m.outputs(xs[-1], u)
    assert out["speed"][0] < 1.0
    assert out["motor_current"][0] < 0.1
    assert out["flow"][0] < 0.01 * m.p.q_rated[0]


def test_tank_integrates_flow_minus_haul() -> None:
    m = OilField.random(2, seed=2)
    x0 = m.initial_state(2)
    u = m.default_inputs().reshape(4, 2)
    u[3, 1] = 5000.0  # haul-off on well 1
    dt = 600.0
    x1 = m.step(x0, u.reshape(-1), dt)
    flow = x0.reshape(7, 2)[1]
    expect = 100.0 * (flow - u[3]) * dt / (86400.0 * m.p.tank_bbl)
    got = x1.reshape(7, 2)[3] - x0.reshape(7, 2)[3]
    np.testing.assert_allclose(got, expect, rtol=0.02)
    assert got[0] > 0 > got[1]


def test_vectorised_matches_per_well() -> None:
    # one solve over 5 wells equals five 1-well solves (the wells are independent)
    m = OilField.random(5, seed=4)
    x = m.initial_state(4)
    u = m.default_inputs().reshape(4, 5)
    u[0] = np.linspace(2000, 3600, 5)
    xa = m.step(x, u.reshape(-1), 5.0)
    for w in range(5):
        one = OilField(m.p.take(slice(w, w + 1)))
        xw = one.step(x.reshape(7, 5)[:, w].copy(), u[:, w].copy(), 5.0)
        np.testing.assert_allclose(xa.reshape(7, 5)[:, w], xw, rtol=1e-4, atol=1e-3)


@pytest.mark.slow
def test_solve_ivp_and_gekko_agree() -> None:
    m = OilField.random(2, seed=1)
    x0 = m.initial_state(1)
    n = 60
    us: np.ndarray = np.array([m.default_inputs()] * n).reshape(n, 4, 2)
    us[10:, 0, 0] = 3400.0  # setpoint change
    us[20:45, 1, 1] = 0.0  # trip and restart
    us[30:, 2, 0] = 0.5  # choke move
    us[5:, 3, 1] = 20000.0  # haul-off
    us = us.reshape(n, 8)
    live = m.simulate(x0, us, 1.0)
    ref = simulate_gekko(m, x0, us, 1.0)
    err = np.abs(live - ref).max(axis=0).reshape(7, 2)
    span = np.array([RATED_RPM, 1000.0, 160.0, 100.0, 5000.0, 100.0, 50.0])
    rel = err.max(axis=1) / span
    assert rel.max() < 0.002, rel  # within 0.2 % of each state's span
    assert np.ptp(live[:, 0]) > 400  # speed really moved
