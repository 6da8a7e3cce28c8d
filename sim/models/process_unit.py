"""Process unit: a heated buffer tank with a level loop and a temperature loop.

Water enters through an inlet valve (PID on level), leaves by gravity through an
outlet valve (a disturbance input), and is heated by a steam coil (PID on
temperature). Both controllers are PID in parallel form with derivative on a
filtered measurement, output saturation to 0..1 and back-calculation anti-windup::

    v   = Kp e + I - Kp Td (y - yf) / Tf        (unsaturated output)
    u   = sat(v)                                (valve position 0..1)
    I'  = Kp / Ti e + (u - v) / Tt              (back-calculation stops windup)
    yf' = (y - yf) / Tf

Plant::

    h' = (q_in - q_out) / A,   q_in = q_max u_L,   q_out = k_out u_out sqrt(h)
    T' = q_in (T_in - T) / (A h) + UA u_T (T_steam - T) / (rho cp A h)
    p  = p_atm + rho g h                        (bottom pressure, algebraic)

>>> m = ProcessUnit()
>>> x = m.initial_state()
>>> u = m.inputs(level_sp=2.0, temp_sp=60.0, outlet=0.5)
>>> x2 = m.step(x, u, 1.0)
>>> bool(abs(x2[0] - x[0]) < 0.05)
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.models.base import FloatArray, OdeModel, gekko_input_grid, smooth_clip, smooth_max

RHO_CP = 4.18e6  # J/(m3 K), water
RHO_G = 1000.0 * 9.81  # Pa per m of water
P_ATM_BAR = 1.01325


@dataclass(frozen=True, slots=True)
class PidGains:
    kp: float
    ti: float  # s
    td: float  # s
    tf: float  # s, derivative filter
    tt: float  # s, anti-windup tracking time


@dataclass(frozen=True, slots=True)
class ProcessUnitParams:
    area: float = 2.0  # m2
    q_in_max: float = 0.03  # m3/s with the inlet valve fully open
    k_out: float = 0.012  # m2.5/s: q_out = k_out u_out sqrt(h)
    ua: float = 60e3  # W/K with the steam valve fully open
    t_steam: float = 150.0  # degC
    level: PidGains = PidGains(kp=1.5, ti=40.0, td=2.0, tf=1.0, tt=20.0)
    temp: PidGains = PidGains(kp=0.08, ti=120.0, td=0.0, tf=1.0, tt=60.0)


class ProcessUnit(OdeModel):
    state_names = ("level", "temperature", "level_i", "level_yf", "temp_i", "temp_yf")
    input_names = ("level_sp", "temp_sp", "outlet", "t_in")

    def __init__(self, params: ProcessUnitParams | None = None) -> None:
        self.p = params or ProcessUnitParams()

    def initial_state(self, level: float = 2.0, temperature: float = 60.0) -> FloatArray:
        # integrators start at the steady-state valve positions so t=0 is quiet
        p = self.p
        q_out = p.k_out * 0.5 * np.sqrt(level)
        u_l = q_out / p.q_in_max
        heat = q_out * (temperature - 20.0) * RHO_CP / (p.ua * (p.t_steam - temperature))
        return np.array([level, temperature, u_l, level, heat, temperature], dtype=np.float64)

    def inputs(
        self, level_sp: float, temp_sp: float, outlet: float = 0.5, t_in: float = 20.0
    ) -> FloatArray:
        return np.array([level_sp, temp_sp, outlet, t_in], dtype=np.float64)

    def atol(self) -> FloatArray:
        return np.array([1e-6, 1e-5, 1e-7, 1e-6, 1e-7, 1e-5])

    def controller_outputs(self, x: Any, u: Any, xp: Any = np) -> tuple[Any, Any, Any, Any]:
        """(v_level, u_level, v_temp, u_temp): unsaturated and saturated valve commands."""
        h, temp, i_l, yf_l, i_t, yf_t = x
        gl, gt = self.p.level, self.p.temp
        v_l = gl.kp * (u[0] - h) + i_l - gl.kp * gl.td * (h - yf_l) / gl.tf
        v_t = gt.kp * (u[1] - temp) + i_t - gt.kp * gt.td * (temp - yf_t) / gt.tf
        return v_l, smooth_clip(v_l, 0.0, 1.0), v_t, smooth_clip(v_t, 0.0, 1.0)

    def rhs(self, t: float, x: FloatArray, u: FloatArray) -> FloatArray:
        p = self.p
        h, temp, _, yf_l, _, yf_t = x
        v_l, u_l, v_t, u_t = self.controller_outputs(x, u)
        hs = smooth_max(h, 0.01)
        q_in = p.q_in_max * u_l
        q_out = p.k_out * u[2] * np.sqrt(hs)
        vol = p.area * hs
        gl, gt = p.level, p.temp
        return np.array(
            [
                (q_in - q_out) / p.area,
                q_in * (u[3] - temp) / vol + p.ua * u_t * (p.t_steam - temp) / (RHO_CP * vol),
                gl.kp / gl.ti * (u[0] - h) + (u_l - v_l) / gl.tt,
                (h - yf_l) / gl.tf,
                gt.kp / gt.ti * (u[1] - temp) + (u_t - v_t) / gt.tt,
                (temp - yf_t) / gt.tf,
            ]
        )

    def outputs(self, x: FloatArray, u: FloatArray) -> dict[str, float]:
        """Measured quantities in engineering units (m, degC, bar, m3/h, %)."""
        p = self.p
        _, u_l, _, u_t = self.controller_outputs(x, u)
        h = float(x[0])
        return {
            "level": h,
            "temperature": float(x[1]),
            "pressure": P_ATM_BAR + RHO_G * max(h, 0.0) / 1e5,
            "inflow": float(p.q_in_max * u_l * 3600.0),
            "outflow": float(p.k_out * u[2] * np.sqrt(max(h, 0.0)) * 3600.0),
            "inlet_valve": float(u_l * 100.0),
            "steam_valve": float(u_t * 100.0),
        }


def simulate_gekko(
    model: ProcessUnit,
    x0: FloatArray,
    inputs: FloatArray,
    dt: float,
    nodes: int = 3,
    substeps: int = 4,
) -> FloatArray:
    """The same model in GEKKO (IMODE 4 dynamic simulation), for reference runs.

    ``inputs[k]`` is held on ``[k dt, (k+1) dt)``, as in :meth:`OdeModel.simulate`.
    Blocks for a solve (seconds): call it off any event loop. Returns the states at
    ``0, dt, ...``, shape ``(len(inputs) + 1, 6)``.
    """
    from gekko import GEKKO

    p = model.p
    m = GEKKO(remote=False)
    try:
        m.time, held = gekko_input_grid(inputs, dt, substeps)
        sp_l, sp_t, outlet, t_in = (m.Param(value=held[:, j]) for j in range(4))
        h, temp, i_l, yf_l, i_t, yf_t = (m.Var(value=float(v)) for v in x0)
        gl, gt = p.level, p.temp
        v_l = m.Intermediate(gl.kp * (sp_l - h) + i_l - gl.kp * gl.td * (h - yf_l) / gl.tf)
        v_t = m.Intermediate(gt.kp * (sp_t - temp) + i_t - gt.kp * gt.td * (temp - yf_t) / gt.tf)
        u_l = m.Intermediate(smooth_clip(v_l, 0.0, 1.0))
        u_t = m.Intermediate(smooth_clip(v_t, 0.0, 1.0))
        hs = m.Intermediate(smooth_max(h, 0.01))
        q_in = m.Intermediate(p.q_in_max * u_l)
        vol = m.Intermediate(p.area * hs)
        m.Equation(h.dt() == (q_in - p.k_out * outlet * m.sqrt(hs)) / p.area)
        m.Equation(
            vol * temp.dt() == q_in * (t_in - temp) + p.ua * u_t * (p.t_steam - temp) / RHO_CP
        )
        m.Equation(i_l.dt() == gl.kp / gl.ti * (sp_l - h) + (u_l - v_l) / gl.tt)
        m.Equation(yf_l.dt() == (h - yf_l) / gl.tf)
        m.Equation(i_t.dt() == gt.kp / gt.ti * (sp_t - temp) + (u_t - v_t) / gt.tt)
        m.Equation(yf_t.dt() == (temp - yf_t) / gt.tf)
        m.options.IMODE = 4
        m.options.NODES = nodes
        m.options.SOLVER = 3
        m.solve(disp=False)
        return np.column_stack(
            [np.array(list(v.value))[::substeps] for v in (h, temp, i_l, yf_l, i_t, yf_t)]
        )
    finally:
        m.cleanup()
