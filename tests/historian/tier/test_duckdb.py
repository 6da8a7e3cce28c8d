"""DuckDB reads the cold tier's Parquet layout and gets the historian's numbers.

DuckDB's S3 support is its httpfs extension, which DuckDB downloads at run
time; this machine cannot fetch it, so DuckDB reads a local mirror of the
bucket (same keys, ``historian.tier.objstore.mirror``) with Hive partitioning.
"""

from __future__ import annotations

import os

import duckdb
import numpy as np

from harness.services import S3Server
from historian.catalogue import TagCatalogue
from historian.query.engine import QueryEngine
from historian.tier import ColdTier
from historian.tier.objstore import mirror

from .conftest import DAY, NOW, T0, TAGS, open_store, tier_config, write_days


def test_duckdb_reads_the_cold_tier_with_the_same_numbers(
    s3_server: S3Server, s3_bucket: str, store_dir: str, tmp_path: object
) -> None:
    db = open_store(store_dir)
    write_days(db)
    tier = ColdTier.attach(db, tier_config(s3_server, s3_bucket))
    tier.export_due(NOW)
    dest = os.path.join(str(tmp_path), "mirror")
    assert mirror(tier.store, "store1/", dest) == 4 * len(tier.catalogue.parts) + 1  # + tags
    raw = os.path.join(dest, "store1", "raw", "*", "*", "*.parquet")
    con = duckdb.connect()
    rows = con.execute(
        f"""
        SELECT t.name, r.date, count(*) AS n, avg(r.value) AS mean, min(r.value), max(r.value),
               sum(r.value)
        FROM read_parquet('{raw}', hive_partitioning = true) r
        JOIN read_parquet('{os.path.join(dest, "store1", "tags.parquet")}') t USING (series)
        WHERE r.quality < 32768
        GROUP BY ALL ORDER BY t.name, r.date
        """
    ).fetchall()
    assert len(rows) == 2 * len(TAGS)  # two cold days per tag
    q = QueryEngine(db, TagCatalogue.load(store_dir))
    for name, date, n, mean, lo, hi, total in rows:
        day = T0 if str(date) == "2024-10-04" else T0 + DAY
        s = q.summary(
            name,
            day,
            day + DAY,
            DAY,
            types=["count", "average", "minimum", "maximum"],
            weighting="event",
        )
        assert int(s.count[0]) == n
        np.testing.assert_allclose(s.average[0], mean, rtol=1e-12)
        assert (s.minimum[0], s.maximum[0]) == (lo, hi)
        np.testing.assert_allclose(s.average[0] * n, total, rtol=1e-12)
    # the 1 h rollups are plain Parquet too: their counts add up to the raw rows
    roll = os.path.join(dest, "store1", "rollup", "level=1h", "*", "*", "*.parquet")
    (n_roll,) = con.execute(
        f"SELECT sum(count) FROM read_parquet('{roll}', hive_partitioning = true)"
    ).fetchone() or (0,)
    (n_raw,) = con.execute(f"SELECT count(*) FROM read_parquet('{raw}')").fetchone() or (0,)
    assert n_roll == n_raw == sum(p.rows for p in tier.catalogue.parts)
    db.close()
