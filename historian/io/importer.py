"""``twinbench historian import``: validate every input file completely, then write.

Order of work (why: nothing is half-imported because of a bad row):

1. open the store (takes its lock: a running server makes this fail at once);
2. merge ``--catalogue FILE`` into the store's catalogue (ids never move);
3. parse and check every file: rows, timestamps, statuses, values, the store's
   accepted time window; any defect raises :class:`InputFormatError` naming
   ``file:line:column`` before the first point is written;
4. unknown tags: refused with ``strict``, else added to the catalogue (warning);
5. save the catalogue, then write the points with ``Historian.write`` in large
   columnar batches, then flush them to segment files.

Parsed files stay in memory up to ``memory_budget`` bytes of columns (22 bytes per
point); beyond it, later files are parsed again for writing, after checking that
they did not change in between.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from historian.catalogue import TagCatalogue
from historian.errors import BatchValidationError, HistorianError, InputFormatError
from historian.lsm.engine import Historian
from historian.model import PointBatch
from historian.options import FsyncPolicy, Options

from .formats import detect_format, read_points
from .points import ParsedPoints

__all__ = ["ImportResult", "PartialImportError", "UnknownTagsError", "import_files"]

Progress = Callable[[int, int, float], None]
"""(points written, points to write, seconds since the write phase began)."""


class UnknownTagsError(HistorianError):
    """``strict`` import found tags the catalogue does not know; nothing was written."""

    def __init__(self, names: Sequence[str]) -> None:
        shown = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
        super().__init__(
            f"{len(names)} tag(s) not in the store's catalogue: {shown}; add them with "
            "--catalogue FILE, or import without --strict to create them"
        )
        self.names = list(names)


class PartialImportError(HistorianError):
    """Writing failed after validation (e.g. disk full); ``written`` points are in the store."""

    def __init__(self, cause: BaseException, written: int, total: int) -> None:
        super().__init__(
            f"{cause}; {written:,} of {total:,} points were written before the failure "
            "(re-importing the same files is safe: the last write wins)"
        )
        self.written = written


@dataclass
class ImportResult:
    files: int = 0
    points: int = 0
    created_tags: list[str] = field(default_factory=list)
    seconds: float = 0.0
    catalogue_revision: int = 0


@dataclass
class _Input:
    path: str
    fmt: str
    stat: tuple[int, int]
    names: list[str]
    points: int
    parsed: ParsedPoints | None


def import_files(
    paths: Sequence[str],
    data_dir: str,
    *,
    catalogue_toml: str | None = None,
    strict: bool = False,
    fmt: str = "auto",
    options: Options | None = None,
    progress: Progress | None = None,
    warn: Callable[[str], None] | None = None,
    batch_points: int = 1 << 20,
    memory_budget: int = 2 << 30,
) -> ImportResult:
    """Import ``paths`` into the store at ``data_dir``; see the module docstring."""
    started = time.perf_counter()
    opts = options or Options(fsync=FsyncPolicy.never())
    db = Historian.open(data_dir, opts)
    try:
        stored = TagCatalogue.load(data_dir)
        cat = stored or TagCatalogue()
        if catalogue_toml is not None:
            cat = cat.merged(TagCatalogue.load_toml(catalogue_toml))
        inputs = _validate_all(paths, fmt, opts, memory_budget)
        names = list(dict.fromkeys(n for i in inputs for n in i.names))
        unknown = [n for n in names if n not in cat]
        if unknown and strict:
            raise UnknownTagsError(unknown)
        if unknown:
            cat = cat.with_new_tags(unknown)
            if warn is not None:
                shown = ", ".join(unknown[:10]) + (" ..." if len(unknown) > 10 else "")
                warn(f"created {len(unknown)} catalogue entries for unknown tags: {shown}")
        if stored is None or cat is not stored:
            cat.save(data_dir)
        result = ImportResult(files=len(inputs), created_tags=unknown)
        result.catalogue_revision = cat.revision
        total = sum(i.points for i in inputs)
        write_started = time.perf_counter()
        try:
            _write_all(db, cat, inputs, opts, result, total, batch_points, progress, write_started)
        except HistorianError as exc:
            raise PartialImportError(exc, result.points, total) from exc
        result.seconds = time.perf_counter() - started
        return result
    finally:
        db.close()


def _write_all(
    db: Historian,
    cat: TagCatalogue,
    inputs: list[_Input],
    opts: Options,
    result: ImportResult,
    total: int,
    batch_points: int,
    progress: Progress | None,
    write_started: float,
) -> None:
    for inp in inputs:
        points = inp.parsed if inp.parsed is not None else _parse_again(inp, opts)
        ids = np.array([_id(cat, n) for n in points.names], dtype=np.uint32)
        series = ids[points.tag] if len(ids) else np.zeros(0, np.uint32)
        for lo in range(0, len(points), batch_points):
            hi = min(lo + batch_points, len(points))
            db.write(
                PointBatch.from_arrays(
                    series[lo:hi], points.ts[lo:hi], points.values[lo:hi], points.quality[lo:hi]
                )
            )
            result.points += hi - lo
            if progress is not None:
                progress(result.points, total, time.perf_counter() - write_started)
        inp.parsed = None  # let the columns go before the next file
    db.flush()


def _id(cat: TagCatalogue, name: str) -> int:
    tag = cat.by_name(name)
    assert tag is not None, name  # every name was added above
    return tag.id


def _validate_all(paths: Sequence[str], fmt: str, opts: Options, budget: int) -> list[_Input]:
    inputs: list[_Input] = []
    kept = 0
    for path in paths:
        kind = detect_format(path) if fmt == "auto" else fmt
        stat = _stat(path)
        points = read_points(path, kind)
        check_window(points, opts)
        keep = kept + points.nbytes <= budget
        kept += points.nbytes if keep else 0
        inputs.append(_Input(path, kind, stat, points.names, len(points), points if keep else None))
    return inputs


def _stat(path: str) -> tuple[int, int]:
    try:
        st = os.stat(path)
    except OSError as exc:
        raise InputFormatError(path, 0, 0, f"cannot read: {exc.strerror}") from None
    return st.st_size, st.st_mtime_ns


def _parse_again(inp: _Input, opts: Options) -> ParsedPoints:
    if _stat(inp.path) != inp.stat:
        raise InputFormatError(
            inp.path, 0, 0, "changed while it was being imported; re-run the import"
        )
    points = read_points(inp.path, inp.fmt)
    check_window(points, opts)
    return points


def check_window(points: ParsedPoints, opts: Options) -> None:
    """The store's accepted time range and NaN rule, checked before anything is written."""
    if len(points) == 0:
        return
    # the engine's own window rule (min/max_ts and any past/future window at this moment)
    lo, hi = opts.accepted_window(time.time_ns())
    outside = (points.ts < lo) | (points.ts > hi)
    if outside.any():
        i = int(np.argmax(outside))
        line, column = points.locate(i)
        raise InputFormatError(
            points.path,
            line,
            column,
            f"timestamp {int(points.ts[i])} ns is outside the store's accepted range "
            f"[{lo}, {hi}] ns (Options.accepted_window); drop the row or widen the range",
        )
    try:
        PointBatch.from_arrays(
            np.zeros(len(points), np.uint32), points.ts, points.values, points.quality
        ).validate(nan_policy=opts.nan_policy)
    except BatchValidationError as exc:
        raise InputFormatError(points.path, 0, 0, str(exc)) from None
