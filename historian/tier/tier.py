"""The cold tier of one open store: export, query sources, retention, verify, status.

::

    tier = ColdTier.attach(db, TierConfig.load("twinbench.toml"))  # registers its sources
    tier.export_due()     # whole days older than the hot window -> Parquet on S3
    db.snapshot()         # now reads cold parts first, then segments, then memtables

Attaching runs :func:`historian.tier.exporter.recover` first, so an export a
crash interrupted is finished or undone before anything else happens.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import crc32c
import pyarrow as pa
import pyarrow.parquet as pq

from historian.catalogue import TagCatalogue
from historian.lsm.engine import Historian
from historian.query.source import SeriesSource

from .coldcat import ColdCatalogue, ColdPart, read_cold_catalogue, write_cold_catalogue
from .compact import compact_partitions
from .config import ROLLUP_LEVELS, TierConfig
from .exporter import ExportReport, export_day, exportable_days, recover, stale_files
from .layout import NS_PER_DAY, date_of, tags_key
from .memflush import settle_memtables
from .objstore import ObjectStore, ObjectStoreError, S3Store
from .source import ColdPartSource, PartCache
from .worker import ExportWorker

__all__ = ["ColdTier", "VerifyReport"]

log = logging.getLogger("historian.tier")


@dataclass
class VerifyReport:
    objects: int = 0
    bytes: int = 0
    problems: list[str] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


class ColdTier:
    """Export, read and expire the cold tier of ``db`` (module docstring)."""

    def __init__(
        self,
        db: Historian,
        config: TierConfig,
        store: ObjectStore | None = None,
        *,
        worker: ExportWorker | None = None,
    ) -> None:
        self.db = db
        self.worker = worker
        """Where exports and small-part merges do their heavy half (None: this thread)."""
        self.config = config
        self.store: ObjectStore = store or S3Store(
            config.endpoint,
            config.bucket,
            config.access_key,
            config.secret_key,
            config.region,
            sse=config.sse,
            sse_kms_key_id=config.sse_kms_key_id,
        )
        self.cache = PartCache(config.cache_bytes)
        self._lock = threading.Lock()
        self._catalogue = read_cold_catalogue(db.fs, db.directory, db.cipher)
        self._sources: tuple[ColdPartSource, ...] = ()
        self._rebuild_sources()
        self.last_export: ExportReport | None = None
        self.recovered: list[str] = []
        self._release_stale: Callable[[], None] | None = None
        self._hold_stale()

    @classmethod
    def attach(
        cls,
        db: Historian,
        config: TierConfig,
        store: ObjectStore | None = None,
        *,
        recover_now: bool = True,
        worker: ExportWorker | None = None,
    ) -> ColdTier:
        """Recover an interrupted export, then register the tier's sources in every snapshot.

        Nothing here waits for a running compaction: hot files a crash left behind beside
        their listed parts are held off compaction at once (``Historian.hold_buckets``)
        and dropped when no merge runs (now, or a later round). ``recover_now=False`` (a
        starting server) also leaves the bucket listing (orphan sweep) to the first
        :meth:`export_due`, so a server need not wait for the object store before it
        serves. Reading before the recovery is safe: a part is a source only once
        listed, and the stale hot files hold the same points (the hot one wins)."""
        tier = cls(db, config, store, worker=worker)
        if recover_now:
            tier.recover()
        db.add_source_provider(tier.sources)
        return tier

    def recover(self) -> list[str]:
        """Finish or undo an export a crash interrupted (``exporter.recover``)."""
        with self._lock:
            self.recovered = recover(self.db, self.store, self.config, self._catalogue)
            self._hold_stale()
        for line in self.recovered:
            log.warning("tier recovery: %s", line)
        return self.recovered

    def _hold_stale(self) -> bool:
        """Hold compaction off the buckets of stale hot files; end the hold once none is
        left. Returns whether some are left (then nothing may be exported)."""
        stale = stale_files(self.db, self._catalogue)
        if stale and self._release_stale is None:
            buckets = frozenset(f.bucket_start for f in self.db.live_files() if f.number in stale)
            self._release_stale = self.db.hold_buckets(buckets)
        elif not stale and self._release_stale is not None:
            self._release_stale()
            self._release_stale = None
        return bool(stale)

    @property
    def catalogue(self) -> ColdCatalogue:
        return self._catalogue

    def _rebuild_sources(self) -> None:
        parts = sorted(self._catalogue.parts, key=lambda p: p.seq)  # later seq = newer data
        old = {s.part.seq: s for s in self._sources}
        self._sources = tuple(
            old[p.seq]
            if p.seq in old and old[p.seq].part == p
            else ColdPartSource(self.store, p, self.cache)
            for p in parts
        )

    def sources(self) -> Sequence[SeriesSource]:
        """The cold parts as read sources, oldest first (the engine's source provider)."""
        return self._sources

    # ----------------------------------------------------------------- export
    def export_due(self, now_ns: int | None = None, *, flush: bool = False) -> ExportReport:
        """Export every whole store bucket older than the hot window; return what moved.

        Whole buckets (``Historian.bucket_ns``, 1 h by default), not whole days: segment
        files never span a bucket, so a bucket is the unit that can leave the SSD, and a
        server with a short hot window exports while it runs (``flush``: first flush
        the active memtable when it holds data older than the cutoff,
        ``historian.tier.memflush``). Parts are still keyed by
        UTC day (``date=``); a day exported in several rounds has several parts, which
        :meth:`compact_small` merges."""
        now = time.time_ns() if now_ns is None else now_ns
        bucket = self.db.bucket_ns
        cutoff = (now - self.config.hot_window_ns) // bucket * bucket
        report = ExportReport()
        started = time.perf_counter()
        if flush:  # only segment files are exported (memflush.py: when a flush is due)
            cutoff, report.flushes = settle_memtables(self.db, cutoff)
        names = self._names()
        with self._lock:
            report.recovered = recover(
                self.db, self.store, self.config, self._catalogue, report.lock
            )
            # stale files left (a compaction ran): exported again, their points would be twice
            stale = self._hold_stale()
            days = [] if stale else exportable_days(self.db.live_files(), cutoff)  # picked again
            for day in days:
                self._catalogue = export_day(
                    self.db,
                    self.store,
                    self.config,
                    self._catalogue,
                    day,
                    cutoff,
                    names,
                    report,
                    self.worker,
                )
                self._rebuild_sources()
            if report.parts:
                self._write_tags()
        report.seconds = time.perf_counter() - started
        self.last_export = report
        if report.parts or report.flushes:
            log.info("tier export: %s", report.summary())
        return report

    def _names(self) -> Any:
        cat = TagCatalogue.load(self.db.directory, self.db.fs)

        def name(series: int) -> str | None:
            info = cat.by_id(series) if cat is not None else None
            return info.name if info is not None else None

        return name

    def _write_tags(self) -> None:
        """The tag catalogue beside the data as ``PREFIX/tags.parquet`` (for SQL joins)."""
        cat = TagCatalogue.load(self.db.directory, self.db.fs)
        if cat is None:
            return
        tags = list(cat)
        table = pa.table(
            {
                "series": pa.array([t.id for t in tags], pa.uint32()),
                "name": [t.name for t in tags],
                "unit": [t.unit for t in tags],
                "stepped": [t.stepped for t in tags],
                "description": [t.description for t in tags],
            }
        )
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, compression="zstd")
        self.store.put(tags_key(self.config.prefix), sink.getvalue().to_pybytes())

    def compact_small(self, target_bytes: int = 64 * 1024 * 1024) -> list[str]:
        """Merge each partition's parts while their raw objects total <= ``target_bytes``."""
        with self._lock:
            merge = self.worker.merge if self.worker is not None else None
            self._catalogue, lines = compact_partitions(
                self.db, self.store, self.config, self._catalogue, target_bytes, merge
            )
            self._rebuild_sources()
        for line in lines:
            log.info("tier %s", line)
        return lines

    # -------------------------------------------------------------- retention
    def apply_retention(self, now_ns: int | None = None) -> list[str]:
        """Delete whole partitions past each kind's retention; one log line per partition."""
        now = time.time_ns() if now_ns is None else now_ns
        limits = {"raw": self.config.raw_retention_ns, **self.config.rollup_retention_ns}
        with self._lock:
            keep: list[ColdPart] = []
            doomed: list[str] = []
            lines: list[str] = []
            deleted: dict[str, int] = {}
            for p in self._catalogue.parts:
                objects = dict(p.objects)
                for kind, limit in limits.items():
                    if limit is None or kind not in objects:
                        continue
                    if p.day_start + NS_PER_DAY <= now - limit:
                        doomed.append(objects.pop(kind).key)
                        deleted[kind] = deleted.get(kind, 0) + 1
                        lines.append(
                            f"retention: deleted {kind} tag_prefix={p.tag_prefix} "
                            f"date={date_of(p.day_start)} part {p.seq}"
                        )
                if objects:
                    keep.append(dataclasses.replace(p, objects=objects))
            if not doomed:
                return []
            # catalogue first: a crash before the deletes leaves orphans that recover() sweeps
            new = self._catalogue.with_parts(tuple(keep), lines, deleted)
            write_cold_catalogue(self.db.fs, self.db.directory, new, self.db.cipher)
            self.db.fs.crash_point("tier.retention.after_catalogue")
            self._catalogue = new
            self._rebuild_sources()
            self.store.delete(doomed)
        for line in lines:
            log.info("%s", line)
        return lines

    # ----------------------------------------------------------------- verify
    def verify(self) -> VerifyReport:
        """Re-read every catalogued object: size, CRC32C and (raw) row count."""
        rep = VerifyReport()
        for p in self._catalogue.parts:
            for kind, info in p.objects.items():
                rep.objects += 1
                try:
                    data = self.store.get(info.key)
                except ObjectStoreError as exc:
                    rep.problems.append(f"{info.key}: cannot read: {exc}")
                    continue
                rep.bytes += len(data)
                if len(data) != info.size:
                    rep.problems.append(
                        f"{info.key}: {len(data)} bytes, catalogue says {info.size}"
                    )
                elif crc32c.crc32c(data) != info.crc:
                    rep.problems.append(f"{info.key}: checksum mismatch (the object changed)")
                elif kind == "raw":
                    rows = pq.ParquetFile(pa.BufferReader(data)).metadata.num_rows
                    if rows != p.rows:
                        rep.problems.append(f"{info.key}: {rows} rows, catalogue says {p.rows}")
        return rep

    # ----------------------------------------------------------------- status
    def stats(self) -> dict[str, Any]:
        """Parts, bytes per kind, points, retention deletions, export lag (JSON-ready)."""
        cat = self._catalogue
        by_kind = {k: 0 for k in ("raw", *ROLLUP_LEVELS)}
        for p in cat.parts:
            for kind, info in p.objects.items():
                by_kind[kind] += info.size
        rows = sum(p.rows for p in cat.parts if "raw" in p.objects)
        hot = self.db.stats()
        files = self.db.snapshot().time_range()
        now = time.time_ns()
        # never under the compaction lock: a status must not wait for a merge
        oldest_hot = min((f.min_ts for f in self.db.live_files()), default=None)
        due = now - self.config.hot_window_ns
        lag = max(0, due - oldest_hot) if oldest_hot is not None else 0
        return {
            "endpoint": self.config.endpoint,
            "bucket": self.config.bucket,
            "prefix": self.config.prefix,
            "revision": cat.revision,
            "parts": len(cat.parts),
            "cold_points": rows,
            "exported_points": cat.exported_points,
            "bytes": by_kind,
            "cold_bytes_per_point": by_kind["raw"] / rows if rows else 0.0,
            "hot_bytes_per_point": hot.bytes_per_point,
            "rollup_overhead": sum(by_kind[k] for k in ROLLUP_LEVELS) / by_kind["raw"]
            if by_kind["raw"]
            else 0.0,
            "retention_deleted": dict(cat.deleted),
            "retention_log": list(cat.log[-10:]),
            "export_lag_s": lag / 1e9,
            "time_range": files,
            "cache_hits": self.cache.hits,
            "cache_misses": self.cache.misses,
        }
