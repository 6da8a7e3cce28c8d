"""Merging a partition's small parts into one (the cold tier's small-file compaction).

A partition (tag prefix, day) gains a part per export that touched it: the
first export, then one per batch of late data. Many small objects cost one
request each on every read, so partitions with more than one part whose raw
objects together stay under ``target_bytes`` are merged: every part's points,
the higher ``seq`` winning equal (series, ts), re-encoded as one part with a
new ``seq`` and rollups computed from the merged points.

Crash safety follows the export's: the merged objects are uploaded and read
back, then one catalogue write swaps the parts (``tier.compact.after_catalogue``),
then the old objects are deleted. A crash before the catalogue write leaves
uncatalogued objects; after it, unlisted old objects: ``recover`` deletes both.
Partitions that retention has thinned (a part without raw or a rollup level)
are left alone: their rollups could not be rebuilt.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import crc32c
import numpy as np

from historian.lsm.engine import Historian

from .coldcat import ColdCatalogue, ColdPart, ObjectInfo, write_cold_catalogue
from .config import ROLLUP_LEVELS, TierConfig
from .exporter import check_object
from .layout import raw_key, rollup_key
from .objstore import ObjectStore
from .parts import encode_raw, encode_rollups, level_ns, read_raw, rollup_rows

__all__ = ["Merge", "compact_partitions", "merge_parts"]

KINDS = ("raw", *ROLLUP_LEVELS)


def _merge(store: ObjectStore, parts: list[ColdPart]) -> tuple[np.ndarray, ...]:
    cols = [read_raw(store.get(p.objects["raw"].key)) for p in sorted(parts, key=lambda p: p.seq)]
    s = np.concatenate([c[0] for c in cols])
    t = np.concatenate([c[1] for c in cols])
    v = np.concatenate([c[2] for c in cols])
    q = np.concatenate([c[3] for c in cols])
    order = np.lexsort((t, s))  # stable: a later part's point follows an earlier one's
    s, t, v, q = s[order], t[order], v[order], q[order]
    keep = np.ones(len(t), bool)
    keep[:-1] = (s[1:] != s[:-1]) | (t[1:] != t[:-1])
    return s[keep], t[keep], v[keep], q[keep]


def merge_parts(store: ObjectStore, cfg: TierConfig, parts: list[ColdPart], seq: int) -> ColdPart:
    """Read ``parts``, merge, encode as part ``seq``, upload and read back: the heavy half."""
    s, t, v, q = _merge(store, parts)
    prefix, day = parts[0].tag_prefix, parts[0].day_start
    blobs = {
        "raw": encode_raw(s, t, v, q, row_group_rows=cfg.row_group_rows, zstd_level=cfg.zstd_level)
    }
    keys = {"raw": raw_key(cfg.prefix, prefix, day, seq)}
    for level in ROLLUP_LEVELS:
        blobs[level] = encode_rollups(rollup_rows(s, t, v, q, level_ns(level)))
        keys[level] = rollup_key(cfg.prefix, level, prefix, day, seq)
    objects = {k: ObjectInfo(keys[k], len(b), crc32c.crc32c(b)) for k, b in blobs.items()}
    for k, b in blobs.items():
        store.put(keys[k], b)
    for info in objects.values():
        check_object(store, info)
    return ColdPart(
        seq=seq,
        tag_prefix=prefix,
        day_start=day,
        objects=objects,
        series_min=int(s.min()),
        series_max=int(s.max()),
        min_ts=int(t.min()),
        max_ts=int(t.max()),
        rows=len(t),
        source_files=tuple(sorted({n for p in parts for n in p.source_files})),
        row_groups=-(-len(t) // cfg.row_group_rows),
    )


Merge = Callable[[list[ColdPart], int], ColdPart]
"""``merge_parts`` bound to a store and config, here or in the export worker."""


def compact_partitions(
    db: Historian,
    store: ObjectStore,
    cfg: TierConfig,
    cat: ColdCatalogue,
    target_bytes: int,
    merge: Merge | None = None,
) -> tuple[ColdCatalogue, list[str]]:
    """Merge each partition's small parts (module docstring); return the catalogue and log."""
    if merge is None:
        merge = functools.partial(merge_parts, store, cfg)
    groups: dict[tuple[str, int], list[ColdPart]] = {}
    for p in cat.parts:
        groups.setdefault((p.tag_prefix, p.day_start), []).append(p)
    lines: list[str] = []
    for (prefix, _day), parts in sorted(groups.items()):
        if len(parts) < 2 or any(set(p.objects) != set(KINDS) for p in parts):
            continue
        if sum(p.objects["raw"].size for p in parts) > target_bytes:
            continue
        seq = cat.next_seq
        merged = merge(sorted(parts, key=lambda p: p.seq), seq)
        gone = {p.seq for p in parts}
        kept = (*(p for p in cat.parts if p.seq not in gone), merged)
        line = (
            f"compacted {len(parts)} parts of tag_prefix={prefix} into part {seq} "
            f"({merged.rows} points)"
        )
        cat = dataclasses.replace(
            cat.with_parts(kept, [], {}),
            next_seq=seq + 1,
            exported_points=cat.exported_points,
        )
        write_cold_catalogue(db.fs, db.directory, cat, db.cipher)
        db.fs.crash_point("tier.compact.after_catalogue")
        store.delete([i.key for p in parts for i in p.objects.values()])
        lines.append(line)
    return cat, lines
