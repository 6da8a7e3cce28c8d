"""What every plant model is: an ODE right-hand side with named states, inputs and parameters.

Models are stepped live with :func:`scipy.integrate.solve_ivp`, inputs held constant
over a step (zero-order hold, as a PLC scan would hold them). Each model module
also carries a GEKKO formulation of the same equations for offline reference runs.

Saturations are written with smooth max/min (:func:`smooth_max`) so the live
model and the GEKKO model are the *same* differentiable equations; with
``eps = 1e-3`` the difference from a hard clip is below 0.05 % of the span.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.integrate import solve_ivp

FloatArray = NDArray[np.float64]
SMOOTH_EPS = 1e-3


def smooth_max(x: Any, floor: float, eps: float = SMOOTH_EPS) -> Any:
    """max(x, floor), differentiable; works on numpy arrays and GEKKO expressions alike."""
    d = x - floor
    return floor + 0.5 * (d + (d * d + eps * eps) ** 0.5)


def smooth_min(x: Any, ceil: float, eps: float = SMOOTH_EPS) -> Any:
    d = ceil - x
    return ceil - 0.5 * (d + (d * d + eps * eps) ** 0.5)


def smooth_clip(x: Any, lo: float, hi: float, eps: float = SMOOTH_EPS) -> Any:
    return smooth_min(smooth_max(x, lo, eps), hi, eps)


class OdeModel(ABC):
    """An ODE ``dx/dt = f(t, x, u)`` with named states and inputs, stepped by solve_ivp."""

    state_names: tuple[str, ...]
    input_names: tuple[str, ...]
    method = "RK45"
    rtol = 1e-5

    @abstractmethod
    def rhs(self, t: float, x: FloatArray, u: FloatArray) -> FloatArray:
        """State derivative for state vector ``x`` and (held) input vector ``u``."""

    @abstractmethod
    def atol(self) -> FloatArray:
        """Absolute tolerance per state, in each state's units."""

    def step(self, x: FloatArray, u: FloatArray, dt: float, t: float = 0.0) -> FloatArray:
        """Advance ``x`` by ``dt`` seconds with inputs ``u`` held constant."""
        sol = solve_ivp(
            self.rhs,
            (t, t + dt),
            x,
            method=self.method,
            args=(u,),
            rtol=self.rtol,
            atol=self.atol(),
            t_eval=None,
            dense_output=False,
        )
        if not sol.success:
            raise RuntimeError(f"{type(self).__name__}: solve_ivp failed: {sol.message}")
        return np.asarray(sol.y[:, -1], dtype=np.float64)

    def simulate(self, x0: FloatArray, inputs: FloatArray, dt: float) -> FloatArray:
        """States at ``0, dt, 2dt, ...`` with ``inputs[k]`` held on ``[k dt, (k+1) dt)``.

        Returns shape ``(len(inputs) + 1, n_states)``.
        """
        out = np.empty((len(inputs) + 1, len(x0)))
        out[0] = x0
        x = np.asarray(x0, dtype=np.float64)
        for k, u in enumerate(inputs):
            x = self.step(x, np.asarray(u, dtype=np.float64), dt, k * dt)
            out[k + 1] = x
        return out


def gekko_input_grid(inputs: FloatArray, dt: float, substeps: int) -> tuple[FloatArray, FloatArray]:
    """(time grid, held input values per grid point) for a GEKKO IMODE 4 run.

    GEKKO holds a parameter's value at point j over (t_j, t_j+1) but blends it into
    the collocation nodes of the interval before, so an input step leaks slightly
    into the previous interval. Sub-dividing each ``dt`` into ``substeps`` confines
    that leak to ``dt / substeps`` (error ~ 1/substeps), matching zero-order hold.
    Results are read back at every ``substeps``-th point.
    """
    n = len(inputs)
    time = np.arange(n * substeps + 1, dtype=np.float64) * (dt / substeps)
    idx = np.minimum(np.arange(n * substeps + 1) // substeps, n - 1)
    return time, np.asarray(inputs, dtype=np.float64)[idx]
