"""verify catches a changed or missing object; retention deletes whole partitions per tier."""

from __future__ import annotations

import numpy as np

from harness.services import S3Server
from historian.catalogue import TagCatalogue
from historian.query.engine import QueryEngine
from historian.tier import ColdTier

from .conftest import DAY, NOW, T0, open_store, tier_config, write_days

H = 3_600 * 10**9


def test_verify_catches_a_corrupted_and_a_missing_object(
    s3_server: S3Server, s3_bucket: str, store_dir: str
) -> None:
    db = open_store(store_dir)
    write_days(db)
    tier = ColdTier.attach(db, tier_config(s3_server, s3_bucket))
    tier.export_due(NOW)
    rep = tier.verify()
    assert rep.ok and rep.objects == 4 * len(tier.catalogue.parts)
    raw = tier.catalogue.parts[0].objects["raw"].key
    data = bytearray(tier.store.get(raw))
    data[len(data) // 2] ^= 0x01  # one bit, same size
    tier.store.put(raw, bytes(data))
    gone = tier.catalogue.parts[1].objects["1h"].key
    tier.store.delete([gone])
    rep = tier.verify()
    assert len(rep.problems) == 2
    assert any(raw in p and "checksum" in p for p in rep.problems), rep.problems
    assert any(gone in p for p in rep.problems), rep.problems
    db.close()


def test_retention_drops_whole_partitions_per_tier(
    s3_server: S3Server, s3_bucket: str, store_dir: str
) -> None:
    cfg = tier_config(
        s3_server,
        s3_bucket,
        raw_retention_ns=2 * DAY,
        rollup_retention_ns={"1m": 2 * DAY, "1h": None, "1d": None},
    )
    db = open_store(store_dir)
    write_days(db)
    tier = ColdTier.attach(db, cfg)
    tier.export_due(NOW)
    q = QueryEngine(db, TagCatalogue.load(store_dir))
    name = "acme.north.tank.level"
    hourly_before = q.summary(name, T0, T0 + DAY, H, types=["count", "average"], weighting="event")
    lines = tier.apply_retention(NOW)  # NOW - 2 days is inside day T0 + 1: only day T0 expires
    # raw and 1 min of both tag prefixes of day T0: four partitions
    assert len(lines) == 4 and all("date=2024-10-04" in ln for ln in lines), lines
    keys = [k for k, _ in tier.store.list("store1/")]
    assert not [k for k in keys if "/raw/" in k and "date=2024-10-04" in k]
    assert not [k for k in keys if "/level=1m/" in k and "date=2024-10-04" in k]
    assert [k for k in keys if "/level=1h/" in k and "date=2024-10-04" in k]
    assert [k for k in keys if "/raw/" in k and "date=2024-10-05" in k]
    st = tier.stats()
    assert st["retention_deleted"] == {"raw": 2, "1m": 2}
    assert st["retention_log"][-4:] == lines
    # raw points of day T0 are gone; its hourly rollups still answer the hourly summary
    assert len(q.recorded(name, T0, T0 + DAY).columns.ts) == 0
    hourly_after = q.summary(name, T0, T0 + DAY, H, types=["count", "average"], weighting="event")
    # an hour whose rollup row stands alone (every point usable) is still answered; an hour
    # that needs its points (a Bad point inside: see query/chunkstats.py) has none left
    whole = hourly_before.count == 60
    assert whole.sum() >= 6
    np.testing.assert_array_equal(hourly_after.count[whole], 60)
    np.testing.assert_allclose(
        hourly_after.average[whole], hourly_before.average[whole], rtol=1e-12
    )
    np.testing.assert_array_equal(hourly_after.count[~whole], 0)
    assert q.last_chunks_from_index > 0
    assert tier.apply_retention(NOW) == []  # idempotent
    assert tier.verify().ok
    db.close()
