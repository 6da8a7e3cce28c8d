"""A PI-style legacy archive: exception then swinging-door compression, PI CSV out.

PI's data path: the interface reports a value only on an *exception* (it moved
more than ExcDev from the last reported one, or ExcMax passed), and the archive
keeps only what swinging-door compression (CompDev, CompMax) cannot
reconstruct. Both filters are ``historian.codec.lossy``; each tag's deviations
come from its catalogue entry (``excdev``, ``compdev``, engineering units). Bad
readings become PI digital states (``Bad Input`` and friends) and Uncertain ones
lose their status, as a PI CSV export does (``historian.io.pi_csv``).

The archive holds columns per tag in memory (a shadow run's worth) and exports
``tag,timestamp,value`` with each tag's ``legacy_name`` (its PI tag), or its path
when it has none.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from historian.catalogue import TagCatalogue, TagInfo
from historian.codec.lossy import NO_LIMIT, exception_filter, swinging_door
from historian.io.pi_csv import PiCsvWriter
from historian.model import PointBatch, severity_of

__all__ = ["PiLegacyArchive", "pi_compress", "pi_tag_name"]


def pi_tag_name(tag: TagInfo) -> str:
    return tag.legacy_name or tag.name


def pi_compress(
    ts: np.ndarray,
    values: np.ndarray,
    quality: np.ndarray,
    *,
    excdev: float,
    compdev: float,
    comp_max_ns: int = NO_LIMIT,
) -> np.ndarray:
    """Indices of the points a PI archive stores (exception, then compression).

    Bad readings are exceptions by definition (their value becomes a digital
    state), so the filters see them as NaN and keep them with their neighbours.
    """
    v = np.where(severity_of(quality) == 2, np.nan, values)
    passed = np.flatnonzero(exception_filter(ts, v, excdev, comp_max_ns))
    kept = swinging_door(ts[passed], v[passed], compdev, comp_max_ns)
    return passed[kept]


class PiLegacyArchive:
    """Per-tag columns of what the PI-style archive kept; PI CSV export."""

    def __init__(self, catalogue: TagCatalogue, *, comp_max_s: float = 600.0) -> None:
        self.catalogue = catalogue
        self.comp_max_ns = int(comp_max_s * 1e9)
        self._raw: dict[int, list[PointBatch]] = defaultdict(list)
        self.received = 0

    def add(self, batch: PointBatch) -> dict[int, int]:
        """Take a batch in arrival order (compression runs once the feed ends).

        Returns no buffers to wait for: the archive holds the batch as soon as it has it
        (the :class:`~harness.legacy.consumer.LegacySink` contract)."""
        for sid in np.unique(batch.series).tolist():
            m = batch.series == sid
            self._raw[sid].append(
                PointBatch(batch.series[m], batch.ts[m], batch.values[m], batch.quality[m])
            )
        self.received += len(batch)
        return {}

    def flush_due(self, *, force: bool = False) -> int:
        return 0

    def written(self, tenant: int, generation: int) -> bool:
        return True

    def archived(self, series: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(ts, values, quality) the archive stores for one series, time-ordered."""
        parts = self._raw.get(series, [])
        if not parts:
            empty = np.empty(0, np.int64)
            return empty, empty.astype(np.float64), empty.astype(np.uint16)
        ts = np.concatenate([p.ts for p in parts])
        order = np.argsort(ts, kind="stable")
        ts = ts[order]
        v = np.concatenate([p.values for p in parts])[order]
        q = np.concatenate([p.quality for p in parts])[order]
        tag = self.catalogue.by_id(series)
        excdev = (tag.excdev if tag and tag.excdev is not None else 0.0) or 0.0
        compdev = (tag.compdev if tag and tag.compdev is not None else 0.0) or 0.0
        keep = pi_compress(ts, v, q, excdev=excdev, compdev=compdev, comp_max_ns=self.comp_max_ns)
        return ts[keep], v[keep], q[keep]

    def export_csv(self, path: str | Path) -> int:
        """Write the PI CSV (``tag,timestamp,value``); returns the points written."""
        with PiCsvWriter(str(path)) as out:
            for tag in self.catalogue:
                ts, v, q = self.archived(tag.id)
                out.write(pi_tag_name(tag), ts, v, q)
            return out.points
