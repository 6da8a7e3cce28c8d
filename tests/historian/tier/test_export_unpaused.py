"""Compaction runs while an export round is in progress (the round holds no lock meanwhile).

The round's heavy half (``Offload``) is held at a gate: it signals that it has
started, then waits until the test opens the gate. Meanwhile the background
compaction thread must merge new L0 files of a hot bucket (a compaction
completes), and must leave alone the bucket being exported, even when late data
lands in it. The round then finishes: everything it picked goes cold, the late
point stays hot and wins, and the next round exports it.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

import numpy as np

from harness.services import S3Server
from historian import Historian, Options
from historian.catalogue import TagCatalogue
from historian.lsm import filenames
from historian.lsm.manifest import FileMeta
from historian.sstable import SegmentReader
from historian.tier import ColdTier, TierConfig
from historian.tier.coldcat import ColdPart
from historian.tier.exporter import ExportReport, encode_parts, merge_batches, upload_verified
from historian.tier.objstore import ObjectStore

from .conftest import DAY, NOW, T0, TAGS, tier_config, write_days

DEADLINE_S = 30.0
S = 1_000_000_000


class GatedOffload:
    """The export's heavy half in this process, started only when the gate opens."""

    def __init__(self, db: Historian, cfg: TierConfig) -> None:
        self.db, self.cfg = db, cfg
        self.store: ObjectStore | None = None
        self.started = threading.Event()
        self.gate = threading.Event()

    def export(self, files: tuple[int, ...], seq: int) -> list[ColdPart]:
        self.started.set()
        assert self.gate.wait(DEADLINE_S), "the test never opened the gate"
        root = self.db.directory
        batches = [
            SegmentReader(self.db.fs, os.path.join(root, filenames.segment_name(n))).read_all()
            for n in files
        ]
        cat = TagCatalogue.load(root)
        assert cat is not None

        def name(series: int) -> str | None:
            info = cat.by_id(series)
            return info.name if info is not None else None

        pending = encode_parts(merge_batches(batches), name, self.cfg, seq, files)
        assert self.store is not None
        return upload_verified(self.store, pending, self.db.fs.crash_point)


def wait_for(what: str, cond: Callable[[], bool]) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not cond():
        assert time.monotonic() < deadline, f"not within {DEADLINE_S:g} s: {what}"
        time.sleep(0.02)


def level_files(db: Historian, bucket: int, level: int) -> list[FileMeta]:
    return [f for f in db.live_files() if f.bucket_start == bucket and f.level == level]


def test_compaction_completes_while_an_export_round_runs(
    s3_server: S3Server, s3_bucket: str, store_dir: str
) -> None:
    opts = Options(chunk_max_points=4096, bucket_ns=DAY, l0_compaction_trigger=2)
    db = Historian.open(store_dir, opts)  # background flush and compaction threads
    TagCatalogue(TAGS).save(store_dir)
    write_days(db)  # three days, compacted: one file per day
    hot_day = T0 + 2 * DAY  # NOW with a 1-day window: the first two days go cold
    cfg = tier_config(s3_server, s3_bucket)
    offload = GatedOffload(db, cfg)
    tier = ColdTier.attach(db, cfg, worker=offload)  # type: ignore[arg-type]  # an Offload
    offload.store = tier.store
    exported = {f.number for f in db.live_files() if f.bucket_start < hot_day}
    reports: list[ExportReport] = []
    errors: list[BaseException] = []

    def round_() -> None:
        try:
            reports.append(tier.export_due(NOW))
        except BaseException as exc:  # re-raised by the test below
            errors.append(exc)

    rounds = threading.Thread(target=round_, name="export-round")
    rounds.start()
    try:
        assert offload.started.wait(DEADLINE_S), "the export round never reached its heavy half"
        # late data for the bucket being exported, and two new L0 files of the hot day
        late_ts = T0 + 60 * S  # overwrites the day's second point
        db.write_arrays([1], [late_ts], [-1.5])
        db.flush()
        for k in range(2):
            db.write_arrays([1, 2], [hot_day + (3 + k) * S] * 2, [7.0 + k, 1.0])
            db.flush()
        late = level_files(db, T0, 0)
        assert len(late) == 1
        wait_for(
            "the hot day's L0 files merged by a compaction while the export round waits",
            lambda: not level_files(db, hot_day, 0) and bool(level_files(db, hot_day, 1)),
        )
        assert offload.started.is_set() and not offload.gate.is_set()  # still mid-round
        # the bucket being exported was not touched: its L0 file waits, its files all live
        assert level_files(db, T0, 0) == late
        assert exported <= {f.number for f in db.live_files()}
    finally:
        offload.gate.set()
        rounds.join(DEADLINE_S)
    assert not rounds.is_alive() and not errors, errors
    (rep,) = reports
    assert rep.days == 2 and rep.files_dropped == len(exported)
    assert rep.lock.holds == 2 * 2  # per day: pick, drop (nothing to recover: no lock)
    live = {f.number for f in db.live_files()}
    assert not exported & live
    assert {f.number for f in late} <= live  # arrived after the pick: still hot
    c = db.snapshot().read(1, late_ts, late_ts + 1)
    np.testing.assert_array_equal(c.values, [-1.5])  # the hot late point wins over cold
    # the next round takes the late file too; the answer stays
    rep2 = tier.export_due(NOW)
    assert rep2.files_dropped == 1
    assert not {f.number for f in late} & {f.number for f in db.live_files()}
    c = db.snapshot().read(1, late_ts, late_ts + 1)
    np.testing.assert_array_equal(c.values, [-1.5])
    assert len(db.snapshot().read(1, T0, T0 + 2 * DAY).ts) == 2 * 1440
    db.close()
