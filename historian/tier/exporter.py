"""Export: segments older than the hot window -> verified Parquet parts -> catalogue -> dropped.

One UTC day at a time, every step followed by a named crash point. The day's
files are picked and marked with compaction paused; compaction then skips their
buckets (``Historian.files_held``) while the steps below run unpaused, so the
files read are exactly the files dropped; the lock is taken again only for the
manifest edit of step 5 (``historian.tier.holds``):

1. merge the day's files with last-write-wins (precedence order), split into
   parts by (tag prefix, day), encode raw + 1 min / 1 h / 1 day rollups;
   ``tier.export.before_upload``;
2. PUT every object (keys carry the part's ``seq``, allocated from the
   catalogue's ``next_seq``); ``tier.export.after_upload``;
3. read each back (HEAD size, GET + CRC32C); ``tier.export.after_verify``;
4. list the parts in the catalogue, one atomic write for the day
   (``TIER.before_rename``, ``TIER.before_dir_sync``); ``tier.export.after_catalogue``;
5. drop the day's files by one manifest edit (``manifest.before_rename``,
   ``manifest.before_dir_sync``, ``tier.drop.after_manifest``); ``tier.export.after_drop``.

Memory: one day of every series is merged in memory (~22 bytes/point), so a
store of 10,000 tags at 1 Hz needs ~19 GB per day exported; splitting a day by
series range is the next step for such stores (not done yet).

Restart (:func:`recover`): a crash before step 4 leaves objects no catalogue
names: deleted (their seq is reallocated, so a retry would overwrite them
anyway). A crash after step 4 leaves listed parts whose hot files are still
live: they are dropped, without waiting for a running compaction (put off to a
later round while one runs; ``ColdTier`` holds compaction off their buckets from
attach on and exports nothing until they are gone). Nothing is lost (hot files go
only after their parts are listed) and nothing is kept twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import crc32c
import numpy as np
from numpy.typing import NDArray

from historian.errors import HistorianError
from historian.lsm.engine import Historian
from historian.lsm.manifest import FileMeta
from historian.lsm.version import Version
from historian.model import PointBatch

from .coldcat import ColdCatalogue, ColdPart, ObjectInfo, write_cold_catalogue
from .config import ROLLUP_LEVELS, TierConfig
from .holds import LockTimes, timed_hold, timed_pause, timed_try_pause
from .layout import NS_PER_DAY, parse_key, raw_key, rollup_key, split_runs, tag_prefix_of
from .objstore import ObjectStore
from .parts import encode_raw, encode_rollups, level_ns, rollup_rows

__all__ = [
    "EXPORT_CRASH_POINTS",
    "ExportReport",
    "Offload",
    "TierVerifyError",
    "encode_parts",
    "export_day",
    "merge_batches",
    "recover",
    "stale_files",
    "upload_verified",
]

EXPORT_CRASH_POINTS = (
    "tier.export.before_upload",
    "tier.export.after_upload",
    "tier.export.after_verify",
    "TIER.before_rename",
    "TIER.before_dir_sync",
    "tier.export.after_catalogue",
    "manifest.before_rename",
    "tier.drop.after_manifest",
    "tier.export.after_drop",
)


class TierVerifyError(HistorianError):
    """An uploaded object did not read back as written (size or checksum)."""


@dataclass
class ExportReport:
    days: int = 0
    parts: int = 0
    points: int = 0
    raw_bytes: int = 0
    rollup_bytes: int = 0
    hot_bytes: int = 0
    """Bytes of the segment files the export dropped."""
    files_dropped: int = 0
    seconds: float = 0.0
    recovered: list[str] = field(default_factory=list)
    flushes: int = 0
    """Memtable flushes the round forced (old data waiting in memory)."""
    lock: LockTimes = field(default_factory=LockTimes)
    """The round's holds of the compaction lock."""

    def summary(self) -> str:
        """One log line: what moved, how long it took, what it cost the store."""
        lk = self.lock
        return (
            f"{self.days} day(s), {self.parts} part(s), {self.points} points, "
            f"{self.raw_bytes} raw bytes in {self.seconds:.2f} s; {self.flushes} flush(es) "
            f"forced; compaction lock held {lk.held_s:.3f} s (longest {lk.held_max_s:.3f} s) "
            f"in {lk.holds} hold(s), waited {lk.wait_s:.3f} s"
        )


Names = Callable[[int], str | None]


