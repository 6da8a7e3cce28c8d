"""Where the cold tier lives and what it keeps: one dataclass, loadable from a TOML file.

The embedded default points at the harness's moto S3 server on loopback
(``harness/services/s3.py``): an in-memory S3 endpoint for correctness and
local runs, about 100 requests/s, whose objects are gone when it stops. Any
real S3-compatible endpoint (AWS S3, MinIO, Ceph RGW) is one ``endpoint`` +
credentials away (``docs/config.md``, section ``[tier]``).

>>> c = TierConfig.from_mapping({"bucket": "plant", "hot_window": "7d", "raw_retention": "3650d"})
>>> c.bucket, c.hot_window_ns // NS_PER_DAY, c.raw_retention_ns // NS_PER_DAY
('plant', 7, 3650)
>>> parse_duration("90m") // 60_000_000_000
90
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["NS_PER_DAY", "TierConfig", "TierConfigError", "parse_duration"]

NS_PER_S = 1_000_000_000
NS_PER_DAY = 86_400 * NS_PER_S
_UNITS = {"s": NS_PER_S, "m": 60 * NS_PER_S, "h": 3_600 * NS_PER_S, "d": NS_PER_DAY}
ROLLUP_LEVELS = ("1m", "1h", "1d")
"""Rollup widths, finest first (the partition value ``level=`` in the layout)."""


class TierConfigError(ValueError):
    """A tier setting is wrong; the message names the key and what is accepted."""


def parse_duration(text: str | int) -> int:
    """``"7d"``, ``"36h"``, ``"90m"``, ``"30s"`` or a number of ns -> ns."""
    if isinstance(text, int):
        return text
    m = re.fullmatch(r"\s*(\d+)\s*([smhd])\s*", text)
    if not m:
        raise TierConfigError(f"duration {text!r}: write a number and s, m, h or d (e.g. 7d)")
    return int(m.group(1)) * _UNITS[m.group(2)]


SSE_MODES = ("", "AES256", "aws:kms")
"""``TierConfig.sse`` values: none requested, SSE-S3, SSE-KMS."""


@dataclass(frozen=True)
class TierConfig:
    """Every setting of the cold tier, with working defaults for the embedded S3 server."""

    endpoint: str = "http://127.0.0.1:9000"
    """S3 endpoint URL; the harness's embedded moto server replaces it with its own port."""
    bucket: str = "twinbench-cold"
    prefix: str = "historian"
    """Key prefix inside the bucket: one store's tier lives under ``PREFIX/``."""
    access_key: str = "twinbench"
    secret_key: str = "twinbench-secret"
    region: str = "us-east-1"
    sse: str = ""
    """S3 server-side encryption of every object the tier writes: ``""`` (the bucket's
    default), ``AES256`` (SSE-S3) or ``aws:kms`` (SSE-KMS, with ``sse_kms_key_id``).
    Sent as ``x-amz-server-side-encryption`` on each PUT; an endpoint that cannot do it
    refuses the PUT (the export fails loudly, it does not store in the clear)."""
    sse_kms_key_id: str = ""
    """The KMS key for ``sse = "aws:kms"`` (``""``: the account's default S3 key)."""
    hot_window_ns: int = 7 * NS_PER_DAY
    """Segment data older than (now - this), by whole store bucket, is exported (leaves the SSD)."""
    export_every_ns: int = 60 * NS_PER_S
    """How often a running server (``historian serve --tier``) looks for data to export."""
    compact_parts: int = 8
    """A running server merges a day's small parts once a partition holds this many."""
    tag_prefix_depth: int = 2
    """Leading dot-separated parts of a tag name that form its ``tag_prefix=`` partition."""
    series_bucket: int = 1000
    """Series without a catalogue name go to ``tag_prefix=id-<series // this * this>``."""
    row_group_rows: int = 1_048_576
    """Rows per Parquet row group (~2-5 MB compressed: one ranged GET each; measured)."""
    zstd_level: int = 3
    """zstd level of raw parts (measured: higher levels buy ~1 % for 2-4x the time)."""
    raw_retention_ns: int | None = None
    """Raw cold partitions whose day ends before (now - this) are deleted; None keeps them."""
    rollup_retention_ns: dict[str, int | None] = field(
        default_factory=lambda: {level: None for level in ROLLUP_LEVELS}
    )
    """Per rollup level (``1m``, ``1h``, ``1d``): retention like ``raw_retention_ns``."""
    cache_bytes: int = 256 * 1024 * 1024
    """Decoded row groups and rollups kept in memory for queries."""

    @classmethod
    def from_mapping(cls, data: dict[str, Any]) -> TierConfig:
        """From a ``[tier]`` table: durations as text (``7d``), unknown keys refused."""
        known = {f.name for f in dataclasses.fields(cls)}
        aliases = {
            "hot_window": "hot_window_ns",
            "raw_retention": "raw_retention_ns",
            "export_every": "export_every_ns",
        }
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            name = aliases.get(key, key)
            if key == "rollup_retention":
                if not isinstance(value, dict) or not set(value) <= set(ROLLUP_LEVELS):
                    raise TierConfigError(
                        f"tier.rollup_retention: a table with keys among {', '.join(ROLLUP_LEVELS)}"
                    )
                merged: dict[str, int | None] = {level: None for level in ROLLUP_LEVELS}
                merged.update({k: parse_duration(v) for k, v in value.items()})
                kwargs["rollup_retention_ns"] = merged
                continue
            if name not in known:
                raise TierConfigError(
                    f"tier.{key}: unknown setting; known: {', '.join(sorted(known))}"
                )
            if name.endswith("_ns"):
                try:
                    value = parse_duration(value)
                except TierConfigError as exc:
                    raise TierConfigError(f"tier.{key}: {exc}") from None
            kwargs[name] = value
        cfg = cls(**kwargs)
        cfg.check()
        return cfg

    @classmethod
    def load(cls, path: str | Path) -> TierConfig:
        """A TOML file's ``[s3]`` (endpoint, bucket, credentials) and ``[tier]`` tables.

        ``[s3]`` is read as twinbench.toml writes it (docs/config.md), so the cold
        tier uses the harness's object store; ``[tier]`` overrides it and adds the
        tier's own settings. A file with neither table is read as one ``[tier]``.
        """
        try:
            data = tomllib.loads(Path(path).read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise TierConfigError(f"{path}: {exc}") from exc
        if "s3" not in data and "tier" not in data:
            return cls.from_mapping(data)
        s3 = data.get("s3", {})
        merged = {
            k: s3[k]
            for k in ("endpoint", "bucket", "access_key", "secret_key", "region")
            if k in s3
        }
        merged.update(data.get("tier", {}))
        return cls.from_mapping(merged)

    def check(self) -> None:
        if self.hot_window_ns < 0:
            raise TierConfigError("tier.hot_window must be >= 0")
        if self.export_every_ns < NS_PER_S:
            raise TierConfigError("tier.export_every must be >= 1s")
        if self.compact_parts < 2:
            raise TierConfigError("tier.compact_parts must be >= 2")
        if self.row_group_rows < 1024:
            raise TierConfigError("tier.row_group_rows must be >= 1024")
        if not 1 <= self.zstd_level <= 22:
            raise TierConfigError("tier.zstd_level must be 1..22")
        if self.tag_prefix_depth < 1 or self.series_bucket < 1:
            raise TierConfigError("tier.tag_prefix_depth and tier.series_bucket must be >= 1")
        if self.sse not in SSE_MODES:
            raise TierConfigError(
                f"tier.sse {self.sse!r}: use one of {', '.join(repr(m) for m in SSE_MODES)}"
            )
        if self.sse_kms_key_id and self.sse != "aws:kms":
            raise TierConfigError('tier.sse_kms_key_id needs tier.sse = "aws:kms"')
        if not self.bucket or "/" in self.bucket:
            raise TierConfigError(f"tier.bucket {self.bucket!r}: a bucket name, without '/'")

    def with_endpoint(self, endpoint: str, bucket: str | None = None) -> TierConfig:
        return dataclasses.replace(self, endpoint=endpoint, bucket=bucket or self.bucket)
