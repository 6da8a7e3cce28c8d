"""The plant twin: oil-field model + discrete events + sensors + alarms on a sim clock.

A :class:`PlantTwin` serves one catalogue (or a slice of one). Each
:meth:`PlantTwin.step` advances sim time by one tick: queued operator writes are
applied, SimPy events run up to the new time, one ``solve_ivp`` call steps every
well, alarms are evaluated, the sensor models turn true values into readings, and
the readings are rounded to what the device can represent (float32, scaled
int16), so OPC UA and Modbus clients see the very same numbers. The tick's
:class:`historian.model.PointBatch` is kept in the emitted log.

Same catalogue + same seed + same writes at the same ticks -> identical streams.

>>> from sim.catalogue_gen import generate_oilfield
>>> twin = PlantTwin(generate_oilfield(3), seed=1, start_ns=0)
>>> r = twin.step()
>>> r.t_ns, len(r.batch()) <= 30
(1000000000, True)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from historian.model import NS_PER_SECOND as NS
from historian.model import PointBatch
from sim.emitted import EmittedLog
from sim.errors import (
    NotWritableError,
    SetpointOutOfRangeError,
    UnknownTagError,
    UnsupportedCatalogueError,
)
from sim.events import AlarmEvent, AlarmMonitor, EventConfig, FieldEvents, FieldInputs
from sim.models.oilfield import RATED_RPM, OilField, WellParams
from sim.sensors import SensorArray
from sim.servers.registers import Representation
from sim.tags import Catalogue, Tag

FloatArray = NDArray[np.float64]
OUTPUT_KEYS = (
    "tubing_pressure", "casing_pressure", "temperature", "tank_level", "gas", "oil",
    "water_cut", "motor_current", "vibration", "pump_speed", "flow", "power", "speed",
)  # fmt: skip
# writable sensor name -> the model input it drives
WRITABLE_INPUTS = {"pump_speed": "speed_sp", "pump_run": "run", "choke": "choke"}
# sensor -> (HIHI, HI, LO, LOLO, deadband, delay s); NaN = no such limit
ALARM_DEFAULTS: dict[str, tuple[float, float, float, float, float, float]] = {
    "tank_level": (95.0, 80.0, np.nan, np.nan, 2.0, 10.0),
    "motor_current": (180.0, 150.0, np.nan, np.nan, 5.0, 5.0),
    "vibration": (25.0, 12.0, np.nan, np.nan, 1.0, 5.0),
    "tubing_pressure": (4500.0, 3500.0, np.nan, np.nan, 50.0, 10.0),
    "temperature": (195.0, 185.0, 50.0, 45.0, 1.0, 30.0),
}


@dataclass(frozen=True, slots=True)
class TickResult:
    """One tick of every tag of the twin, in catalogue order."""

    tick: int
    t_ns: int
    values: FloatArray
    quality: NDArray[np.uint16]
    ts: NDArray[np.int64]
    emit: NDArray[np.bool_]
    series: NDArray[np.uint32]
    applied_write_seq: int
    alarms: tuple[AlarmEvent, ...]

    def batch(self) -> PointBatch:
        e = self.emit
        return PointBatch(self.series[e], self.ts[e], self.values[e], self.quality[e], False)


def well_number(tag: Tag) -> int:
    """Zero-based well index from the path's cell segment ``well_NNNN``."""
    cell = tag.segments[4]
    if not cell.startswith("well_") or not cell[5:].isdigit():
        raise UnsupportedCatalogueError(
            f"tag {tag.path!r}: cell segment {cell!r} is not 'well_NNNN'; "
            "the oil-field twin only models oil-field catalogues (sim.catalogue_gen)"
        )
    return int(cell[5:]) - 1


