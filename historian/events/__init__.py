"""Plant events: model and wire form, durable store, stream consumer (docs/events.md)."""

from historian.events.model import KINDS, Event, EventFormatError
from historian.events.store import EventStore, EventStoreCorruptError

__all__ = ["KINDS", "Event", "EventFormatError", "EventStore", "EventStoreCorruptError"]
