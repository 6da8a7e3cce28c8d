"""Fixtures of the cold-tier tests: a store with a few days of data and a tier on real moto S3."""

from __future__ import annotations

import numpy as np
import pytest

from harness.services import S3Server
from historian import Historian, Options
from historian.catalogue import TagCatalogue, TagInfo
from historian.tier import TierConfig

S = 1_000_000_000
DAY = 86_400 * S
T0 = 20_000 * DAY  # 2024-10-04, a whole UTC day
DAYS = 3
STEP = 60 * S  # one point a minute per tag (1,440 per tag per day)
TAGS = [
    TagInfo(1, "acme.north.tank.level", unit="m"),
    TagInfo(2, "acme.north.pump.state", dtype="int16"),
    TagInfo(3, "acme.south.flow.rate", unit="m3/h"),
]


def tier_options() -> Options:
    # one bucket per day: three segment files instead of 72 keeps each test a few seconds
    return Options(background=False, chunk_max_points=4096, bucket_ns=DAY)


def write_days(db: Historian, days: int = DAYS, seed: int = 1) -> None:
    """Deterministic data: three tags, one point a minute, a few Bad points."""
    rng = np.random.default_rng(seed)
    n = days * DAY // STEP
    ts = T0 + np.arange(n, dtype=np.int64) * STEP
    for t in TAGS:
        if t.stepped:
            v = rng.integers(0, 3, n).astype(np.float64)
        else:
            v = np.round(50 + np.cumsum(rng.normal(0, 0.3, n)), 2)
        q = np.where(rng.random(n) < 0.01, 0x8000, 0).astype(np.uint16)
        db.write_arrays(np.full(n, t.id), ts, v, q)
    db.compact()


def open_store(root: str) -> Historian:
    db = Historian.open(root, tier_options())
    if TagCatalogue.load(root) is None:
        TagCatalogue(TAGS).save(root)
    return db


def tier_config(s3: S3Server, bucket: str, **kw: object) -> TierConfig:
    return TierConfig(
        endpoint=s3.endpoint,
        bucket=bucket,
        prefix="store1",
        access_key=s3.access_key,
        secret_key=s3.secret_key,
        region=s3.region,
        hot_window_ns=kw.pop("hot_window_ns", DAY),  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )


NOW = T0 + DAYS * DAY + 3_600 * S
"""Wall clock the tests pass: with a 1-day hot window, every day but the last goes cold."""


@pytest.fixture
def store_dir(tmp_path: object) -> str:
    return str(tmp_path)
