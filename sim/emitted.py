"""What the twin emitted, kept so the harness can compare it with what the historian stored.

Batches are kept in memory (bounded by ``max_points``, oldest dropped first and
counted) and, when a path is given, appended to an Arrow IPC stream file with
columns ``series`` uint32, ``ts`` int64 (ns, UTC), ``value`` float64,
``quality`` uint16: a standard format any Arrow reader opens
(:func:`read_emitted` here).
"""

from __future__ import annotations

import threading
from collections import deque
from pathlib import Path

import pyarrow as pa

from historian.model import PointBatch

SCHEMA = pa.schema(
    [("series", pa.uint32()), ("ts", pa.int64()), ("value", pa.float64()), ("quality", pa.uint16())]
)


class EmittedLog:
    def __init__(self, path: str | Path | None = None, max_points: int = 5_000_000) -> None:
        self.max_points = max_points
        self._batches: deque[PointBatch] = deque()
        self._points = 0
        self.dropped_points = 0
        self.total_points = 0
        self._lock = threading.Lock()
        self.path = Path(path) if path is not None else None
        self._sink: pa.OSFile | None = None
        self._writer: pa.ipc.RecordBatchStreamWriter | None = None
        if self.path is not None:
            self._sink = pa.OSFile(str(self.path), "wb")
            self._writer = pa.ipc.new_stream(self._sink, SCHEMA)

    def append(self, batch: PointBatch) -> None:
        if not len(batch):
            return
        with self._lock:
            self._batches.append(batch)
            self._points += len(batch)
            self.total_points += len(batch)
            while self._points > self.max_points and len(self._batches) > 1:
                old = self._batches.popleft()
                self._points -= len(old)
                self.dropped_points += len(old)
            if self._writer is not None:
                self._writer.write_batch(
                    pa.record_batch(
                        [batch.series, batch.ts, batch.values, batch.quality], schema=SCHEMA
                    )
                )

    def batches(self) -> list[PointBatch]:
        with self._lock:
            return list(self._batches)

    def concat(self) -> PointBatch:
        return PointBatch.concat(self.batches())

    def close(self) -> None:
        with self._lock:
            if self._writer is not None:
                self._writer.close()
                self._writer = None
            if self._sink is not None:
                self._sink.close()
                self._sink = None


def read_emitted(path: str | Path) -> PointBatch:
    """Every point in an emitted-log file; a torn last record (crash) is ignored."""
    parts: list[pa.RecordBatch] = []
    with pa.OSFile(str(path), "rb") as src:
        try:
            reader = pa.ipc.open_stream(src)
            for rb in reader:
                parts.append(rb)
        except (pa.ArrowInvalid, OSError):
            pass  # truncated tail: keep what was complete
    if not parts:
        return PointBatch.empty()
    t = pa.Table.from_batches(parts, schema=SCHEMA)
    return PointBatch.from_arrays(
        t["series"].to_numpy(), t["ts"].to_numpy(), t["value"].to_numpy(), t["quality"].to_numpy()
    )
