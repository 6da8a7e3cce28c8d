"""S3 server-side encryption of the cold tier (``tier.sse``), against the real (moto) S3 server.

Every object the export writes (parts, rollups, the cold catalogue) must carry the
requested encryption as the endpoint reports it on HEAD; without ``sse`` none is asked
for, so the control shows the check can fail.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import boto3
import pytest

from harness.services import S3Server
from historian import Historian
from historian.catalogue import TagCatalogue
from historian.crypto.keyfile import generate_key_file
from historian.fs import FileSystem
from historian.tier import ColdTier, TierConfig
from historian.tier.coldcat import (
    TIER_FILE,
    ColdCatalogue,
    ColdCatalogueCorruptError,
    encode,
    read_cold_catalogue,
)
from historian.tier.config import TierConfigError

from .conftest import NOW, TAGS, open_store, tier_config, tier_options, write_days


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


def test_the_local_cold_catalogue_is_sealed_with_the_store_key(
    s3_server: S3Server, s3_bucket: str, store_dir: str, tmp_path: Path
) -> None:
    key = tmp_path / "store.key"
    generate_key_file(key)
    options = dataclasses.replace(tier_options(), encryption_key_file=str(key))
    db = Historian.open(store_dir, options)
    TagCatalogue(TAGS).save(store_dir)
    try:
        write_days(db)
        exported = ColdTier(db, tier_config(s3_server, s3_bucket)).export_due(NOW)
        assert exported.parts > 0
    finally:
        db.close()
    raw = (Path(store_dir) / TIER_FILE).read_bytes()
    assert b"acme.north" not in raw and b"source_files" not in raw  # sealed, not just framed
    with pytest.raises(ColdCatalogueCorruptError, match="encrypted; open the store with its key"):
        read_cold_catalogue(FileSystem(), store_dir)
    db = Historian.open(store_dir, options)
    try:  # with the key: the same parts, readable
        assert (
            len(ColdTier(db, tier_config(s3_server, s3_bucket)).catalogue.parts) == exported.parts
        )
    finally:
        db.close()
    (Path(store_dir) / TIER_FILE).write_bytes(encode(ColdCatalogue()))  # a plain substitute
    with pytest.raises(ColdCatalogueCorruptError, match="not encrypted but the store has a key"):
        read_cold_catalogue(FileSystem(), store_dir, db.cipher)
    tampered = bytearray(raw)
    tampered[-1] ^= 1
    (Path(store_dir) / TIER_FILE).write_bytes(bytes(tampered))
    with pytest.raises(ColdCatalogueCorruptError):  # the CRC, then the GCM tag, refuse it
        read_cold_catalogue(FileSystem(), store_dir, db.cipher)