def exportable_days(files: Sequence[FileMeta], cutoff_ns: int) -> list[int]:
    """Day starts with data wholly before ``cutoff_ns`` (a bucket goes only all at once).

    ``files`` may be a moment old (``Historian.live_files``, no lock): ``export_day``
    picks each day's files again with compaction paused."""
    by_bucket: dict[int, list[FileMeta]] = {}
    for f in files:
        by_bucket.setdefault(f.bucket_start, []).append(f)
    days = {
        b // NS_PER_DAY * NS_PER_DAY
        for b, fs in by_bucket.items()
        if all(f.max_ts < cutoff_ns for f in fs)
    }
    return sorted(days)


def _day_files(version: Version, day: int, cutoff_ns: int) -> list[FileMeta]:
    ok: dict[int, bool] = {}
    for f in version.files:
        ok.setdefault(f.bucket_start, True)
        ok[f.bucket_start] &= f.max_ts < cutoff_ns
    return [
        f
        for f in version.files
        if ok[f.bucket_start] and f.bucket_start // NS_PER_DAY * NS_PER_DAY == day
    ]


def merge_batches(batches: list[PointBatch]) -> PointBatch:
    """Every point of ``batches`` (files in precedence order) sorted by (series, ts), the
    later file winning a tie."""
    s = np.concatenate([b.series for b in batches])
    t = np.concatenate([b.ts for b in batches])
    v = np.concatenate([b.values for b in batches])
    q = np.concatenate([b.quality for b in batches])
    order = np.lexsort((t, s))  # stable: equal keys keep precedence order
    s, t, v, q = s[order], t[order], v[order], q[order]
    keep = np.ones(len(t), bool)
    keep[:-1] = (s[1:] != s[:-1]) | (t[1:] != t[:-1])  # the last of equal keys wins
    return PointBatch(s[keep], t[keep], v[keep], q[keep], True)


def _groups(
    s: NDArray[np.uint32], t: NDArray[np.int64], names: Names, cfg: TierConfig
) -> list[tuple[tuple[str, int], NDArray[np.intp]]]:
    """Point indexes per (tag prefix, day), each still sorted by (series, ts)."""
    runs = split_runs(s.astype(np.int64))
    run_pfx = [
        tag_prefix_of(names(int(s[a])), int(s[a]), cfg.tag_prefix_depth, cfg.series_bucket)
        for a, _ in runs
    ]
    uniq_pfx = sorted(set(run_pfx))
    code = {p: i for i, p in enumerate(uniq_pfx)}
    point_code = np.repeat(np.array([code[p] for p in run_pfx], np.int64), [b - a for a, b in runs])
    key = point_code * 2**32 + t // NS_PER_DAY
    order = np.argsort(key, kind="stable")
    out = []
    for a, b in split_runs(key[order]):
        k = int(key[order[a]])
        out.append(((uniq_pfx[k >> 32], (k & 0xFFFFFFFF) * NS_PER_DAY), order[a:b]))
    return out


Pending = list[tuple[ColdPart, dict[str, bytes]]]
"""Parts encoded but not yet uploaded: each part's record and its objects' bytes."""


