"""The oil field: N electric-submersible-pump wells in one numpy state vector.

Each well is physically coupled: the pump speed (a first-order lag behind
``setpoint * run``) drives the gross liquid flow, motor power and current, and
vibration; flow drives wellhead temperature and tubing pressure; the tank level
integrates flow minus truck haul-off. Water cut creeps up with production and
pump wear raises vibration over time.

States (each a block of N, stacked): ``speed`` rpm, ``flow`` bbl/d (gross liquid),
``temperature`` degF, ``tank_level`` %, ``casing_pressure`` psi, ``water_cut`` %,
``wear`` mm/s. Inputs (blocks of N): ``speed_sp`` rpm, ``run`` 0/1, ``choke`` 0..1,
``haul`` bbl/d. Equations (s = speed / rated_speed)::

    speed'  = (speed_sp run - speed) / tau_motor
    flow'   = (q_rated smax((s - s0) / (1 - s0), 0) choke - flow) / tau_flow
    temp'   = (T_amb + (T_res - T_amb) flow / (flow + q_half) - temp) / tau_temp
    level'  = 100 (flow g_full - haul g_empty) / (86400 tank_bbl)
    pc'     = (p_line + k_casing oil - pc) / tau_casing
    wc'     = wc_rate (wc_max - wc) s
    wear'   = k_wear s^2
    oil = flow (1 - wc/100);  gas = gor oil / 1000
    p_tubing = p_line + k_fric flow^2 / (choke^2 + 0.01)
    power = p_noload s + p_rated s^3 (0.85 + 0.15 wc/100)
    current = 1000 power / (sqrt(3) V pf);  vibration = vib0 s + vib_k s^2 + wear

``g_full`` and ``g_empty`` are smooth steps that stop the tank overfilling or
running dry. One solve_ivp call steps every well at once.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from sim.models.base import FloatArray, OdeModel, gekko_input_grid, smooth_max

STATES = ("speed", "flow", "temperature", "tank_level", "casing_pressure", "water_cut", "wear")
INPUTS = ("speed_sp", "run", "choke", "haul")
RATED_RPM = 3600.0
MOTOR_V = 1000.0
POWER_FACTOR = 0.85
MIN_SPEED_RATIO = 0.25  # below this the pump makes no lift


@dataclass(frozen=True)
class WellParams:
    """Per-well parameters, each an array of length N."""

    q_rated: FloatArray  # bbl/d gross liquid at rated speed, choke open
    tau_motor: FloatArray  # s
    tau_flow: FloatArray  # s
    tau_temp: FloatArray  # s
    t_amb: FloatArray  # degF
    t_res: FloatArray  # degF
    q_half: FloatArray  # bbl/d
    tank_bbl: FloatArray  # bbl
    p_line: FloatArray  # psi
    k_fric: FloatArray  # psi / (bbl/d)^2
    k_casing: FloatArray  # psi per bbl/d oil
    tau_casing: FloatArray  # s
    wc_max: FloatArray  # %
    wc_rate: FloatArray  # 1/s
    k_wear: FloatArray  # mm/s per s
    gor: FloatArray  # scf/bbl
    p_rated: FloatArray  # kW
    p_noload: FloatArray  # kW
    vib0: FloatArray  # mm/s
    vib_k: FloatArray  # mm/s

    @classmethod
    def random(cls, wells: int, seed: int) -> WellParams:
        """Plausible, varied wells; the same (wells, seed) gives the same field."""
        r = np.random.default_rng([seed, 0x0111F1E1D])
        u = r.uniform
        q = u(300.0, 900.0, wells)
        return cls(
            q_rated=q,
            tau_motor=u(3.0, 8.0, wells),
            tau_flow=u(40.0, 120.0, wells),
            tau_temp=u(300.0, 900.0, wells),
            t_amb=np.full(wells, 70.0),
            t_res=u(150.0, 190.0, wells),
            q_half=u(150.0, 300.0, wells),
            tank_bbl=u(400.0, 1000.0, wells),
            p_line=u(100.0, 200.0, wells),
            k_fric=u(800.0, 2000.0, wells) / q**2,
            k_casing=u(0.3, 0.8, wells),
            tau_casing=u(900.0, 2400.0, wells),
            wc_max=u(85.0, 98.0, wells),
            wc_rate=u(1e-8, 5e-8, wells),
            k_wear=u(1e-7, 5e-7, wells),
            gor=u(300.0, 1500.0, wells),
            p_rated=u(60.0, 150.0, wells),
            p_noload=u(3.0, 8.0, wells),
            vib0=u(0.5, 1.5, wells),
            vib_k=u(3.0, 8.0, wells),
        )

    def take(self, index: slice | np.ndarray) -> WellParams:
        return WellParams(**{f.name: getattr(self, f.name)[index] for f in fields(self)})


def _step_up(x: Any, at: float, width: float) -> Any:
    return 0.5 * (1.0 + np.tanh((x - at) / width))


class OilField(OdeModel):
    state_names = STATES
    input_names = INPUTS

    def __init__(self, params: WellParams) -> None:
        self.p = params
        self.n = len(params.q_rated)
        self._atol = np.repeat([1e-3, 1e-3, 1e-4, 1e-5, 1e-3, 1e-6, 1e-7], self.n)

    @classmethod
    def random(cls, wells: int, seed: int = 0) -> OilField:
        return cls(WellParams.random(wells, seed))

    def atol(self) -> FloatArray:
        return self._atol

    def initial_state(self, seed: int = 0, speed_ratio: float = 0.8, salt: int = 0) -> FloatArray:
        """Steady state at ``speed_ratio`` of rated speed, tanks partly full.

        ``salt`` (e.g. the first well's number) separates fields built from one seed.
        """
        p, n = self.p, self.n
        r = np.random.default_rng([seed, 0x57A7E, salt])
        speed = np.full(n, speed_ratio * RATED_RPM)
        flow = p.q_rated * max(speed_ratio - MIN_SPEED_RATIO, 0.0) / (1 - MIN_SPEED_RATIO)
        temp = p.t_amb + (p.t_res - p.t_amb) * flow / (flow + p.q_half)
        level = r.uniform(10.0, 60.0, n)
        wc = r.uniform(20.0, 80.0, n)
        pc = p.p_line + p.k_casing * flow * (1 - wc / 100)
        wear = r.uniform(0.0, 2.0, n)
        return np.concatenate([speed, flow, temp, level, pc, wc, wear])

    def default_inputs(self, speed_ratio: float = 0.8) -> FloatArray:
        n = self.n
        return np.concatenate(
            [np.full(n, speed_ratio * RATED_RPM), np.ones(n), np.ones(n), np.zeros(n)]
        )

    def rhs(self, t: float, x: FloatArray, u: FloatArray) -> FloatArray:
        p, n = self.p, self.n
        speed, flow, temp, level, pc, wc, _ = x.reshape(7, n)
        sp, run, choke, haul = u.reshape(4, n)
        s = speed / RATED_RPM
        lift = smooth_max((s - MIN_SPEED_RATIO) / (1 - MIN_SPEED_RATIO), 0.0)
        oil = flow * (1.0 - wc / 100.0)
        out = np.empty_like(x).reshape(7, n)
        out[0] = (sp * run - speed) / p.tau_motor
        out[1] = (p.q_rated * lift * choke - flow) / p.tau_flow
        out[2] = (p.t_amb + (p.t_res - p.t_amb) * flow / (flow + p.q_half) - temp) / p.tau_temp
        inflow = flow * (1.0 - _step_up(level, 99.0, 0.3))
        outflow = haul * _step_up(level, 1.0, 0.3)
        out[3] = 100.0 * (inflow - outflow) / (86400.0 * p.tank_bbl)
        out[4] = (p.p_line + p.k_casing * oil - pc) / p.tau_casing
        out[5] = p.wc_rate * (p.wc_max - wc) * s
        out[6] = p.k_wear * s * s
        return out.reshape(-1)

    def outputs(self, x: FloatArray, u: FloatArray) -> dict[str, FloatArray]:
        """Every measured quantity per well, engineering units, keyed by tag sensor name."""
        p, n = self.p, self.n
        speed, flow, temp, level, pc, wc, wear = x.reshape(7, n)
        sp, _, choke, _ = u.reshape(4, n)
        s = np.maximum(speed, 0.0) / RATED_RPM
        oil = flow * (1.0 - wc / 100.0)
        power = p.p_noload * s + p.p_rated * s**3 * (0.85 + 0.15 * wc / 100.0)
        return {
            "tubing_pressure": p.p_line + p.k_fric * flow**2 / (choke**2 + 0.01),
            "casing_pressure": pc,
            "temperature": temp,
            "tank_level": level,
            "gas": p.gor * oil / 1000.0,
            "oil": oil,
            "water_cut": wc,
            "motor_current": 1000.0 * power / (np.sqrt(3.0) * MOTOR_V * POWER_FACTOR),
            "vibration": p.vib0 * s + p.vib_k * s * s + wear,
            "pump_speed": sp,
            "flow": flow,
            "power": power,
            "speed": speed,
        }


def simulate_gekko(
    model: OilField,
    x0: FloatArray,
    inputs: FloatArray,
    dt: float,
    nodes: int = 3,
    substeps: int = 4,
) -> FloatArray:
    """The same field in GEKKO (IMODE 4), for reference runs on a few wells.

    ``inputs[k]`` (length 4N) is held on ``[k dt, (k+1) dt)``. Blocks: run it off
    any event loop. Returns states at ``0, dt, ...``, shape ``(len(inputs)+1, 7N)``.
    """
    from gekko import GEKKO

    p, n = model.p, model.n
    m = GEKKO(remote=False)
    try:
        m.time, held = gekko_input_grid(inputs, dt, substeps)
        xs = x0.reshape(7, n)
        states: list[list[Any]] = [[] for _ in range(7)]
        for w in range(n):
            sp, run, choke, haul = (m.Param(value=held[:, j * n + w]) for j in range(4))
            speed, flow, temp, level, pc, wc, wear = (
                m.Var(value=float(xs[j, w])) for j in range(7)
            )
            for j, v in enumerate((speed, flow, temp, level, pc, wc, wear)):
                states[j].append(v)
            s = m.Intermediate(speed / RATED_RPM)
            lift = m.Intermediate(smooth_max((s - MIN_SPEED_RATIO) / (1 - MIN_SPEED_RATIO), 0.0))
            oil = m.Intermediate(flow * (1.0 - wc / 100.0))
            g_full = 0.5 * (1.0 - m.tanh((level - 99.0) / 0.3))
            g_empty = 0.5 * (1.0 + m.tanh((level - 1.0) / 0.3))
            m.Equation(p.tau_motor[w] * speed.dt() == sp * run - speed)
            m.Equation(p.tau_flow[w] * flow.dt() == p.q_rated[w] * lift * choke - flow)
            m.Equation(
                p.tau_temp[w] * (flow + p.q_half[w]) * temp.dt()
                == (p.t_amb[w] - temp) * (flow + p.q_half[w]) + (p.t_res[w] - p.t_amb[w]) * flow
            )
            m.Equation(
                86400.0 * p.tank_bbl[w] * level.dt() == 100.0 * (flow * g_full - haul * g_empty)
            )
            m.Equation(p.tau_casing[w] * pc.dt() == p.p_line[w] + p.k_casing[w] * oil - pc)
            m.Equation(wc.dt() == p.wc_rate[w] * (p.wc_max[w] - wc) * s)
            m.Equation(wear.dt() == p.k_wear[w] * s * s)
        m.options.IMODE = 4
        m.options.NODES = nodes
        m.options.SOLVER = 3
        m.solve(disp=False)
        cols = [np.array(list(v.value))[::substeps] for blk in states for v in blk]
        return np.column_stack(cols)
    finally:
        m.cleanup()
