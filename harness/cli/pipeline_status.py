"""The ``pipeline up`` status line: what reached the store, from whom, and how late.

The historian publishes an applied notice after each fetch round
(:mod:`historian.ingest.service`: ``{"t": applied_ns, "b": [[source, seq,
created_ns, points], ...]}``); :class:`PipelineStatus` folds them into points
per second per source (each collector publishes as its own source) and the
queryable lag: for the newest batch of each source, applied time minus the
batch's creation time at the collector. :meth:`PipelineStatus.line` renders one
status line and starts the next window.

>>> st = PipelineStatus(now=lambda: 10.0)
>>> st.add_notice({"t": 12_500_000_000, "b": [["c0", 1, 12_000_000_000, 500]]})
>>> st.add_notice({"t": 12_600_000_000, "b": [["c1", 7, 12_400_000_000, 250]]})
>>> st.now = lambda: 15.0
>>> print(st.line(consumer_lag=3))
150 pts/s queryable | c0 100/s, c1 50/s | queryable lag 0.50 s | consumer lag 3 msgs
>>> st.now = lambda: 20.0
>>> print(st.line(consumer_lag=0))
0 pts/s queryable | no data in the last 5 s | queryable lag 0.50 s | consumer lag 0 msgs
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

__all__ = ["PipelineStatus"]


class PipelineStatus:
    """Accumulates applied notices between two status lines."""

    def __init__(self, now: Callable[[], float] = time.monotonic) -> None:
        self.now = now
        self._since = now()
        self._points: Counter[str] = Counter()
        self._lag_s: dict[str, float] = {}
        self._newest: dict[str, int] = {}
        self.total_points = 0

    def add_notice(self, notice: dict[str, Any]) -> None:
        applied = int(notice["t"])
        for source, _seq, created, points in notice["b"]:
            self._points[str(source)] += int(points)
            self.total_points += int(points)
            created = int(created)
            if created > 0 and created >= self._newest.get(source, 0):
                self._newest[source] = created
                self._lag_s[source] = max(0, applied - created) / 1e9

    def add_message(self, data: bytes) -> None:
        """One raw notice as received on ``<applied prefix>.>``; malformed ones are skipped."""
        try:
            self.add_notice(json.loads(data))
        except (ValueError, KeyError, TypeError):
            return

    def line(self, consumer_lag: int | None) -> str:
        now = self.now()
        span = max(now - self._since, 1e-9)
        total = sum(self._points.values())
        parts = [f"{total / span:,.0f} pts/s queryable"]
        if self._points:
            parts.append(
                ", ".join(f"{s} {n / span:,.0f}/s" for s, n in sorted(self._points.items()))
            )
        else:
            parts.append(f"no data in the last {span:.0f} s")
        if self._lag_s:
            parts.append(f"queryable lag {max(self._lag_s.values()):.2f} s")
        if consumer_lag is not None:
            parts.append(f"consumer lag {consumer_lag} msgs")
        self._points.clear()
        self._since = now
        return " | ".join(parts)
