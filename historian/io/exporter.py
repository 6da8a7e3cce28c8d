"""``twinbench historian export``: read a stopped store with ``Historian.read``, write a file.

Long CSV, PI CSV and Parquet are written tag by tag (id order), each tag in time
windows; wide CSV is written window by window, all selected tags side by side.
Windows are sized from the manifest (points per series over the stored span) so
that one read holds about ``window_points`` points: memory stays bounded however
long the range. The output is written to ``FILE.partial`` and renamed at the end,
so a failed export leaves no truncated file behind.

Everything is read from one ``Historian.snapshot()``: the export is the store at
one moment, and each tag's reads are bounded by its first and last point.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol

from historian.catalogue import TagCatalogue, TagInfo
from historian.errors import HistorianError
from historian.lsm.engine import Historian
from historian.model import NS_PER_SECOND as NS
from historian.model import QualityArray, TimeArray, ValueArray
from historian.options import FsyncPolicy, Options
from historian.query.snapshot import Snapshot

from .csv_long import LongCsvWriter
from .csv_wide import WideCsvWriter
from .parquet import ParquetPointWriter
from .pi_csv import PiCsvWriter

__all__ = ["ExportError", "ExportResult", "export"]


class ExportError(HistorianError):
    """The export cannot start (no catalogue, no matching tag, bad range)."""


@dataclass
class ExportResult:
    tags: int
    points: int
    seconds: float


class SeriesWriter(Protocol):
    points: int

    def write(
        self, name: str, ts: TimeArray, values: ValueArray, quality: QualityArray, **kw: Any
    ) -> None: ...

    def __enter__(self) -> SeriesWriter: ...

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None: ...


def select_tags(cat: TagCatalogue, patterns: Sequence[str] | None) -> list[TagInfo]:
    """Tags matching any of the globs (all tags when none), in id order."""
    if not patterns:
        return list(cat)
    chosen: dict[int, TagInfo] = {}
    for p in patterns:
        for t in cat.match(p):
            chosen[t.id] = t
    return [chosen[i] for i in sorted(chosen)]


def export(
    data_dir: str,
    path: str,
    fmt: str,
    *,
    tags: Sequence[str] | None = None,
    start_ns: int | None = None,
    end_ns: int | None = None,
    catalogue_toml: str | None = None,
    progress: Callable[[int, float], None] | None = None,
    window_points: int = 2_000_000,
) -> ExportResult:
    """Write the selected tags' points with ``start_ns <= ts < end_ns`` to ``path``."""
    started = time.perf_counter()
    if start_ns is not None and end_ns is not None and end_ns <= start_ns:
        raise ExportError("--end must be after --start (the range is [start, end))")
    if not os.path.isfile(os.path.join(data_dir, "MANIFEST")) and not os.path.isdir(
        os.path.join(data_dir, "wal")
    ):
        raise ExportError(f"{data_dir} is not a historian store (no MANIFEST, no wal/)")
    db = Historian.open(data_dir, Options(fsync=FsyncPolicy.never()))
    try:
        cat = TagCatalogue.load(data_dir)
        if catalogue_toml is not None:
            cat = (cat or TagCatalogue()).merged(TagCatalogue.load_toml(catalogue_toml))
        if cat is None:
            raise ExportError(
                f"the store {data_dir} has no tag catalogue, so its series have no names; "
                "give --catalogue FILE (the catalogue TOML its data was written with)"
            )
        chosen = select_tags(cat, tags)
        if not chosen:
            raise ExportError(f"no tag in the catalogue matches {', '.join(tags or [])!r}")
        snap = db.snapshot()  # one consistent moment for the whole export
        extent = snap.time_range()
        lo, hi = (extent[0], extent[1] + 1) if extent is not None else (0, 0)
        lo = lo if start_ns is None else max(lo, start_ns)
        hi = hi if end_ns is None else min(hi, end_ns)
        # points per series, to size read windows (an estimate: series are rarely equal)
        per_series = max(db.stats().points // max(len(cat), 1), 1)
        span = max(hi - lo, 1)
        tmp = path + ".partial"
        try:
            if fmt == "wide":
                total = _export_wide(snap, tmp, chosen, lo, hi, span, per_series, window_points,
                                     progress, started)  # fmt: skip
            else:
                window = max(span * window_points // per_series, NS)
                total = _export_series(snap, tmp, fmt, chosen, lo, hi, window, progress, started)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.remove(tmp)
            raise
        return ExportResult(len(chosen), total, time.perf_counter() - started)
    finally:
        db.close()


def _windows(lo: int, hi: int, width: int) -> list[tuple[int, int]]:
    return [(a, min(a + width, hi)) for a in range(lo, hi, width)] if hi > lo else []


def _export_series(
    snap: Snapshot,
    path: str,
    fmt: str,
    chosen: list[TagInfo],
    lo: int,
    hi: int,
    window: int,
    progress: Callable[[int, float], None] | None,
    started: float,
) -> int:
    writers: dict[str, Callable[[str], SeriesWriter]] = {
        "long": LongCsvWriter,
        "pi": PiCsvWriter,
        "parquet": ParquetPointWriter,
    }
    if fmt not in writers:
        raise ExportError(f"unknown export format {fmt!r}; use long, wide, parquet or pi")
    with writers[fmt](path) as w:
        for tag in chosen:
            first, last = snap.first(tag.id), snap.last(tag.id)
            if first is None or last is None:
                continue
            for a, b in _windows(max(lo, first.ts), min(hi, last.ts + 1), window):
                ts, values, quality = snap.read(tag.id, a, b).columns
                w.write(tag.name, ts, values, quality, series_id=tag.id)
                if progress is not None and len(ts):
                    progress(w.points, time.perf_counter() - started)
        return int(w.points)


def _export_wide(
    snap: Snapshot,
    path: str,
    chosen: list[TagInfo],
    lo: int,
    hi: int,
    span: int,
    per_series: int,
    window_points: int,
    progress: Callable[[int, float], None] | None,
    started: float,
) -> int:
    window = max(span * window_points // max(per_series * len(chosen), 1), NS)
    with WideCsvWriter(path, [t.name for t in chosen]) as w:
        for a, b in _windows(lo, hi, window):
            w.write_window([snap.read(t.id, a, b).columns for t in chosen])
            if progress is not None:
                progress(w.points, time.perf_counter() - started)
        return w.points
