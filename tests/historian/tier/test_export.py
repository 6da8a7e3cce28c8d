"""Export to the real (moto) S3 server: the same answers before and after, hot files gone."""

from __future__ import annotations

import numpy as np

from harness.services import S3Server
from historian.tier import ColdTier

from .answers import ask, assert_same
from .conftest import DAY, DAYS, NOW, T0, open_store, tier_config, write_days


def test_export_keeps_every_answer_and_frees_the_hot_tier(
    s3_server: S3Server, s3_bucket: str, store_dir: str
) -> None:
    db = open_store(store_dir)
    write_days(db)
    before = ask(db)
    hot_points = db.stats().segment_points
    tier = ColdTier.attach(db, tier_config(s3_server, s3_bucket))
    rep = tier.export_due(NOW)
    assert rep.days == DAYS - 1 and rep.points == hot_points * (DAYS - 1) // DAYS
    assert db.stats().segment_points == hot_points - rep.points  # the cold days left the SSD
    keys = [k for k, _ in tier.store.list("store1/")]
    assert any("/raw/tag_prefix=acme.north/date=2024-10-04/part-" in k for k in keys), keys
    assert any("/rollup/level=1h/tag_prefix=acme.south/date=2024-10-05/" in k for k in keys), keys
    after = ask(db)
    assert_same(before, after)
    # a second run has nothing left to do
    assert tier.export_due(NOW).parts == 0
    db.close()
    # the catalogue is persisted: a new process sees the same store
    db = open_store(store_dir)
    ColdTier.attach(db, tier_config(s3_server, s3_bucket))
    assert_same(before, ask(db))
    db.close()


def test_late_data_after_export_wins(s3_server: S3Server, s3_bucket: str, store_dir: str) -> None:
    db = open_store(store_dir)
    write_days(db)
    tier = ColdTier.attach(db, tier_config(s3_server, s3_bucket))
    tier.export_due(NOW)
    late_ts = np.array([T0 + 600 * 10**9, T0 + DAY + 7 * 10**9], np.int64)  # one overwrite, one new
    db.write_arrays([1, 1], late_ts, [-1.0, -2.0])
    cols = db.snapshot().read(1, T0, T0 + 2 * DAY)
    got = dict(zip(cols.ts.tolist(), cols.values.tolist(), strict=True))
    assert got[int(late_ts[0])] == -1.0 and got[int(late_ts[1])] == -2.0
    assert len(cols.ts) == 2 * 1440 + 1  # overwritten in place, one added
    db.flush()
    db.compact()
    # the late points are themselves old: the next export moves them as a newer part
    rep = tier.export_due(NOW)
    assert rep.parts >= 1
    cols2 = db.snapshot().read(1, T0, T0 + 2 * DAY)
    np.testing.assert_array_equal(cols.ts, cols2.ts)
    np.testing.assert_array_equal(cols.values, cols2.values)
    # small-file compaction: each partition's parts merge into one, the newer part winning
    by_partition = {(p.tag_prefix, p.day_start) for p in tier.catalogue.parts}
    assert len(tier.catalogue.parts) > len(by_partition)
    lines = tier.compact_small()
    assert lines and len(tier.catalogue.parts) == len(by_partition)
    cols3 = db.snapshot().read(1, T0, T0 + 2 * DAY)
    np.testing.assert_array_equal(cols.ts, cols3.ts)
    np.testing.assert_array_equal(cols.values, cols3.values)
    listed = {i.key for p in tier.catalogue.parts for i in p.objects.values()}
    assert {k for k, _ in tier.store.list("store1/") if "/part-" in k} == listed
    assert tier.verify().ok
    db.close()


def test_long_range_summary_reads_cold_rollups_not_points(
    s3_server: S3Server, s3_bucket: str, store_dir: str
) -> None:
    from historian.catalogue import TagCatalogue
    from historian.query.engine import QueryEngine

    db = open_store(store_dir)
    write_days(db)
    tier = ColdTier.attach(db, tier_config(s3_server, s3_bucket))
    tier.export_due(NOW)
    q = QueryEngine(db, TagCatalogue.load(store_dir))
    name = "acme.north.tank.level"
    s = q.summary(name, T0, T0 + 2 * DAY, 3_600 * 10**9, types=["average", "count"])
    # every cold hour came from a 1 h rollup row (the 1 % Bad points end some rows in Bad:
    # those are decoded), and the rows' counts add up to the points
    assert q.last_chunks_from_index >= 24
    scan = q.summary(
        name, T0, T0 + 2 * DAY, 3_600 * 10**9, types=["average", "count"], use_index=False
    )
    np.testing.assert_array_equal(s.count, scan.count)
    np.testing.assert_allclose(s.average, scan.average, rtol=1e-12)
    db.close()
