"""The HistoryRead seam: serve OPC UA history from any time-series backend.

:class:`HistoryBackend` is what the OPC UA server needs (raw values of one series
in a time range). :class:`HistoryStorageAdapter` plugs a backend into asyncua's
``HistoryStorageInterface``, so HistoryRead is answered without forking the
server. :class:`EmittedHistory` is a backend over the twin's own emitted log
(what the plant sent); the historian's query layer can implement the same
protocol later.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import numpy as np
from asyncua import ua as _ua
from asyncua.server.history import HistoryStorageInterface

from historian.model import PointBatch, status_code_from_quality
from sim.emitted import EmittedLog

# asyncua's NewType-style annotations fight mypy at every call; treat ua as dynamic
ua: Any = _ua

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def ns_to_datetime(ns: int) -> datetime:
    """Exact to the microsecond (a float division is not, at today's epoch)."""
    return EPOCH + timedelta(microseconds=int(ns) // 1000)


def datetime_to_ns(dt: datetime) -> int:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    d = dt - EPOCH
    return (d.days * 86400 + d.seconds) * 1_000_000_000 + d.microseconds * 1000


class HistoryBackend(Protocol):
    async def read_raw(self, series_id: int, start_ns: int, end_ns: int, limit: int) -> PointBatch:
        """Points of one series with ``start_ns <= ts <= end_ns``, time-ordered, at most
        ``limit`` (0 = no limit)."""
        ...


class EmittedHistory:
    """History from the twin's emitted log (in memory)."""

    def __init__(self, log: EmittedLog) -> None:
        self.log = log

    async def read_raw(self, series_id: int, start_ns: int, end_ns: int, limit: int) -> PointBatch:
        b = self.log.concat()
        sel = (b.series == series_id) & (b.ts >= start_ns) & (b.ts <= end_ns)
        part = b.take(np.flatnonzero(sel)).sorted()
        return part.take(np.arange(min(limit, len(part)))) if limit else part


class HistoryStorageAdapter(HistoryStorageInterface):
    """asyncua history storage reading from a :class:`HistoryBackend` (read-only)."""

    def __init__(self, backend: HistoryBackend, series_of: dict[ua.NodeId, int]) -> None:
        self.backend = backend
        self.series_of = series_of

    async def init(self) -> None:
        return None

    async def new_historized_node(self, *args: Any, **kwargs: Any) -> None:
        return None

    async def save_node_value(self, *args: Any, **kwargs: Any) -> None:
        return None  # the historian stores values itself

    async def read_node_history(
        self, node_id: ua.NodeId, start: datetime | None, end: datetime | None, nb_values: int
    ) -> tuple[list[ua.DataValue], datetime | None]:
        sid = self.series_of.get(node_id)
        if sid is None:
            return [], None
        lo = datetime_to_ns(start) if start and start > EPOCH else 0
        hi = datetime_to_ns(end) if end and end > EPOCH else 2**63 - 1
        batch = await self.backend.read_raw(sid, lo, hi, nb_values + 1 if nb_values else 0)
        cont = None
        if nb_values and len(batch) > nb_values:
            cont = ns_to_datetime(int(batch.ts[nb_values]))
            batch = batch.take(np.arange(nb_values))
        return [
            ua.DataValue(
                Value=ua.Variant(float(v), ua.VariantType.Double),
                StatusCode=ua.StatusCode(status_code_from_quality(int(q))),
                SourceTimestamp=ns_to_datetime(int(t)),
                ServerTimestamp=ns_to_datetime(int(t)),
            )
            for t, v, q in zip(batch.ts, batch.values, batch.quality, strict=True)
        ], cont

    async def new_historized_event(self, *args: Any, **kwargs: Any) -> None:
        return None

    async def save_event(self, *args: Any, **kwargs: Any) -> None:
        return None

    async def read_event_history(self, *args: Any, **kwargs: Any) -> tuple[list[Any], None]:
        return [], None

    async def stop(self) -> None:
        return None