def encode_parts(
    merged: PointBatch, names: Names, cfg: TierConfig, seq: int, files: tuple[int, ...]
) -> Pending:
    """Split merged points by (tag prefix, day), encode raw + rollups; seq from ``seq`` on."""
    s, t, v, q = merged.series, merged.ts, merged.values, merged.quality
    pending: Pending = []
    for (p, d), idx in _groups(s, t, names, cfg):
        gs, gt, gv, gq = s[idx], t[idx], v[idx], q[idx]
        blobs = {
            "raw": encode_raw(
                gs, gt, gv, gq, row_group_rows=cfg.row_group_rows, zstd_level=cfg.zstd_level
            )
        }
        keys_of = {"raw": raw_key(cfg.prefix, p, d, seq)}
        for level in ROLLUP_LEVELS:
            blobs[level] = encode_rollups(rollup_rows(gs, gt, gv, gq, level_ns(level)))
            keys_of[level] = rollup_key(cfg.prefix, level, p, d, seq)
        part = ColdPart(
            seq=seq,
            tag_prefix=p,
            day_start=d,
            objects={k: ObjectInfo(keys_of[k], len(b), crc32c.crc32c(b)) for k, b in blobs.items()},
            series_min=int(gs.min()),
            series_max=int(gs.max()),
            min_ts=int(gt.min()),
            max_ts=int(gt.max()),
            rows=len(gt),
            source_files=files,
            row_groups=-(-len(gt) // cfg.row_group_rows),
        )
        pending.append((part, blobs))
        seq += 1
    return pending


def check_object(store: ObjectStore, info: ObjectInfo) -> None:
    size = store.size(info.key)
    if size != info.size:
        raise TierVerifyError(f"{info.key}: {size} bytes in the store, {info.size} written")
    if crc32c.crc32c(store.get(info.key)) != info.crc:
        raise TierVerifyError(f"{info.key}: checksum differs from the bytes written")


def upload_verified(
    store: ObjectStore, pending: Pending, crash_point: Callable[[str], None]
) -> list[ColdPart]:
    """Steps 2 and 3: PUT every object, read each back; the parts, ready to be listed."""
    crash_point("tier.export.before_upload")
    for part, blobs in pending:
        for kind, data in blobs.items():
            store.put(part.objects[kind].key, data)
    crash_point("tier.export.after_upload")
    for part, _ in pending:
        for info in part.objects.values():
            check_object(store, info)
    crash_point("tier.export.after_verify")
    return [part for part, _ in pending]


class Offload(Protocol):
    """Does steps 1-3 somewhere else (``historian.tier.worker``: a child process)."""

    def export(self, files: tuple[int, ...], seq: int) -> list[ColdPart]: ...


def export_day(
    db: Historian,
    store: ObjectStore,
    cfg: TierConfig,
    cat: ColdCatalogue,
    day: int,
    cutoff_ns: int,
    names: Names,
    report: ExportReport,
    offload: Offload | None = None,
) -> ColdCatalogue:
    """Export one day (module docstring); return the new catalogue.

    With ``offload`` steps 1-3 (read the files, merge, encode, upload, verify) run
    there; this process keeps only the catalogue write and the manifest edit."""
    fs = db.fs
    # the compaction lock only to pick (and mark) the files and to drop them: compaction
    # skips the marked buckets meanwhile and goes on with every other (holds.py)
    with timed_hold(db, lambda v: _day_files(v, day, cutoff_ns), report.lock) as (version, files):
        if not files:
            return cat
        numbers = tuple(f.number for f in files)  # precedence order
        if offload is not None:
            parts = offload.export(numbers, cat.next_seq)
        else:
            merged = merge_batches([version.reader(n).read_all() for n in numbers])
            pending = encode_parts(merged, names, cfg, cat.next_seq, numbers)
            parts = upload_verified(store, pending, fs.crash_point)
        new = cat
        for part in parts:
            new = new.with_part(part)
        write_cold_catalogue(fs, db.directory, new, db.cipher)
        fs.crash_point("tier.export.after_catalogue")
        with timed_pause(db, report.lock):
            db.drop_files(frozenset(numbers))
        fs.crash_point("tier.export.after_drop")
    report.days += 1
    report.parts += len(parts)
    report.points += sum(pt.rows for pt in parts)
    report.raw_bytes += sum(pt.objects["raw"].size for pt in parts)
    report.rollup_bytes += sum(pt.objects[lv].size for pt in parts for lv in ROLLUP_LEVELS)
    report.hot_bytes += sum(f.file_bytes for f in files)
    report.files_dropped += len(files)
    return new


def stale_files(db: Historian, cat: ColdCatalogue) -> frozenset[int]:
    """Live hot files whose points the catalogue already lists (a crash before their drop).

    A file number is never reused: when none is live now, none can be later. Read
    without the compaction lock (``Historian.live_files``)."""
    sources = {n for pt in cat.parts for n in pt.source_files}
    return frozenset(sources & {f.number for f in db.live_files()})


def recover(
    db: Historian,
    store: ObjectStore,
    cfg: TierConfig,
    cat: ColdCatalogue,
    lock: LockTimes | None = None,
) -> list[str]:
    """Finish what a crash interrupted (module docstring); one line per action.

    Never waits for a running compaction (a restarted server's first merge of its
    backlog ran 30 s): when one runs, the drop of stale hot files is put off (a line
    says so, and :func:`stale_files` stays non-empty); the caller keeps compaction off
    their buckets meanwhile (``Historian.hold_buckets``) and exports nothing until
    they are gone, since exporting them again would store their points twice."""
    done: list[str] = []
    listed = {info.key for pt in cat.parts for info in pt.objects.values()}
    if stale_files(db, cat):  # only after a crash: no lock at all otherwise
        with timed_try_pause(db, lock or LockTimes()) as version:
            if version is None:
                done.append(
                    "dropping hot files already in the cold tier put off: a compaction "
                    "is running (next round)"
                )
            else:
                sources = {n for pt in cat.parts for n in pt.source_files}
                exported = sources & {f.number for f in version.files}
                if exported:
                    db.drop_files(frozenset(exported))
                    done.append(f"dropped hot files {sorted(exported)} already in the cold tier")
    orphans = []
    for key, _ in store.list(cfg.prefix + "/"):
        parsed = parse_key(key)
        if parsed is not None and key not in listed:
            orphans.append(key)
    if orphans:
        store.delete(orphans)
        done.append(f"deleted {len(orphans)} uncatalogued object(s) of an interrupted export")
    return done


def now_ns() -> int:
    return time.time_ns()
