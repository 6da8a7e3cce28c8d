"""Snapshot: the sources of one consistent moment, oldest first, answering with last-write-wins.

``Historian.snapshot()`` builds one from the live segment files (L2, L1, L0 in
precedence order) and frozen views of the memtables (immutable ones, then the
active one). Every answer merges the sources' answers so that, for one
(series, ts), the later source wins: exactly what ``Historian.read`` did by
hand before.

Bounds: ``start_ns`` inclusive, ``end_ns`` exclusive, everywhere.

Lifetime: the snapshot holds its sources, and a segment source holds its
file's mmap. On Linux (any POSIX system) an unlinked file stays readable
through an existing map until the map is closed, so compaction may delete a
file while a snapshot still reads it: nothing is counted, and a snapshot is as
cheap to drop as to take. ``release()`` / ``with`` exist for sources that are
not maps (a cold-tier file fetched to a temp dir): their owner passes
``on_release`` and frees them there.

>>> import tempfile
>>> from historian import Historian
>>> db = Historian.open(tempfile.mkdtemp())
>>> _ = db.write_arrays([1, 1, 2], [10, 20, 10], [1.0, 2.0, 5.0])
>>> with db.snapshot() as snap:
...     _ = db.write_arrays([1], [30], [3.0])       # after the snapshot: not seen
...     snap.read(1, 0, 100).values.tolist(), snap.at_or_before(1, 15)
([1.0, 2.0], Point(ts=10, value=1.0, quality=0))
>>> page = db.snapshot().read_many([1, 2], 0, 100, limit=2)
>>> [c.ts.tolist() for c in page.columns], page.next_token is not None
([[10, 20]], True)
>>> rest = db.snapshot().read_many([1, 2], 0, 100, page_token=page.next_token)
>>> [c.ts.tolist() for c in rest.columns], rest.next_token
([[30], [10]], None)
>>> db.close()
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from historian.model import Point, SeriesColumns
from historian.query.lww import merge_columns
from historian.query.source import SeriesSource
from historian.sstable import CHUNK_SUMMARY_DTYPE, Columns

_EMPTY_LO = 2**63 - 1
_EMPTY_HI = -(2**63)


@dataclass(frozen=True)
class ReadPage:
    """One page of a multi-series read: columns in request order, and where to go on.

    ``next_token`` is None once every point has been returned; otherwise pass it
    back with the same series, start and end to get the next page.
    """

    columns: tuple[SeriesColumns, ...]
    next_token: str | None


@dataclass(frozen=True)
class IndexParts:
    """A range of one series split into index statistics and the points they do not cover.

    ``stats``: CHUNK_SUMMARY_DTYPE rows (all ``has_stats``), in time order, each
    a chunk lying wholly inside [start, end) whose span no other source touches,
    so the row stands for exactly its points. ``rest``: every other point of the
    range, merged with last-write-wins. Together they are the whole range.
    """

    stats: NDArray[np.void]
    rest: SeriesColumns
    owner: NDArray[np.intp]
    """Per stats row, the index in ``Snapshot.sources`` of the source holding the chunk."""


@dataclass(frozen=True)
class IndexTable:
    """One series' chunk summaries in sources ``first .. first + covers``, by min_ts.

    Lets :meth:`Snapshot.index_parts` take a series' rows in thousands of files
    as one array instead of a call per file. Built by the owner of the sources
    (the engine's Version, per series, on first use).
    """

    rows: NDArray[np.void]
    owner: NDArray[np.intp]
    """Per row, the source's position among the covered ones (0 = ``first``)."""
    covers: int
    first: int = 0
    """Index in ``Snapshot.sources`` of the first covered source."""


class Snapshot:
    """Sources of one moment, oldest first (a later source wins on equal (series, ts))."""

    def __init__(
        self,
        sources: Sequence[SeriesSource],
        ranges: tuple[NDArray[np.int64], NDArray[np.int64]] | None = None,
        on_release: Callable[[], None] | None = None,
        index_table: Callable[[int], IndexTable | None] | None = None,
    ) -> None:
        self.sources: tuple[SeriesSource, ...] = tuple(sources)
        self._index_table = index_table
        if ranges is None:
            spans = [s.time_range() or (_EMPTY_LO, _EMPTY_HI) for s in self.sources]
            lo = np.array([a for a, _ in spans], np.int64)
            hi = np.array([b for _, b in spans], np.int64)
        else:
            lo, hi = ranges
        self._lo, self._hi = lo, hi
        self._on_release = on_release

    # ------------------------------------------------------------ lifetime
    def release(self) -> None:
        """Let go of the sources (idempotent); reads after this are still safe but unmanaged."""
        cb, self._on_release = self._on_release, None
        if cb is not None:
            cb()

    def __enter__(self) -> Snapshot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __del__(self) -> None:
        self.release()

    # ---------------------------------------------------------------- reads
    def _meeting(self, start_ns: int, end_ns: int) -> NDArray[np.intp]:
        return np.flatnonzero((self._hi >= start_ns) & (self._lo < end_ns))

    def time_range(self) -> tuple[int, int] | None:
        """(first, last) timestamp over every source and series; None when all are empty."""
        if not len(self._lo) or int(self._lo.min()) > int(self._hi.max()):
            return None
        return int(self._lo.min()), int(self._hi.max())

    def read(
        self,
        series: int,
        start_ns: int,
        end_ns: int,
        limit: int | None = None,
        name: str | None = None,
    ) -> SeriesColumns:
        """Points of ``series`` with start_ns <= ts < end_ns, ascending, the first ``limit``.

        With a limit, sources are visited by start time and the visit stops once
        no further source can hold a point before the ``limit``-th one found (a
        page of a year stored in hourly files reads a file or two, not all).
        """
        meeting = self._meeting(start_ns, end_ns)
        if limit is None:
            parts = [self.sources[i].read(series, start_ns, end_ns) for i in meeting]
        else:
            parts = self._first_parts(series, start_ns, end_ns, limit, meeting)
        ts, v, q = merge_columns(parts)
        if limit is not None and len(ts) > limit:
            ts, v, q = ts[:limit], v[:limit], q[:limit]
        return SeriesColumns(series, ts, v, q, name)

    def _first_parts(
        self, series: int, start_ns: int, end_ns: int, limit: int, meeting: NDArray[np.intp]
    ) -> list[Columns]:
        """Parts (in precedence order) that hold the first ``limit`` merged points."""
        got: list[tuple[int, Columns]] = []
        have = 0
        cutoff: int | None = None
        for i in meeting[np.argsort(self._lo[meeting], kind="stable")].tolist():
            if cutoff is not None and int(self._lo[i]) > cutoff:
                break  # starts after the limit-th point: cannot change the first `limit`
            part = self.sources[i].read(series, start_ns, end_ns, limit)
            if not len(part[0]):
                continue
            got.append((i, part))
            have += len(part[0])
            if have >= limit:
                merged = merge_columns([p for _, p in sorted(got, key=lambda x: x[0])])[0]
                if len(merged) >= limit:
                    cutoff = int(merged[limit - 1])
        return [p for _, p in sorted(got, key=lambda x: x[0])]

    def read_many(
        self,
        series: Sequence[int],
        start_ns: int,
        end_ns: int,
        limit: int | None = None,
        page_token: str | None = None,
        names: Sequence[str] | None = None,
    ) -> ReadPage:
        """Several series over one range, at most ``limit`` points per page in all.

        Series come in request order, each ascending by time; the last one in a
        page may be cut, and the token resumes at its first point not returned.
        A token is tied to (series, start, end): reusing it for another query
        raises ValueError. Pages read across snapshots see the data as it is
        when each page is read.
        """
        if limit is not None and limit < 1:
            raise ValueError(f"limit must be a positive number of points, got {limit}")
        if names is not None and len(names) != len(series):
            raise ValueError(f"{len(names)} names for {len(series)} series; give one per series")
        check = _query_check(series, start_ns, end_ns)
        pos, resume = (0, start_ns) if page_token is None else _parse_token(page_token, check)
        out: list[SeriesColumns] = []
        room = limit
        while pos < len(series):
            sid = int(series[pos])
            name = names[pos] if names is not None else None
            want = None if room is None else room + 1
            cols = self.read(sid, resume, end_ns, want, name)
            if room is not None and len(cols) > room:
                nxt = int(cols.ts[room])
                cut = SeriesColumns(
                    sid, cols.ts[:room], cols.values[:room], cols.quality[:room], name
                )
                if room:
                    out.append(cut)
                return ReadPage(tuple(out), _make_token(pos, nxt, check))
            out.append(cols)
            if room is not None:
                room -= len(cols)
            pos, resume = pos + 1, start_ns
        return ReadPage(tuple(out), None)

    def at_or_before(self, series: int, t: int) -> Point | None:
        """The point of ``series`` with the greatest ts <= t (the value in force at t)."""
        cand = np.flatnonzero(self._lo <= t)
        bound = np.minimum(self._hi[cand], t)
        return self._nearest(
            series, t, cand[np.argsort(bound)[::-1]], bound_of=self._hi, before=True
        )

    def at_or_after(self, series: int, t: int) -> Point | None:
        """The point of ``series`` with the smallest ts >= t."""
        cand = np.flatnonzero(self._hi >= t)
        bound = np.maximum(self._lo[cand], t)
        return self._nearest(series, t, cand[np.argsort(bound)], bound_of=self._lo, before=False)

    def _nearest(
        self,
        series: int,
        t: int,
        order: NDArray[np.intp],
        bound_of: NDArray[np.int64],
        before: bool,
    ) -> Point | None:
        # Visit sources nearest-first; stop once no remaining source can reach the
        # best point found. Equal timestamps: the later source (higher index) wins.
        best: Point | None = None
        best_i = -1
        for i in order.tolist():
            if best is not None:
                reach = min(int(bound_of[i]), t) if before else max(int(bound_of[i]), t)
                if (reach < best.ts) if before else (reach > best.ts):
                    break
            src = self.sources[i]
            p = src.at_or_before(series, t) if before else src.at_or_after(series, t)
            if p is None:
                continue
            if (
                best is None
                or (p.ts > best.ts if before else p.ts < best.ts)
                or (p.ts == best.ts and i > best_i)
            ):
                best, best_i = p, i
        return best

    def last(self, series: int) -> Point | None:
        """The latest point of ``series``, or None."""
        return self.at_or_before(series, 2**63 - 1)

    def first(self, series: int) -> Point | None:
        """The earliest point of ``series``, or None."""
        return self.at_or_after(series, -(2**63))

    # ------------------------------------------------------- index statistics
    def index_parts(self, series: int, start_ns: int, end_ns: int) -> IndexParts:
        """Split [start_ns, end_ns) of ``series`` into usable chunk stats and the rest.

        Reads only index rows for chunks whose stats stand for their points, and
        decodes the others one chunk range at a time (edges, old files, small
        chunks, chunks another source overlaps).
        """
        owners: list[NDArray[np.intp]] = []
        rows: list[NDArray[np.void]] = []
        meeting = self._meeting(start_ns, end_ns)
        table = self._index_table(series) if self._index_table is not None else None
        if table is not None:
            # by min_ts; max_ts is not monotonic (an L0 chunk may overlap an L2 one)
            b = int(np.searchsorted(table.rows["min_ts"], end_ns, "left"))
            keep = np.flatnonzero(table.rows["max_ts"][:b] >= start_ns)
            rows.append(table.rows[keep])
            owners.append(table.owner[keep] + table.first)
            covered = (meeting >= table.first) & (meeting < table.first + table.covers)
            meeting = meeting[~covered]
        for i in meeting.tolist():
            r = self.sources[i].chunk_stats(series, start_ns, end_ns)
            if len(r):
                rows.append(r)
                owners.append(np.full(len(r), i, np.intp))
        if not any(len(r) for r in rows):
            empty = np.empty(0, CHUNK_SUMMARY_DTYPE)
            return IndexParts(empty, SeriesColumns.empty(series), np.empty(0, np.intp))
        # joined as bytes: np.concatenate checks the 25 fields of every part (~40 us each)
        all_rows = np.frombuffer(b"".join(r.tobytes() for r in rows), CHUNK_SUMMARY_DTYPE)
        owner = np.concatenate(owners)
        order = np.argsort(all_rows["min_ts"], kind="stable")
        all_rows, owner = all_rows[order], owner[order]
        lo, hi = all_rows["min_ts"], all_rows["max_ts"]
        # rows of one source never overlap each other, so any overlap is with another source
        reach = np.maximum.accumulate(hi)
        overlap = np.zeros(len(lo), bool)
        overlap[1:] |= reach[:-1] >= lo[1:]
        overlap[:-1] |= lo[1:] <= hi[:-1]
        usable = all_rows["has_stats"] & ~overlap & (lo >= start_ns) & (hi < end_ns)
        parts = []
        for k in np.flatnonzero(~usable)[np.argsort(owner[~usable], kind="stable")].tolist():
            a, b = max(start_ns, int(lo[k])), min(end_ns, int(hi[k]) + 1)
            parts.append(self.sources[int(owner[k])].read(series, a, b))
        ts, v, q = merge_columns(parts)
        return IndexParts(all_rows[usable], SeriesColumns(series, ts, v, q), owner[usable])


def _query_check(series: Sequence[int], start_ns: int, end_ns: int) -> int:
    key = np.asarray(series, np.int64).tobytes() + np.array([start_ns, end_ns], np.int64).tobytes()
    return zlib.crc32(key)


def _make_token(pos: int, resume_ns: int, check: int) -> str:
    return f"p1.{pos}.{resume_ns}.{check:08x}"


def _parse_token(token: str, check: int) -> tuple[int, int]:
    try:
        tag, pos, resume, crc = token.split(".")
        if tag != "p1" or int(crc, 16) != check:
            raise ValueError
        return int(pos), int(resume)
    except ValueError:
        raise ValueError(
            f"page token {token!r} does not belong to this query; pass the next_token of the "
            "previous page with the same series, start and end"
        ) from None
