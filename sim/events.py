"""Discrete events on the oil field (SimPy) and alarm limits.

SimPy processes change the model's inputs: pump trips and restarts, choke
valve moves, operator setpoint changes (more by day shift than night shift),
shift changes, maintenance windows per pad (pumps stopped, no restarts) and
truck haul-off when a tank runs high. They run inside the twin's tick with
``env.run(until=t)`` on a plain :class:`simpy.Environment`; the blocking
``RealtimeEnvironment`` is never used. Everything random comes from one seeded
generator, so a seed fixes the event sequence.

:class:`AlarmMonitor` evaluates HI/HIHI/LO/LOLO limits with deadband and
on-delay, vectorised over tags.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import simpy
from numpy.typing import NDArray

from sim.models.oilfield import RATED_RPM

FloatArray = NDArray[np.float64]
DAY_S = 86400.0


@dataclass(frozen=True, slots=True)
class EventRecord:
    t_s: float  # sim seconds since twin start
    kind: str  # trip, restart, valve, setpoint, shift, maintenance_start/_end, haul_start/_end
    well: int  # local well index, -1 for field-wide
    value: float = float("nan")
    note: str = ""


@dataclass(frozen=True, slots=True)
class EventConfig:
    trip_mtbf_s: float = 8 * 3600.0
    restart_mean_s: float = 600.0
    valve_mean_s: float = 6 * 3600.0
    operator_mean_s_day: float = 600.0  # one setpoint change per 10 min on day shift
    operator_mean_s_night: float = 3600.0
    day_shift_start_h: float = 6.0
    night_shift_start_h: float = 18.0
    maintenance_every_s: float = 24 * 3600.0  # per pad
    maintenance_s: float = 3600.0
    haul_check_s: float = 300.0
    haul_high_pct: float = 75.0
    haul_low_pct: float = 10.0
    haul_bbl_per_day: float = 7200.0
    truck_delay_s: tuple[float, float] = (1800.0, 5400.0)
    wells_per_pad: int = 10


@dataclass
class FieldInputs:
    """The model inputs events act on; arrays of one entry per well."""

    speed_sp: FloatArray
    run: FloatArray
    choke: FloatArray
    haul: FloatArray

    def vector(self) -> FloatArray:
        return np.concatenate([self.speed_sp, self.run, self.choke, self.haul])


@dataclass
class FieldEvents:
    """All discrete-event processes of a field; ``advance(t)`` runs them up to ``t`` seconds."""

    inputs: FieldInputs
    seed: int
    tank_level: Callable[[], FloatArray]
    start_time_of_day_s: float = 0.0
    config: EventConfig = field(default_factory=EventConfig)
    log: list[EventRecord] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.env = simpy.Environment()
        self.rng = random.Random(self.seed * 7919 + 17)
        self.n = len(self.inputs.run)
        self.in_maintenance = np.zeros(self.n, dtype=bool)
        self.tripped = np.zeros(self.n, dtype=bool)
        self.truck = np.zeros(self.n, dtype=bool)
        for w in range(self.n):
            self.env.process(self._trips(w))
            self.env.process(self._valve(w))
        for first in range(0, self.n, self.config.wells_per_pad):
            self.env.process(self._maintenance(first))
        self.env.process(self._operator())
        self.env.process(self._shifts())
        self.env.process(self._haul_dispatch())

    def advance(self, until_s: float) -> None:
        if until_s > self.env.now:
            self.env.run(until=until_s)

    def _record(self, kind: str, well: int, value: float = float("nan"), note: str = "") -> None:
        self.log.append(EventRecord(float(self.env.now), kind, well, value, note))

    def _trips(self, w: int) -> Generator[simpy.Event, Any, None]:
        cfg = self.config
        while True:
            yield self.env.timeout(self.rng.expovariate(1.0 / cfg.trip_mtbf_s))
            if self.inputs.run[w] == 0.0:
                continue
            self.inputs.run[w] = 0.0
            self.tripped[w] = True
            self._record("trip", w, note=self.rng.choice(["overload", "underload", "ground"]))
            yield self.env.timeout(self.rng.expovariate(1.0 / cfg.restart_mean_s))
            while self.in_maintenance[w]:
                yield self.env.timeout(60.0)
            self.tripped[w] = False
            self.inputs.run[w] = 1.0
            self._record("restart", w)

    def restart_later(self, w: int, reason: str) -> Generator[simpy.Event, Any, None]:
        """A trip from outside (interlock): log it, restart after the usual delay."""
        self._record("trip", w, note=reason)
        yield self.env.timeout(self.rng.expovariate(1.0 / self.config.restart_mean_s))
        while self.in_maintenance[w]:
            yield self.env.timeout(60.0)
        self.tripped[w] = False
        self.inputs.run[w] = 1.0
        self._record("restart", w)

    def _valve(self, w: int) -> Generator[simpy.Event, Any, None]:
        while True:
            yield self.env.timeout(self.rng.expovariate(1.0 / self.config.valve_mean_s))
            pos = round(self.rng.uniform(0.4, 1.0), 2)
            self.inputs.choke[w] = pos
            self._record("valve", w, pos)

    def is_day_shift(self, t_s: float | None = None) -> bool:
        cfg = self.config
        t = self.env.now if t_s is None else t_s
        hour = ((self.start_time_of_day_s + t) % DAY_S) / 3600.0
        return cfg.day_shift_start_h <= hour < cfg.night_shift_start_h

    def _operator(self) -> Generator[simpy.Event, Any, None]:
        cfg = self.config
        while True:
            mean = cfg.operator_mean_s_day if self.is_day_shift() else cfg.operator_mean_s_night
            yield self.env.timeout(self.rng.expovariate(1.0 / mean))
            w = self.rng.randrange(self.n)
            new = self.inputs.speed_sp[w] * self.rng.uniform(0.9, 1.1)
            new = round(min(max(new, 0.5 * RATED_RPM), RATED_RPM), 1)
            self.inputs.speed_sp[w] = new
            self._record("setpoint", w, new, "day" if self.is_day_shift() else "night")

    def _shifts(self) -> Generator[simpy.Event, Any, None]:
        cfg = self.config
        while True:
            tod = (self.start_time_of_day_s + self.env.now) % DAY_S
            nxt = min(
                (h * 3600.0 - tod) % DAY_S or DAY_S
                for h in (cfg.day_shift_start_h, cfg.night_shift_start_h)
            )
            yield self.env.timeout(nxt)
            self._record("shift", -1, note="day" if self.is_day_shift() else "night")

    def _maintenance(self, first: int) -> Generator[simpy.Event, Any, None]:
        cfg = self.config
        wells = slice(first, min(first + cfg.wells_per_pad, self.n))
        yield self.env.timeout(self.rng.uniform(0.0, cfg.maintenance_every_s))
        while True:
            saved = self.inputs.run[wells].copy()
            self.in_maintenance[wells] = True
            self.inputs.run[wells] = 0.0
            self._record("maintenance_start", first)
            yield self.env.timeout(cfg.maintenance_s)
            self.in_maintenance[wells] = False
            # pumps that were running (or only tripped meanwhile) come back
            self.inputs.run[wells] = np.where(self.tripped[wells], 0.0, np.maximum(saved, 0.0))
            self._record("maintenance_end", first)
            yield self.env.timeout(cfg.maintenance_every_s - cfg.maintenance_s)

    def _haul_dispatch(self) -> Generator[simpy.Event, Any, None]:
        cfg = self.config
        while True:
            yield self.env.timeout(cfg.haul_check_s)
            levels = self.tank_level()
            for w in np.flatnonzero((levels > cfg.haul_high_pct) & ~self.truck):
                self.truck[w] = True
                self.env.process(self._haul(int(w)))

    def _haul(self, w: int) -> Generator[simpy.Event, Any, None]:
        cfg = self.config
        yield self.env.timeout(self.rng.uniform(*cfg.truck_delay_s))
        self.inputs.haul[w] = cfg.haul_bbl_per_day
        self._record("haul_start", w, float(self.tank_level()[w]))
        while self.tank_level()[w] > cfg.haul_low_pct:
            yield self.env.timeout(60.0)
        self.inputs.haul[w] = 0.0
        self.truck[w] = False
        self._record("haul_end", w, float(self.tank_level()[w]))


LEVELS = ("HIHI", "HI", "LO", "LOLO")


@dataclass(frozen=True, slots=True)
class AlarmEvent:
    t_s: float
    tag_index: int  # index into the monitored tag list
    level: str  # HIHI, HI, LO, LOLO
    active: bool  # True = raised, False = cleared
    value: float


class AlarmMonitor:
    """HI/HIHI/LO/LOLO with deadband and on-delay for many tags at once.

    A limit raises after its condition held for ``delay_s``; it clears (at once)
    when the value is back inside the limit by more than ``deadband``. NaN limits
    are unused.
    """

    def __init__(
        self,
        hihi: FloatArray,
        hi: FloatArray,
        lo: FloatArray,
        lolo: FloatArray,
        deadband: FloatArray,
        delay_s: FloatArray,
    ) -> None:
        self.limits = np.vstack([hihi, hi, lo, lolo]).astype(np.float64)
        self.above = np.array([True, True, False, False])[:, None]
        self.deadband = np.asarray(deadband, dtype=np.float64)
        self.delay_s = np.asarray(delay_s, dtype=np.float64)
        self.active = np.zeros(self.limits.shape, dtype=bool)
        self.pending_since = np.full(self.limits.shape, np.nan)

    def update(self, values: FloatArray, t_s: float) -> list[AlarmEvent]:
        v = np.asarray(values, dtype=np.float64)[None, :]
        lim = self.limits
        used = ~np.isnan(lim)
        with np.errstate(invalid="ignore"):
            beyond = used & np.where(self.above, v > lim, v < lim)
            back = np.where(self.above, v < lim - self.deadband, v > lim + self.deadband)
        start = beyond & np.isnan(self.pending_since)
        self.pending_since[start] = t_s
        self.pending_since[~beyond] = np.nan
        with np.errstate(invalid="ignore"):
            due = beyond & ~self.active & (t_s - self.pending_since >= self.delay_s)
        clear = self.active & back
        self.active |= due
        self.active &= ~clear
        events = [
            AlarmEvent(t_s, int(i), LEVELS[lv], True, float(v[0, i])) for lv, i in np.argwhere(due)
        ]
        events += [
            AlarmEvent(t_s, int(i), LEVELS[lv], False, float(v[0, i]))
            for lv, i in np.argwhere(clear)
        ]
        return events
