"""The twin's discrete happenings as plant events (:class:`historian.events.Event`).

:class:`PlantEventFeed` turns what one tick of a :class:`~sim.twin.PlantTwin` did
into structured events: limit alarms raised and cleared (source = the tag's path,
value and limit given, condition HIHI/HI/LO/LOLO), pump trips (source = the well's
path), operator actions (setpoint writes and pump starts/stops from clients, and
the simulated operators' setpoint and choke moves), writes refused outside a tag's
limits (kind ``limit``) and plant state changes (restarts, maintenance, shifts,
haul-off: kind ``state``). The server process publishes them to the events stream
and as OPC UA events (docs/events.md).

Event ids are ``<origin>:<tick>:<n>``: unique per twin run and the same when a
publish is retried, so the stream and the store keep each event once.

>>> from sim.catalogue_gen import generate_oilfield
>>> from sim.twin import PlantTwin
>>> twin = PlantTwin(generate_oilfield(2), seed=1, start_ns=0)
>>> feed = PlantEventFeed(twin)
>>> _ = twin.set_pump(0, False)
>>> [(e.kind, e.message) for e in feed.collect(twin.step())]
[('operator-action', 'pump stopped by an operator')]
"""

from __future__ import annotations

import math

import numpy as np

from historian.events.model import Event
from historian.model import NS_PER_SECOND as NS
from sim.events import LEVELS, EventRecord
from sim.twin import WRITABLE_INPUTS, PlantTwin, TickResult

__all__ = ["SEVERITY", "PlantEventFeed"]

SEVERITY = {"HIHI": 900, "LOLO": 900, "HI": 700, "LO": 700}
"""Alarm severity by condition (OPC UA 1..1000); see docs/events.md for the rest."""
_RECORDS: dict[str, tuple[str, int, str]] = {  # EventRecord.kind -> (kind, severity, message)
    "trip": ("trip", 800, "pump trip"),
    "restart": ("state", 300, "pump restarted after a trip"),
    "valve": ("operator-action", 200, "choke moved"),
    "setpoint": ("operator-action", 200, "pump speed setpoint changed"),
    "shift": ("state", 100, "shift change"),
    "maintenance_start": ("state", 300, "pad maintenance started: pumps stopped"),
    "maintenance_end": ("state", 300, "pad maintenance ended"),
    "haul_start": ("state", 100, "truck haul-off started"),
    "haul_end": ("state", 100, "truck haul-off ended"),
}


class PlantEventFeed:
    """Collects each tick's events of one twin (call :meth:`collect` with every tick)."""

    def __init__(self, twin: PlantTwin, origin: str | None = None) -> None:
        self.twin = twin
        first = twin.tags[0].id if twin.tags else 0
        self.origin = origin or f"plant-{first}-{twin.start_ns}"
        self._seen = 0
        segs = [t.segments for t in twin.tags]
        self._well_path: dict[int, str] = {}
        self._pad_path: dict[int, str] = {}
        for i, s in enumerate(segs):
            w = int(twin.tag_well[i])
            self._well_path.setdefault(w, ".".join(s[:5]))
            self._pad_path.setdefault(w, ".".join(s[:4]))
        self._field_path = ".".join(segs[0][:3]) if segs else "plant"

    def collect(self, result: TickResult) -> list[Event]:
        twin = self.twin
        out: list[tuple[int, str, str, int, str, float | None, float | None, str]] = []
        for a in result.alarms:
            tag = twin.tags[a.tag_index]
            limit = float(twin.alarms.limits[LEVELS.index(a.level), a.tag_index])
            verb = "raised" if a.active else "cleared"
            kind = "alarm-raised" if a.active else "alarm-cleared"
            msg = (
                f"{tag.sensor_name} {a.level} {verb} at {a.value:.4g} {tag.unit} (limit {limit:g})"
            )
            out.append((self._t(a.t_s), tag.path, kind, SEVERITY[a.level], msg, a.value, limit,
                        a.level))  # fmt: skip
        if twin.events is not None:
            log = twin.events.log
            for r in log[self._seen :]:
                out.append(self._record(r))
            self._seen = len(log)
        for i, v in twin.applied_writes:
            if i < 0:
                msg = f"pump {'started' if v else 'stopped'} by an operator"
                out.append((result.t_ns, self._well_path[-1 - i], "operator-action", 400, msg,
                            None, None, ""))  # fmt: skip
                continue
            tag = twin.tags[i]
            out.append((result.t_ns, tag.path, "operator-action", 400,
                        f"{WRITABLE_INPUTS[tag.sensor_name]} written: {v:g} {tag.unit}".rstrip(),
                        v, None, ""))  # fmt: skip
        with twin._lock:
            refused, twin.refused_writes = twin.refused_writes, []
        for i, v in refused:
            tag = twin.tags[i]
            out.append((result.t_ns, tag.path, "limit", 500,
                        f"write of {v:g} refused: outside [{tag.low:g}, {tag.high:g}] {tag.unit}",
                        v, tag.high if v > tag.high else tag.low, ""))  # fmt: skip
        return [
            Event(
                f"{self.origin}:{result.tick}:{n}",
                t,
                src,
                kind,
                sev,
                msg,
                _finite(value),
                _finite(limit),
                cond,
            )
            for n, (t, src, kind, sev, msg, value, limit, cond) in enumerate(out)
        ]

    def _t(self, t_s: float) -> int:
        return self.twin.start_ns + round(t_s * NS)

    def _record(
        self, r: EventRecord
    ) -> tuple[int, str, str, int, str, float | None, float | None, str]:
        kind, sev, msg = _RECORDS.get(r.kind, ("state", 100, r.kind))
        if r.well < 0:
            src = self._field_path
        elif r.kind.startswith("maintenance"):
            src = self._pad_path.get(r.well, self._field_path)
        else:
            src = self._well_path.get(r.well, self._field_path)
        note = f": {r.note}" if r.note else ""
        return (self._t(r.t_s), src, kind, sev, msg + note, r.value, None, "")


def _finite(v: float | None) -> float | None:
    return None if v is None or not math.isfinite(v) else float(np.float64(v))
