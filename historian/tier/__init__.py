"""The cold tier: segments older than the hot window as Parquet on S3-compatible storage.

Not part of the historian core (it needs boto3 and an object store): the
engine knows it only as a source provider (``Historian.add_source_provider``).
Layout and encodings: ``historian/docs/format/parquet.md``; the catalogue of
parts: ``historian/docs/format/cold-catalogue.md``.
"""

from __future__ import annotations

from .coldcat import ColdCatalogue, ColdPart, ObjectInfo
from .config import TierConfig, TierConfigError
from .exporter import EXPORT_CRASH_POINTS, ExportReport
from .objstore import ObjectStore, ObjectStoreError, S3Store
from .tier import ColdTier, VerifyReport

__all__ = [
    "EXPORT_CRASH_POINTS",
    "ColdCatalogue",
    "ColdPart",
    "ColdTier",
    "ExportReport",
    "ObjectInfo",
    "ObjectStore",
    "ObjectStoreError",
    "S3Store",
    "TierConfig",
    "TierConfigError",
    "VerifyReport",
]
