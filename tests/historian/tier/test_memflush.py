"""A server's export round forces a memtable flush only when the active memtable holds due points.

``export_due(flush=True)`` (what ``serve --tier`` runs): recent points in memory
force nothing; a late point of a cold day is flushed and exported in the same
round; a memtable already queued for flush forces nothing either (its flush is
held at a gate here), and the round leaves that memtable's buckets for the next
round instead of exporting them half now, half then.
"""

from __future__ import annotations

import threading

import numpy as np

from harness.services import S3Server
from historian import Historian, Options
from historian.catalogue import TagCatalogue
from historian.fs import FileSystem
from historian.tier import ColdTier

from .conftest import DAY, NOW, T0, TAGS, open_store, tier_config, write_days

S = 1_000_000_000
DEADLINE_S = 30.0


def value_at(db: Historian, series: int, ts: int) -> list[float]:
    return list(db.snapshot().read(series, ts, ts + 1).values)


def test_only_due_points_in_the_active_memtable_force_a_flush(
    s3_server: S3Server, s3_bucket: str, store_dir: str
) -> None:
    db = open_store(store_dir)
    write_days(db)
    tier = ColdTier.attach(db, tier_config(s3_server, s3_bucket))
    recent = T0 + 2 * DAY + 5 * S  # the last day: hot at NOW
    db.write_arrays([1], [recent], [1.0])
    rep = tier.export_due(NOW, flush=True)
    assert (rep.flushes, rep.days) == (0, 2)
    assert db.memtable_oldest_ns() == (recent, None)  # still in memory
    late = T0 + 60 * S  # a late point of the first, exported day
    db.write_arrays([1], [late], [-2.0])
    rep = tier.export_due(NOW, flush=True)
    assert (rep.flushes, rep.files_dropped) == (1, 1)  # flushed, and its file went cold
    assert db.memtable_oldest_ns() == (None, None)
    assert all(f.bucket_start >= T0 + 2 * DAY for f in db.live_files())
    assert value_at(db, 1, late) == [-2.0] and value_at(db, 1, recent) == [1.0]
    db.close()


class GatedFlush(FileSystem):
    """Holds the flush thread after it wrote its segment (the memtable stays queued)."""

    def __init__(self) -> None:
        super().__init__()
        self.armed = False
        self.waiting = threading.Event()
        self.gate = threading.Event()

    def crash_point(self, name: str) -> None:
        if self.armed and name == "flush.after_segment":
            self.waiting.set()
            assert self.gate.wait(DEADLINE_S), "the test never opened the gate"


def test_a_memtable_queued_for_flush_forces_nothing_and_its_buckets_wait(
    s3_server: S3Server, s3_bucket: str, store_dir: str
) -> None:
    fs = GatedFlush()
    db = Historian.open(store_dir, Options(chunk_max_points=4096, bucket_ns=DAY), fs)
    TagCatalogue(TAGS).save(store_dir)
    write_days(db)
    tier = ColdTier.attach(db, tier_config(s3_server, s3_bucket))
    late = T0 + DAY + 60 * S  # the second day, due at NOW
    db.write_arrays([2], [late], [5.0])
    fs.armed = True
    flusher = threading.Thread(target=db.flush, name="flush")
    flusher.start()
    try:
        assert fs.waiting.wait(DEADLINE_S), "the flush never started"
        queued = db.memtable_oldest_ns()
        assert queued == (None, late)
        rep = tier.export_due(NOW, flush=True)  # would wait on the held flush if it forced one
        assert rep.flushes == 0
        assert {p.day_start for p in tier.catalogue.parts} == {T0}  # the second day waits
    finally:
        fs.gate.set()
        flusher.join(DEADLINE_S)
    assert not flusher.is_alive()
    fs.armed = False
    rep = tier.export_due(NOW, flush=True)
    assert (rep.flushes, rep.days) == (0, 1)
    assert {p.day_start for p in tier.catalogue.parts} == {T0, T0 + DAY}
    assert value_at(db, 2, late) == [5.0]
    assert len(db.snapshot().read(2, T0 + DAY, T0 + 2 * DAY).ts) == 1440
    np.testing.assert_array_equal([f.bucket_start >= T0 + 2 * DAY for f in db.live_files()], True)
    db.close()
