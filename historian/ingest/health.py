"""What a failed store write means for the stream, and the ingest's write health.

Only a batch that is invalid *in itself* may leave the stream without being
stored (it goes to the dead-letter stream, then is acked). Everything else is a
condition of the store, not of the batch, and the batch must stay in the stream:

- ``invalid``: :class:`~historian.errors.BatchValidationError` (and the wire
  decoder's errors). Retrying cannot help: dead-letter, ack.
- ``fatal``: the store cannot accept writes until it is reopened: the WAL is
  poisoned (a failed fsync means the kernel may have dropped dirty pages) or a
  WAL I/O failed, or the store found corrupt bytes. Nak everything, stop; the
  process exits non-zero so a supervisor restarts it, recovery re-reads the WAL
  from disk and JetStream redelivers.
- ``transient``: anything else (disk full, overload, a closed store, timeouts,
  OSError, an unexpected bug). Nak with a delay, stop fetching, back off, retry;
  resume once a write succeeds.

:class:`WriteHealth` tracks the state (``ok`` / ``backing-off`` / ``failed``),
logs each change once, and is what ``/healthz`` and the Prometheus metrics show.

>>> from historian.errors import DiskFullError, UnknownSeriesError
>>> classify(UnknownSeriesError("x")), classify(DiskFullError(28, "full"))
('invalid', 'transient')
>>> h = WriteHealth(base_delay_s=0.5, max_delay_s=2.0, log=lambda line: None)
>>> [h.transient(DiskFullError(28, "full")) for _ in range(4)], h.state
([0.5, 1.0, 2.0, 2.0], 'backing-off')
>>> h.succeeded(); h.state, h.delay_s
('ok', 0.0)
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, Literal

from historian.errors import BatchValidationError, CorruptDataError
from historian.wal.writer import WalWriteError

Verdict = Literal["invalid", "transient", "fatal"]
State = Literal["ok", "backing-off", "failed"]


def classify(exc: BaseException) -> Verdict:
    """What a store write's exception means for the batch (see the module docstring)."""
    if isinstance(exc, BatchValidationError):
        return "invalid"
    if isinstance(exc, (WalWriteError, CorruptDataError)):
        return "fatal"
    return "transient"


class StoreUnusableError(RuntimeError):
    """The store refuses every write until it is reopened; the ingest must exit and restart."""


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class WriteHealth:
    """The ingest's write condition, its back-off delay, and counters for the metrics."""

    def __init__(
        self,
        *,
        base_delay_s: float = 0.25,
        max_delay_s: float = 5.0,
        log: Callable[[str], None] = _stderr,
        name: str = "ingest",
    ) -> None:
        self.base_delay_s = base_delay_s
        self.max_delay_s = max_delay_s
        self._log = log
        self._name = name
        self.state: State = "ok"
        self.condition = ""
        """The last failure, ``Type: message`` ("" while ok)."""
        self.since = time.time()
        """Wall-clock time of the last state change."""
        self.delay_s = 0.0
        self.transient_failures = 0
        """Store writes that failed transiently (their messages were nak'd, not acked)."""
        self.naks = 0
        self.backoff_seconds = 0.0
        """Total time spent not fetching because writes were failing."""

    def transient(self, exc: BaseException) -> float:
        """Record a transient failure; return how long to back off (doubling, capped)."""
        self.transient_failures += 1
        self.delay_s = min(self.max_delay_s, max(self.base_delay_s, self.delay_s * 2))
        text = describe(exc)
        if self.state != "backing-off" or text != self.condition:
            self._log(
                f"{self._name}: store write failed ({text}); nothing acked or dead-lettered, "
                f"messages nak'd for redelivery, retrying in {self.delay_s:g} s"
            )
            if self.state != "backing-off":
                self.since = time.time()
        self.state = "backing-off"
        self.condition = text
        return self.delay_s

    def fatal(self, exc: BaseException) -> None:
        self.state = "failed"
        self.condition = describe(exc)
        self.since = time.time()
        self._log(
            f"{self._name}: the store refuses writes until reopened ({self.condition}); "
            "messages nak'd, exiting so a supervisor restarts the historian"
        )

    def succeeded(self) -> None:
        if self.state == "backing-off":
            self._log(
                f"{self._name}: store writes resumed after {time.time() - self.since:.1f} s "
                f"({self.transient_failures} failed writes so far)"
            )
            self.since = time.time()
        if self.state != "failed":
            self.state = "ok"
            self.condition = ""
            self.delay_s = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "condition": self.condition,
            "since": self.since,
            "transient_failures": self.transient_failures,
            "naks": self.naks,
            "backoff_seconds": round(self.backoff_seconds, 3),
        }


def worst(states: list[State]) -> State:
    """The process's state from its workers' states."""
    for s in ("failed", "backing-off"):
        if s in states:
            return s
    return "ok"
