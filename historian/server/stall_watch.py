"""Stall watch: when a process's event loop stops for longer than a threshold, record
which thread had the CPU, which waited for one, and where the loop's thread was.

Why: the scenario's p99 publish->queryable is decided by a handful of batches, so one
60-150 ms stop of the ingest loop fails a ramp step. A profiler's aggregate cannot say
what happened in those few intervals; this can. It is a diagnostic, off unless the
``TWINBENCH_STALL_TRACE`` environment variable names a directory; each watched process
then appends JSON lines to ``<dir>/<name>-<pid>.jsonl``.

How: a heartbeat task on the loop stamps the time every ``tick``; a daemon thread
checks the stamp. Each tick without a stall it keeps a snapshot of every thread's
``/proc/self/task/<tid>/schedstat`` (CPU time and run-queue wait, in ns); during a stall
it samples the stack of the loop's thread (and of the thread that used the most CPU);
when the loop runs again it writes one record with the per-thread deltas. A thread
that held the GIL in a C call shows as CPU time in that thread; a process starved by
others shows as run-queue wait; a blocking call in the loop shows as the loop's stack.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
import time
import traceback
from collections import Counter
from pathlib import Path

ENV_VAR = "TWINBENCH_STALL_TRACE"


def _thread_names() -> dict[int, str]:
    return {t.native_id: t.name for t in threading.enumerate() if t.native_id is not None}


def _schedstat() -> dict[int, tuple[int, int]]:
    """Per thread id: (ns on a CPU, ns waiting on a run queue) since the thread began."""
    out: dict[int, tuple[int, int]] = {}
    try:
        tids = os.listdir("/proc/self/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/self/task/{tid}/schedstat", "rb") as f:
                run, wait, _ = f.read().split()
        except (OSError, ValueError):
            continue  # a thread ended between the listing and the read
        out[int(tid)] = (int(run), int(wait))
    return out


def _stack(frame: object) -> list[str]:
    frames = traceback.extract_stack(frame)  # type: ignore[arg-type]
    return [f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in frames[-12:]]


class StallWatch:
    """Watch the running loop; write one JSON line per stall longer than ``threshold_s``."""

    def __init__(self, out: Path, threshold_s: float = 0.03, tick_s: float = 0.005) -> None:
        self.out = out
        self.threshold_s = threshold_s
        self.tick_s = tick_s
        self._beat = time.monotonic()
        self._stop = threading.Event()
        self._loop_tid = threading.get_native_id()
        self._loop_ident = threading.get_ident()
        self._task: asyncio.Task[None] | None = None
        self._thread: threading.Thread | None = None
        self.stalls = 0

    @classmethod
    def from_env(cls, name: str) -> StallWatch | None:
        where = os.environ.get(ENV_VAR)
        if not where:
            return None
        d = Path(where)
        d.mkdir(parents=True, exist_ok=True)
        return cls(d / f"{name}-{os.getpid()}.jsonl")

    def start(self) -> None:
        """Call from the loop's thread, inside the running loop."""
        self._loop_tid = threading.get_native_id()
        self._loop_ident = threading.get_ident()
        self._task = asyncio.get_running_loop().create_task(self._heartbeat())
        self._thread = threading.Thread(target=self._watch, name="stall-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            self._task.cancel()
        if self._thread is not None:
            self._thread.join(timeout=1.0)

    async def _heartbeat(self) -> None:
        while True:
            self._beat = time.monotonic()
            await asyncio.sleep(self.tick_s)

    def _watch(self) -> None:
        before = _schedstat()
        before_t = time.monotonic()
        stall_start = 0.0
        samples: Counter[str] = Counter()
        woke_late = 0.0
        with self.out.open("a", encoding="utf-8") as sink:
            while not self._stop.is_set():
                asked = time.monotonic()
                time.sleep(self.tick_s)
                now = time.monotonic()
                woke_late = max(woke_late, now - asked - self.tick_s)
                lag = now - self._beat
                if lag > self.threshold_s + self.tick_s:
                    if not stall_start:
                        stall_start = self._beat
                    frames = sys._current_frames()
                    loop_frame = frames.get(self._loop_ident)
                    if loop_frame is not None:
                        samples["loop: " + " < ".join(reversed(_stack(loop_frame)[-6:]))] += 1
                    continue
                if stall_start:
                    after = _schedstat()
                    self._write(sink, stall_start, now, before, before_t, after, samples, woke_late)
                    stall_start = 0.0
                    samples.clear()
                    before, before_t = after, now
                else:
                    before, before_t = _schedstat(), now
                woke_late = 0.0

    def _write(
        self,
        sink: object,
        start: float,
        end: float,
        before: dict[int, tuple[int, int]],
        before_t: float,
        after: dict[int, tuple[int, int]],
        samples: Counter[str],
        woke_late: float,
    ) -> None:
        names = _thread_names()
        threads = []
        for tid, (run, wait) in after.items():
            r0, w0 = before.get(tid, (0, 0))
            if run - r0 > 1_000_000 or wait - w0 > 1_000_000:
                name = names.get(tid, str(tid)) + (" (loop)" if tid == self._loop_tid else "")
                threads.append(
                    {
                        "thread": name,
                        "cpu_ms": round((run - r0) / 1e6, 1),
                        "runq_wait_ms": round((wait - w0) / 1e6, 1),
                    }
                )
        threads.sort(key=lambda t: -float(str(t["cpu_ms"])))
        record = {
            "wall": time.time() - (time.monotonic() - start),
            "stall_ms": round((end - start) * 1e3, 1),
            "window_ms": round((end - before_t) * 1e3, 1),
            "watcher_woke_late_ms": round(woke_late * 1e3, 1),
            "threads": threads,
            "loop_stacks": samples.most_common(4),
        }
        sink.write(json.dumps(record) + "\n")  # type: ignore[attr-defined]
        sink.flush()  # type: ignore[attr-defined]
        self.stalls += 1
