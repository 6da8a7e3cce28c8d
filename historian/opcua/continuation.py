"""HistoryRead continuation points: opaque, server-side, bounded (Part 11, 6.3).

A continuation point is 16 random bytes naming a :class:`Cursor` kept here: the
whole request the client started (so a continued read needs nothing else) and
where the next page resumes. Random names make them unguessable and any other
byte string is simply unknown (``Bad_ContinuationPointInvalid``). A continued
read takes its cursor out (one use each; the next page gets a fresh name);
``releaseContinuationPoints`` drops them. At most ``capacity`` live at once: the
oldest is dropped to make room, as are cursors idle longer than ``ttl_s``, and a
dropped one is then invalid — the client restarts its read.

asyncua hands the history service the request, not the session, so the points
are shared by all sessions of the server (a point is still only usable by whoever
holds its 16 random bytes).

>>> store = ContinuationStore(capacity=2)
>>> a = store.put(Cursor("raw", "t1", {"n": 1}))
>>> store.take(a).state
{'n': 1}
>>> store.take(a) is None        # used up
True
>>> store.take(b"garbage") is None
True
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

TOKEN_BYTES = 16
DEFAULT_CAPACITY = 1_000
DEFAULT_TTL_S = 600.0


@dataclass
class Cursor:
    """Where a paged history read of one node resumes."""

    kind: str
    """``raw``, ``processed`` or ``at_time``: a point only continues the same kind of read."""
    node: str
    """Tag name the read is about."""
    state: dict[str, Any] = field(default_factory=dict)
    created: float = field(default_factory=time.monotonic)


class ContinuationStore:
    """Live continuation points by their opaque name (thread-safe)."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY, ttl_s: float = DEFAULT_TTL_S) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self.ttl_s = ttl_s
        self._live: OrderedDict[bytes, Cursor] = OrderedDict()
        self._lock = threading.Lock()
        self.dropped = 0
        """Points dropped for room or age (a client then gets Bad_ContinuationPointInvalid)."""

    def __len__(self) -> int:
        return len(self._live)

    def put(self, cursor: Cursor) -> bytes:
        token = secrets.token_bytes(TOKEN_BYTES)
        with self._lock:
            self._expire()
            while len(self._live) >= self.capacity:
                self._live.popitem(last=False)
                self.dropped += 1
            self._live[token] = cursor
        return token

    def take(self, token: bytes) -> Cursor | None:
        """The cursor named ``token``, removed; None if unknown, used, released or dropped."""
        with self._lock:
            self._expire()
            return self._live.pop(bytes(token), None)

    def release(self, token: bytes) -> bool:
        """Drop a point; False if it was not live."""
        return self.take(token) is not None

    def _expire(self) -> None:
        cutoff = time.monotonic() - self.ttl_s
        while self._live:
            oldest = next(iter(self._live.values()))
            if oldest.created >= cutoff:
                break
            self._live.popitem(last=False)
            self.dropped += 1
