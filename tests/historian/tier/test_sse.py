"""S3 server-side encryption of the cold tier (``tier.sse``), against the real (moto) S3 server.

Every object the export writes (parts, rollups, the cold catalogue) must carry the
requested encryption as the endpoint reports it on HEAD; without ``sse`` none is asked
for, so the control shows the check can fail.
"""

from __future__ import annotations

import boto3
import pytest

from harness.services import S3Server
from historian.tier import ColdTier, TierConfig
from historian.tier.config import TierConfigError

from .conftest import NOW, open_store, tier_config, write_days


def _encryption_of_every_object(s3: S3Server, bucket: str) -> dict[str, str | None]:
    client = boto3.client(
        "s3",
        endpoint_url=s3.endpoint,
        aws_access_key_id=s3.access_key,
        aws_secret_access_key=s3.secret_key,
        region_name=s3.region,
    )
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])]
    return {k: client.head_object(Bucket=bucket, Key=k).get("ServerSideEncryption") for k in keys}


@pytest.mark.parametrize("sse", ["AES256", ""])
def test_every_exported_object_is_encrypted_by_the_endpoint(
    s3_server: S3Server, s3_bucket: str, store_dir: str, sse: str
) -> None:
    db = open_store(store_dir)
    try:
        write_days(db)
        tier = ColdTier(db, tier_config(s3_server, s3_bucket, sse=sse))
        report = tier.export_due(NOW)
        assert report.points > 0
    finally:
        db.close()
    seen = _encryption_of_every_object(s3_server, s3_bucket)
    assert seen and any(k.endswith(".parquet") for k in seen)
    assert set(seen.values()) == {sse or None}, seen


def test_sse_settings_are_checked() -> None:
    with pytest.raises(TierConfigError, match=r"tier\.sse 'aes'"):
        TierConfig(sse="aes").check()
    with pytest.raises(TierConfigError, match=r"needs tier\.sse"):
        TierConfig(sse_kms_key_id="k1").check()
    assert TierConfig.from_mapping({"sse": "aws:kms", "sse_kms_key_id": "k1"}).sse == "aws:kms"
