"""Replay progress: each server process writes where its replay is; the command line draws it.

A server process replaying a recording (``python -m sim.servers.node --replay ...
--progress-file F``) rewrites ``F`` (JSON, atomically) every ``every_s``:
sim time reached, the recording's span, records played, the lag of the last tick
behind its wall-clock due time, and ``finished``. ``twinbench sim replay`` reads
the files of all its processes and draws one line::

    [##########----------]  50.1%  sim 2014-01-10T11:05:00Z  99,870x  lag 0.00 s  ETA 0:00:04

Speed is measured (sim seconds per wall second over the last few samples), not
the requested one, so a replay that falls behind shows it; ETA is the rest of the
recording at that speed. The lag samples double as the "servers keep up"
measurement (``docs/replay.md``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from historian.model import NS_PER_SECOND as NS

BAR = 20

__all__ = ["ProgressMeter", "read_progress", "write_progress_until"]


def _write(path: Path, doc: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc))
    tmp.replace(path)  # atomic: the reader never sees half a file


async def write_progress_until(
    node: Any, path: Path, done: asyncio.Event, every_s: float = 0.25
) -> None:
    """Rewrite ``path`` every ``every_s`` until ``done`` is set, then once more, finished."""
    t0 = time.monotonic()

    def snapshot(finished: bool) -> dict[str, Any]:
        doc: dict[str, Any] = dict(node.source.progress())
        doc.update(
            wall_s=round(time.monotonic() - t0, 4),
            lag_s=round(node.stats.last_lag_s, 4),
            max_lag_s=round(node.stats.max_lag_s, 4),
            late_ticks=node.stats.late_ticks,
            ticks=node.stats.ticks,
            finished=finished,
        )
        return doc

    while not done.is_set():
        _write(path, snapshot(False))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), every_s)
    _write(path, snapshot(True))


def read_progress(paths: Sequence[Path]) -> list[dict[str, Any]]:
    """The progress documents that exist yet (a process may not have written one)."""
    out = []
    for p in paths:
        try:
            out.append(json.loads(p.read_text()))
        except (OSError, ValueError):
            continue
    return out


@dataclass
class ProgressMeter:
    """Turns successive progress reads of all processes into one status line."""

    processes: int
    window_s: float = 3.0
    _samples: deque[tuple[float, int]] = field(default_factory=deque)

    def line(self, docs: Sequence[dict[str, Any]], now: float | None = None) -> str:
        now = time.monotonic() if now is None else now
        if not docs:
            return "replay: waiting for the servers ..."
        first = min(int(d["first_ns"]) for d in docs)
        last = max(int(d["last_ns"]) for d in docs)
        # the slowest process is where the replay is
        sim = min(int(d["sim_ns"]) for d in docs) if len(docs) == self.processes else first
        self._samples.append((now, sim))
        while len(self._samples) > 2 and now - self._samples[0][0] > self.window_s:
            self._samples.popleft()
        (t_a, s_a), (t_b, s_b) = self._samples[0], self._samples[-1]
        speed = (s_b - s_a) / NS / (t_b - t_a) if t_b > t_a else 0.0
        span = max(last - first, 1)
        frac = min(max((sim - first) / span, 0.0), 1.0)
        done = all(d.get("finished") for d in docs) and len(docs) == self.processes
        fill = round(frac * BAR)
        when = np.datetime_as_string(np.datetime64(sim // 1000, "us"), unit="s") + "Z"
        lag = max(float(d.get("lag_s", 0.0)) for d in docs)
        if done:
            eta = "done"
        elif speed > 0:
            eta = "ETA " + _hms((last - sim) / NS / speed)
        else:
            eta = "ETA ?"
        return (
            f"[{'#' * fill}{'-' * (BAR - fill)}] {100 * frac:5.1f}%  sim {when}  "
            f"{speed:,.0f}x  lag {lag:.2f} s  {eta}"
        )


def _hms(seconds: float) -> str:
    s = round(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"