class PlantTwin:
    def __init__(
        self,
        catalogue: Catalogue,
        seed: int = 0,
        *,
        tick_s: float = 1.0,
        start_ns: int | None = None,
        events: bool = True,
        event_config: EventConfig | None = None,
        emitted_path: str | Path | None = None,
    ) -> None:
        self.catalogue = catalogue
        self.tags = catalogue.tags
        self.seed = seed
        self.tick_s = tick_s
        self.start_ns = start_ns if start_ns is not None else (time.time_ns() // NS) * NS
        self.tick = 0
        self.series = np.array([t.id for t in self.tags], dtype=np.uint32)
        self.index_by_path = {t.path: i for i, t in enumerate(self.tags)}
        self.index_by_id = {t.id: i for i, t in enumerate(self.tags)}

        wells_global = [well_number(t) for t in self.tags]
        self.wells = sorted(set(wells_global))
        local = {w: i for i, w in enumerate(self.wells)}
        self.tag_well = np.array([local[w] for w in wells_global], dtype=np.int64)
        for t in self.tags:
            if t.sensor_name not in OUTPUT_KEYS:
                raise UnsupportedCatalogueError(
                    f"tag {t.path!r}: no model output named {t.sensor_name!r}; "
                    f"known: {', '.join(OUTPUT_KEYS)}"
                )
            if t.writable and t.sensor_name not in WRITABLE_INPUTS:
                raise UnsupportedCatalogueError(
                    f"tag {t.path!r} is writable but {t.sensor_name!r} drives no model input"
                )
        self.tag_key = np.array([OUTPUT_KEYS.index(t.sensor_name) for t in self.tags])

        params = WellParams.random(max(self.wells) + 1, seed).take(np.array(self.wells))
        self.model = OilField(params)
        salt = self.wells[0]  # slices of one catalogue get their own random streams
        self.x = self.model.initial_state(seed, salt=salt)
        n = self.model.n
        self.inputs = FieldInputs(
            speed_sp=np.full(n, 0.8 * RATED_RPM), run=np.ones(n), choke=np.ones(n), haul=np.zeros(n)
        )
        self._outputs = self.model.outputs(self.x, self.inputs.vector())
        tod = (self.start_ns / NS) % 86400.0
        self.events: FieldEvents | None = None
        if events:
            self.events = FieldEvents(
                self.inputs,
                seed * 1_000_003 + salt,
                tank_level=lambda: self._outputs["tank_level"],
                start_time_of_day_s=tod,
                config=event_config or EventConfig(),
            )
        self.sensors = SensorArray(self.tags, seed, tick_s)
        self.alarms = self._alarm_monitor(self.tags)
        self.alarm_log: list[AlarmEvent] = []
        self._representation = Representation(self.tags)
        self._lock = threading.Lock()
        self._pending: list[tuple[int, int, float]] = []
        self._write_seq = 0
        self.emitted = EmittedLog(emitted_path)
        self.applied_writes: list[tuple[int, float]] = []
        """The last tick's applied operator writes: (tag index, or -1 - local well for a
        pump start/stop, value); read by sim.plant_events."""
        self.refused_writes: list[tuple[int, float]] = []
        """Writes refused outside a tag's limits since the feed last took them."""

    # -------------------------------------------------------------- operator actions

    def resolve(self, key: str | int) -> int:
        """Index of a tag by ISA-95 path or series id; :class:`UnknownTagError` if absent."""
        idx = self.index_by_path.get(key) if isinstance(key, str) else self.index_by_id.get(key)
        if idx is None:
            raise UnknownTagError(f"no tag {key!r} in this twin")
        return idx

    def write(self, key: str | int, value: float) -> int:
        """Queue a setpoint write (applied at the next tick); returns its sequence number."""
        i = self.resolve(key)
        tag = self.tags[i]
        if not tag.writable:
            raise NotWritableError(f"tag {tag.path!r} is a measurement and cannot be written")
        v = float(value)
        if not (tag.low <= v <= tag.high):  # also refuses NaN
            if v == v:  # a refused out-of-limit setpoint is a plant event (sim.plant_events)
                with self._lock:
                    self.refused_writes.append((i, v))
                    del self.refused_writes[:-1000]  # bounded when no feed takes them
            raise SetpointOutOfRangeError(
                f"setpoint {v} for {tag.path!r} is outside [{tag.low}, {tag.high}] {tag.unit}"
            )
        with self._lock:
            self._write_seq += 1
            self._pending.append((self._write_seq, i, v))
            return self._write_seq

    def well_index(self, well: int | str) -> int:
        """Local index of a well given its global number or any path inside it."""
        w = well_number(self.tags[self.resolve(well)]) if isinstance(well, str) else well
        if w not in self.wells:
            raise UnknownTagError(f"well {w} is not served by this twin")
        return self.wells.index(w)

    def set_pump(self, well: int | str, running: bool) -> int:
        """Start or stop a pump (applied at the next tick); returns the write sequence number."""
        local = self.well_index(well)
        with self._lock:
            self._write_seq += 1
            self._pending.append((self._write_seq, -1 - local, 1.0 if running else 0.0))
            return self._write_seq

    def _apply_writes(self) -> int:
        with self._lock:
            pending, self._pending = self._pending, []
            seq = self._write_seq if not pending else pending[-1][0]
        self.applied_writes = [(i, v) for _, i, v in pending]
        for _, i, v in pending:
            if i < 0:
                self.inputs.run[-1 - i] = v
                continue
            name = WRITABLE_INPUTS[self.tags[i].sensor_name]
            getattr(self.inputs, name)[self.tag_well[i]] = v
        return seq

    # -------------------------------------------------------------- stepping

    def step(self) -> TickResult:
        seq = self._apply_writes()
        t0 = self.tick * self.tick_s
        t1 = t0 + self.tick_s
        if self.events is not None:
            self.events.advance(t1)
        u = self.inputs.vector()
        self.x = self.model.step(self.x, u, self.tick_s, t0)
        self._outputs = self.model.outputs(self.x, u)
        self.tick += 1
        t_ns = self.start_ns + round(t1 * NS)
        out = np.vstack([self._outputs[k] for k in OUTPUT_KEYS])
        true = out[self.tag_key, self.tag_well]
        alarms = self.alarms.update(true, t1)
        self._interlocks(alarms)
        self.alarm_log.extend(alarms)
        r = self.sensors.apply(true, t_ns)
        values = self.representable(r.values)
        result = TickResult(
            self.tick, t_ns, values, r.quality, r.ts, r.emit, self.series, seq, tuple(alarms)
        )
        self.emitted.append(result.batch())
        return result

    def run(self, ticks: int) -> list[TickResult]:
        return [self.step() for _ in range(ticks)]

    def representable(self, v: FloatArray) -> FloatArray:
        """Round values to what their Modbus encoding holds, so every protocol agrees."""
        return self._representation.apply(v)

    def _alarm_monitor(self, tags: Sequence[Tag]) -> AlarmMonitor:
        nan = (np.nan,) * 6
        rows = np.array([ALARM_DEFAULTS.get(t.sensor_name, nan) for t in tags]).reshape(-1, 6)
        return AlarmMonitor(*(rows[:, j] for j in range(6)))

    def _interlocks(self, alarms: list[AlarmEvent]) -> None:
        """Vibration HIHI trips the pump (the restart is the usual trip restart)."""
        for a in alarms:
            tag = self.tags[a.tag_index]
            if a.active and a.level == "HIHI" and tag.sensor_name == "vibration":
                w = int(self.tag_well[a.tag_index])
                self.inputs.run[w] = 0.0
                if self.events is not None:
                    self.events.tripped[w] = True
                    self.events.env.process(self.events.restart_later(w, "vibration HIHI"))

    @property
    def outputs(self) -> dict[str, FloatArray]:
        """Latest true (noise-free) model outputs per well."""
        return self._outputs

    def close(self) -> None:
        self.emitted.close()
