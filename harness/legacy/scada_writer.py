"""The legacy SCADA writer: buffer readings per tenant, bulk-write them with ``COPY``.

The seed design's aggregator: each tenant (enterprise + site of the tag path)
has a buffer that is written when it holds ``max_rows`` readings (10,000) or its
oldest reading waited ``max_age_s`` (5 s), whichever comes first. One write is
one transaction: create the day partitions it needs, ``COPY ... FROM STDIN`` the
rows as CSV (built column-wise by Arrow, no Python object per reading), commit.
The rollups are refreshed like a continuous aggregate's refresh policy: every
``rollup_refresh_s`` for the time range written since the last refresh. Write
latency (per ``COPY`` transaction) and row counts are kept for the report.

>>> from historian.catalogue import TagCatalogue, TagInfo
>>> tag = TagInfo(1, "acme.permian.north.pad01.well0001.esp.speed")
>>> m = ScadaTagMap.from_catalogue(TagCatalogue([tag]))
>>> m.node_ids[0], m.tenants
('ns=2;s=acme.permian.north.pad01.well0001.esp.speed', ['acme.permian'])
"""

from __future__ import annotations

import io
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from harness.legacy.scada_schema import (
    READINGS_TABLE,
    create_schema,
    ensure_day_partitions,
    node_id,
    refresh_rollups,
)
from historian.catalogue import TagCatalogue
from historian.io.timestamps import format_timestamps
from historian.model import PointBatch, severity_of

__all__ = ["QUALITY_TEXT", "ScadaAggregator", "ScadaTagMap", "readings_csv"]

QUALITY_TEXT = ("Good", "Uncertain", "Bad")
"""The SCADA writer's quality column by OPC UA severity (0, 1, 2)."""
WELL_NAMESPACE = uuid.UUID("6f1c1d52-6a4e-4f8e-9a43-2f3c1f5e0b11")
MAX_ROWS = 10_000
MAX_AGE_S = 5.0
ROLLUP_REFRESH_S = 10.0
"""How often the rollups are refreshed for the range written since (a refresh policy's
schedule); every ``flush_due(force=True)`` refreshes too."""


@dataclass(frozen=True)
class ScadaTagMap:
    """Series id -> node id, well uuid and tenant, as sorted lookup columns."""

    series: np.ndarray  # uint32, ascending
    node_ids: list[str]
    well_ids: list[str]
    tenant_of: np.ndarray  # int32 index into tenants, per series row
    tenants: list[str]

    @classmethod
    def from_catalogue(cls, catalogue: TagCatalogue) -> ScadaTagMap:
        tags = sorted(catalogue, key=lambda t: t.id)
        tenants: dict[str, int] = {}
        tenant_of = []
        for t in tags:
            parts = t.name.split(".")
            tenant_of.append(tenants.setdefault(".".join(parts[:2]), len(tenants)))
        return cls(
            np.array([t.id for t in tags], np.uint32),
            [node_id(t.name) for t in tags],
            # the well is the path up to the cell level (ISA-95: .../line/cell)
            [str(uuid.uuid5(WELL_NAMESPACE, ".".join(t.name.split(".")[:5]))) for t in tags],
            np.array(tenant_of, np.int32),
            list(tenants),
        )

    def rows_of(self, series: np.ndarray) -> np.ndarray:
        """Row index of each series id; raises on an id the catalogue lacks."""
        idx = np.searchsorted(self.series, series)
        idx = np.minimum(idx, len(self.series) - 1)
        if len(series) and not np.array_equal(self.series[idx], series):
            unknown = np.asarray(series)[self.series[idx] != series][:3].tolist()
            raise KeyError(f"series ids {unknown} are not in the SCADA tag map")
        return idx


def readings_csv(tags: ScadaTagMap, rows: np.ndarray, batch: PointBatch) -> bytes:
    """The COPY CSV body of ``batch`` (``rows``: tag-map rows of its series)."""
    take = pa.array(rows.astype(np.int32))
    node = pa.array(tags.node_ids, pa.string()).take(take)
    well = pa.array(tags.well_ids, pa.string()).take(take)
    quality = pa.array(QUALITY_TEXT, pa.string()).take(pa.array(severity_of(batch.quality)))
    values = pc.cast(pa.array(batch.values, pa.float64()), pa.string())
    table = pa.table(
        {"w": well, "n": node, "t": format_timestamps(batch.ts), "v": values, "q": quality}
    )
    sink = io.BytesIO()
    pacsv.write_csv(table, sink, pacsv.WriteOptions(include_header=False, quoting_style="needed"))
    return sink.getvalue()


