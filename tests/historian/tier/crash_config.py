"""The tier configuration the crash child and its parent share (no fixtures needed)."""

from __future__ import annotations

from harness.services.s3 import S3Credentials
from historian.tier import TierConfig

from .conftest import DAY


def child_config(endpoint: str, bucket: str) -> TierConfig:
    c = S3Credentials()
    return TierConfig(
        endpoint=endpoint,
        bucket=bucket,
        prefix="store1",
        access_key=c.access_key,
        secret_key=c.secret_key,
        region=c.region,
        hot_window_ns=DAY,
    )
