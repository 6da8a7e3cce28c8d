"""What the API knows about the server it runs in: the engine, its phase, its limits.

:class:`ApiState` is the app's only link to the server process. ``engine`` is
None while the store is being opened (WAL replay): every query then answers 503
``unavailable`` with the reason, and ``/health`` says ``recovering``. Once the
server sets the engine the phase is ``ready``; it is ``degraded`` while any ingest
partition backs off after a failed store write or has given up (the reasons name
the partition and the error), and writes through the API answer 503 then too.

``/health`` answers 200 for ``ready`` and ``degraded`` (the server answers
queries), 503 for ``recovering``, always with a JSON body::

    {"status": "ready", "reasons": [], "tags": 12, "recovery": {...}}
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from historian.api.auth import TokenTable
from historian.api.errors import ApiError
from historian.query.engine import QueryEngine

if TYPE_CHECKING:
    from historian.api.connections import ConnectionAdmin
    from historian.api.routing import QueryRouter
    from historian.events.store import EventStore

__all__ = ["ApiLimits", "ApiState", "Phase"]

Phase = Literal["recovering", "ready", "degraded"]


@dataclass(frozen=True)
class ApiLimits:
    """Per-request limits (413 ``too_large`` beyond them); documented in docs/api.md."""

    max_values: int = 1_000_000
    """Values one recorded/interpolated/at/plot answer may hold (page recorded beyond it)."""
    max_intervals: int = 100_000
    """Intervals of one interpolated or summary request."""
    max_plot_intervals: int = 10_000
    """Pixel intervals of one plot request."""
    max_times: int = 10_000
    """Times of one at-time request."""
    max_queries: int = 100
    """Queries in one streams/query request."""
    max_body_bytes: int = 64 * 1024 * 1024
    """Bytes of a request body (write, streams/query)."""


@dataclass
class ApiState:
    """Mutable link between the running server and the app (see the module docstring)."""

    engine: QueryEngine | None = None
    tokens: TokenTable = field(default_factory=TokenTable)
    limits: ApiLimits = field(default_factory=ApiLimits)
    ingest_health: Callable[[], dict[str, dict[str, Any]]] | None = None
    """Partition -> ``WriteHealth.as_dict()`` of the live ingest workers, if any."""
    recovery: dict[str, Any] = field(default_factory=dict)
    connections: ConnectionAdmin | None = None
    """The server's collector connection manager (``--nats`` only; historian.api.connections)."""
    events: EventStore | None = None
    """The server's plant event store, set by historian.events.frontend once it is open
    (``GET /api/v1/events`` queries it directly)."""
    router: QueryRouter | None = None
    """Forwards tag queries to the partitions' holders (``serve --node``; historian.api.routing)."""
    store_failed: str | None = None
    """Set when the store refuses every write until reopened (a poisoned WAL); ingest
    partitions in state ``failed`` say the same through :attr:`ingest_health`."""

    def phase(self) -> tuple[Phase, list[str]]:
        if self.engine is None:
            return "recovering", ["the store is being opened (WAL replay)"]
        reasons: list[str] = []
        if self.store_failed:
            reasons.append(f"store refuses writes: {self.store_failed}")
        for part, h in (self.ingest_health() if self.ingest_health else {}).items():
            state = h.get("state", "ok")
            if state != "ok":
                why = h.get("condition") or ""
                reasons.append(f"ingest partition {part} is {state}" + (f": {why}" if why else ""))
        return ("degraded" if reasons else "ready"), reasons

    def require_engine(self) -> QueryEngine:
        """The engine, or 503 while the store is still being opened."""
        if self.engine is None:
            raise ApiError(
                503,
                "unavailable",
                "the store is recovering (WAL replay); retry in a moment",
                reasons=self.phase()[1],
            )
        return self.engine

    def require_writable(self) -> QueryEngine:
        engine = self.require_engine()
        failed = [
            p
            for p, h in (self.ingest_health() if self.ingest_health else {}).items()
            if h.get("state") == "failed"
        ]
        if failed and not self.store_failed:
            self.store_failed = f"ingest partition(s) {', '.join(failed)} failed writing the store"
        if self.store_failed:
            raise ApiError(
                503,
                "unavailable",
                f"the store refuses writes until it is reopened: {self.store_failed}",
                reasons=self.phase()[1],
            )
        return engine

    def health(self) -> tuple[int, dict[str, Any]]:
        phase, reasons = self.phase()
        body: dict[str, Any] = {"status": phase, "reasons": reasons, "recovery": self.recovery}
        if self.engine is not None:
            body["tags"] = len(self.engine.catalogue)
        return (503 if phase == "recovering" else 200), body