@dataclass
class _TenantBuffer:
    parts: list[PointBatch] = field(default_factory=list)
    rows: int = 0
    oldest: float = 0.0
    generation: int = 0
    """Incremented by every write of this buffer (the consumer acks by it)."""


class ScadaAggregator:
    """Per-tenant buffers flushed at ``max_rows`` or ``max_age_s`` with one COPY each."""

    def __init__(
        self,
        dsn: str,
        tags: ScadaTagMap,
        *,
        max_rows: int = MAX_ROWS,
        max_age_s: float = MAX_AGE_S,
        rollup_refresh_s: float = ROLLUP_REFRESH_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.tags = tags
        self.max_rows = max_rows
        self.max_age_s = max_age_s
        self._clock = clock
        self._conn = psycopg.connect(dsn)
        create_schema(self._conn)
        self.buffers = [_TenantBuffer() for _ in tags.tenants]
        self.rows_written = 0
        self.copies = 0
        self.write_latency_s: list[float] = []
        self.rollup_refresh_s = rollup_refresh_s
        self._dirty: tuple[int, int] | None = None  # time range written since the last refresh
        self._refreshed_at = clock()

    @property
    def pending_rows(self) -> int:
        return sum(b.rows for b in self.buffers)

    def add(self, batch: PointBatch) -> dict[int, int]:
        """Buffer a batch; returns {tenant: generation} its rows wait in (for acking)."""
        if len(batch) == 0:
            return {}
        tenant = self.tags.tenant_of[self.tags.rows_of(batch.series)]
        now = self._clock()
        waits: dict[int, int] = {}
        for t in np.unique(tenant).tolist():
            mask = tenant == t
            part = batch if mask.all() else _select(batch, mask)
            buf = self.buffers[t]
            if buf.rows == 0:
                buf.oldest = now
            buf.parts.append(part)
            buf.rows += len(part)
            waits[t] = buf.generation
        return waits

    def flush_due(self, *, force: bool = False) -> int:
        """Write every buffer that is full or old enough (all with ``force``); rows written."""
        now = self._clock()
        written = 0
        for buf in self.buffers:
            if buf.rows and (
                force or buf.rows >= self.max_rows or now - buf.oldest >= self.max_age_s
            ):
                written += self._write(buf)
        if self._dirty is not None and (force or now - self._refreshed_at >= self.rollup_refresh_s):
            lo, hi = self._dirty
            with self._conn.transaction():
                refresh_rollups(self._conn, lo, hi)
            self._dirty, self._refreshed_at = None, now
        return written

    def written(self, tenant: int, generation: int) -> bool:
        return self.buffers[tenant].generation > generation

    def _write(self, buf: _TenantBuffer) -> int:
        batch = _concat(buf.parts)
        t0 = time.perf_counter()
        lo, hi = int(batch.ts.min()), int(batch.ts.max())
        with self._conn.transaction():
            ensure_day_partitions(self._conn, lo, hi)
            with self._conn.cursor() as cur:
                sql = (
                    f'COPY {READINGS_TABLE} (well_id, tag_node_id, "timestamp", value, quality) '
                    "FROM STDIN WITH (FORMAT csv)"
                )
                with cur.copy(sql) as copy:
                    copy.write(readings_csv(self.tags, self.tags.rows_of(batch.series), batch))
        self._dirty = (
            (lo, hi) if self._dirty is None else (min(lo, self._dirty[0]), max(hi, self._dirty[1]))
        )
        self.write_latency_s.append(time.perf_counter() - t0)
        self.copies += 1
        self.rows_written += len(batch)
        buf.parts, buf.rows, buf.generation = [], 0, buf.generation + 1
        return len(batch)

    def close(self) -> None:
        self._conn.close()


def _select(batch: PointBatch, mask: np.ndarray) -> PointBatch:
    return PointBatch(
        batch.series[mask], batch.ts[mask], batch.values[mask], batch.quality[mask], batch.is_sorted
    )


def _concat(parts: list[PointBatch]) -> PointBatch:
    if len(parts) == 1:
        return parts[0]
    return PointBatch(
        np.concatenate([p.series for p in parts]),
        np.concatenate([p.ts for p in parts]),
        np.concatenate([p.values for p in parts]),
        np.concatenate([p.quality for p in parts]),
    )
