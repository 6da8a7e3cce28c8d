"""Plant events (alarms, trips, operator actions) and their JSON wire form.

An :class:`Event` is one structured occurrence at one instant: a limit alarm
raised or cleared, a pump trip, an operator action, a refused out-of-limit write,
or a state change of the plant (restart, maintenance, shift). Events are low-rate
(a plant raises a few per minute, not thousands per second), so each is one small
JSON object on the bus and in the store: readable with ``nats sub`` and ``jq``,
and no columnar codec earns its complexity at that rate.

Severity is OPC UA's (1 = informational .. 1000 = catastrophic). The ``id`` is
assigned by the publisher and is unique per event: it is the ``Nats-Msg-Id`` on
the bus (the stream drops a re-publish) and the store's dedupe key (a redelivery
after a crash stores once). Format: historian/docs/format/events.md.

>>> e = Event("plant-1:7", 1_767_225_600_000_000_000, "acme.s.a.l.well_0001.pump.vibration",
...           "alarm-raised", 900, "vibration HIHI", value=26.5, limit=25.0, condition="HIHI")
>>> Event.from_json(e.to_json()) == e
True
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from historian.errors import HistorianError

__all__ = ["KINDS", "MAX_EVENT_BYTES", "Event", "EventFormatError"]

KINDS = ("alarm-raised", "alarm-cleared", "trip", "operator-action", "limit", "state")
"""``limit``: a write refused outside the tag's limits; ``state``: restarts, maintenance,
shift changes, truck haul-off (informational)."""
MAX_EVENT_BYTES = 16 * 1024
"""An encoded event beyond this is refused (messages are capped to keep the store small)."""
MAX_TEXT = 1024
_INT64 = (-(2**63), 2**63 - 1)


class EventFormatError(HistorianError, ValueError):
    """Bytes or a document that are not a valid event; the message names the field."""


@dataclass(frozen=True, slots=True)
class Event:
    id: str
    time_ns: int
    """Nanoseconds since the Unix epoch, UTC (when it happened at the plant)."""
    source: str
    """The tag path (ISA-95, 7 levels) or an area/equipment path prefix it concerns."""
    kind: str
    severity: int
    message: str
    value: float | None = None
    limit: float | None = None
    condition: str = ""
    """The alarm condition (HIHI, HI, LO, LOLO) for alarm kinds; else ''."""

    def __post_init__(self) -> None:
        _check(self)

    def fields(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "id": self.id,
            "time_ns": self.time_ns,
            "source": self.source,
            "kind": self.kind,
            "severity": self.severity,
            "message": self.message,
        }
        if self.value is not None:
            doc["value"] = self.value
        if self.limit is not None:
            doc["limit"] = self.limit
        if self.condition:
            doc["condition"] = self.condition
        return doc

    def to_json(self) -> bytes:
        return json.dumps(self.fields(), separators=(",", ":"), ensure_ascii=False).encode()

    @classmethod
    def from_fields(cls, doc: Any) -> Event:
        if not isinstance(doc, dict):
            raise EventFormatError(f"an event is a JSON object, not {type(doc).__name__}")
        unknown = set(doc) - {*_REQUIRED, "value", "limit", "condition"}
        if unknown:
            raise EventFormatError(f"unknown event field(s) {sorted(unknown)}")
        missing = [k for k in _REQUIRED if k not in doc]
        if missing:
            raise EventFormatError(f"event lacks field(s) {missing}")
        return cls(
            id=doc["id"],
            time_ns=doc["time_ns"],
            source=doc["source"],
            kind=doc["kind"],
            severity=doc["severity"],
            message=doc["message"],
            value=doc.get("value"),
            limit=doc.get("limit"),
            condition=doc.get("condition", ""),
        )

    @classmethod
    def from_json(cls, data: bytes | bytearray | memoryview) -> Event:
        if len(data) > MAX_EVENT_BYTES:
            raise EventFormatError(f"event of {len(data):,} bytes exceeds {MAX_EVENT_BYTES:,}")
        try:
            doc = json.loads(bytes(data))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise EventFormatError(f"event is not JSON: {exc}") from None
        return cls.from_fields(doc)


_REQUIRED = ("id", "time_ns", "source", "kind", "severity", "message")


def _text(name: str, value: object, *, empty: bool = False) -> None:
    if not isinstance(value, str):
        raise EventFormatError(f"event field {name!r} must be a string")
    if (not value and not empty) or len(value) > MAX_TEXT:
        raise EventFormatError(f"event field {name!r} must hold 1..{MAX_TEXT} characters")


def _check(e: Event) -> None:
    _text("id", e.id)
    _text("source", e.source)
    _text("message", e.message, empty=True)
    _text("condition", e.condition, empty=True)
    if isinstance(e.time_ns, bool) or not isinstance(e.time_ns, int):
        raise EventFormatError("event field 'time_ns' must be an integer (ns since the epoch)")
    if not _INT64[0] <= e.time_ns <= _INT64[1]:
        raise EventFormatError("event field 'time_ns' is outside int64")
    if e.kind not in KINDS:
        raise EventFormatError(f"event kind {e.kind!r} is not one of {', '.join(KINDS)}")
    sev = e.severity
    if isinstance(sev, bool) or not isinstance(sev, int) or not 1 <= sev <= 1000:
        raise EventFormatError(f"event severity {sev!r} must be an integer 1..1000 (OPC UA)")
    for name in ("value", "limit"):
        v = getattr(e, name)
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise EventFormatError(f"event field {name!r} must be a finite number or absent")
        if isinstance(v, int):  # JSON 3 and 3.0 are the same number: keep one type
            object.__setattr__(e, name, float(v))
