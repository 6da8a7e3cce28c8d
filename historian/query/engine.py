"""The in-process query engine: tag names in, PI- and OPC UA-grade answers out.

:class:`QueryEngine` binds an open :class:`~historian.Historian` to its tag
catalogue and answers every query family by one recipe: resolve the tag (its
series id and ``stepped`` attribute), take one :meth:`Historian.snapshot`, read
the range's columns plus the boundary points just outside it, and hand them to
the pure semantics functions (``recorded``, ``interpolated``, ``plot``,
``summary``, ``part13``). The HTTP API and OPC UA HistoryRead are thin
translations of these methods, so every front end gives the same answer.

Bounds: ``start_ns`` inclusive, ``end_ns`` exclusive, as everywhere
(``docs/query/README.md``). Boundary points: ``before`` is the last point at or
before ``start_ns - 1``, ``after`` the first point at or after ``end_ns``.

>>> import tempfile
>>> from historian import Historian
>>> from historian.catalogue import TagCatalogue, TagInfo
>>> db = Historian.open(tempfile.mkdtemp())
>>> cat = TagCatalogue([TagInfo(id=1, name="site.area.tank.level", unit="m")])
>>> _ = db.write_arrays([1, 1, 1], [0, 10, 20], [1.0, 3.0, 2.0])
>>> q = QueryEngine(db, cat)
>>> q.recorded("site.area.tank.level", 0, 20).columns.values.tolist()
[1.0, 3.0]
>>> q.interpolated("site.area.tank.level", 0, 20, 5).values.tolist()   # linear: not stepped
[1.0, 2.0, 3.0, 2.5]
>>> q.last("site.area.tank.level").values.tolist()
[2.0]
>>> try:
...     q.tag("site.area.tank.levl")
... except UnknownTagError as exc:
...     print(exc)
unknown tag 'site.area.tank.levl'; did you mean: site.area.tank.level
>>> db.close()
"""

from __future__ import annotations

import dataclasses
import difflib
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
from numpy.typing import ArrayLike

from historian.catalogue import TagCatalogue, TagInfo
from historian.errors import HistorianError
from historian.lsm.engine import Historian
from historian.model import TIME_DTYPE, Point, PointBatch, SeriesColumns
from historian.query.columns import QueryColumns
from historian.query.index_answers import plot_from_index, summaries_from_index
from historian.query.interpolated import interpolated_values, values_at_times
from historian.query.part13 import AggregateConfiguration, AggregateResult, aggregate
from historian.query.plot import plot_values
from historian.query.recorded import Boundary, RecordedPage, page_start, recorded_values
from historian.query.snapshot import Snapshot
from historian.query.summary import Summaries, Weighting, interval_edges, summaries_for_edges

__all__ = ["QueryEngine", "QueryLimitError", "UnknownTagError"]

MAX_POINTS_PER_QUERY = 5_000_000
"""Raw points one query may read into memory (``QueryLimitError`` beyond it).

Aggregates over long ranges do not count here once they read the segment index
statistics; the limit guards the raw paths (recorded without ``max_count``,
interpolated over a huge range) against a request that would exhaust memory."""


MAX_BOUND_WALK = 10_000
"""Points a Part 13 query walks outward through Bad data looking for a usable bound."""


class UnknownTagError(HistorianError, KeyError):
    """No tag has that name; ``close_matches`` lists the nearest names."""

    def __init__(self, name: str, close_matches: Sequence[str]) -> None:
        self.name = name
        self.close_matches = list(close_matches)
        hint = f"; did you mean: {', '.join(self.close_matches)}" if self.close_matches else ""
        super().__init__(f"unknown tag {name!r}{hint}")

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class QueryLimitError(HistorianError, ValueError):
    """The query would read more raw points than allowed; ``limit`` says how many."""

    def __init__(self, message: str, limit: int) -> None:
        self.limit = limit
        super().__init__(message)


class QueryEngine:
    """Every query family over one open store, by tag name (see the module docstring)."""

    def __init__(
        self,
        db: Historian,
        catalogue: TagCatalogue | None = None,
        *,
        max_points: int = MAX_POINTS_PER_QUERY,
    ) -> None:
        self.db = db
        self.catalogue = catalogue if catalogue is not None else TagCatalogue()
        self.max_points = max_points
        # per thread: the HTTP front end calls one engine from several worker threads
        self._last = threading.local()

    @property
    def last_chunks_from_index(self) -> int:
        """How many chunks this thread's last plot/summary answered from index rows."""
        n: int = getattr(self._last, "chunks_from_index", 0)
        return n

    @last_chunks_from_index.setter
    def last_chunks_from_index(self, n: int) -> None:
        self._last.chunks_from_index = n

    # ---------------------------------------------------------------- tags
    def tags(self, pattern: str = "*") -> list[TagInfo]:
        """Catalogue entries whose name matches the glob ``pattern``, in catalogue order."""
        return self.catalogue.match(pattern)

    def tag(self, name: str) -> TagInfo:
        info = self.catalogue.by_name(name)
        if info is None:
            names = [t.name for t in self.catalogue]
            raise UnknownTagError(name, difflib.get_close_matches(name, names, n=3, cutoff=0.6))
        return info

    def set_catalogue(self, catalogue: TagCatalogue) -> None:
        """Swap in a new catalogue (after an import or a catalogue reload)."""
        self.catalogue = catalogue

    # -------------------------------------------------------------- reading
    @contextmanager
    def _snapshot(self) -> Iterator[Snapshot]:
        snap = self.db.snapshot()
        try:
            yield snap
        finally:
            snap.release()

    def _read(self, snap: Snapshot, info: TagInfo, lo: int, hi: int) -> SeriesColumns:
        cols = snap.read(info.id, lo, hi, self.max_points + 1, info.name)
        if len(cols.ts) > self.max_points:
            raise QueryLimitError(
                f"the range holds more than {self.max_points:,} points of {info.name!r}; "
                "ask for a shorter range, a max_count (recorded), or a plot/summary",
                self.max_points,
            )
        return cols

    @staticmethod
    def _bounds(snap: Snapshot, series: int, lo: int, hi: int) -> tuple[Point | None, Point | None]:
        return snap.at_or_before(series, lo - 1), snap.at_or_after(series, hi)

    # ------------------------------------------------------------- families
    def recorded(
        self,
        name: str,
        start_ns: int,
        end_ns: int,
        *,
        boundary: Boundary | str = Boundary.INSIDE,
        max_count: int | None = None,
        page_token: str | None = None,
    ) -> RecordedPage:
        """Recorded values (``docs/query/recorded.md``); end < start returns newest first."""
        info = self.tag(name)
        kind = Boundary(boundary)
        forward = start_ns <= end_ns
        first = page_start(start_ns, end_ns, page_token)  # validates the token early
        lo, hi = (first, end_ns) if forward else (end_ns + 1, first + 1)
        with self._snapshot() as snap:
            if max_count is not None and forward:
                # read only what the page can return (+1 to know whether more follows)
                cols = snap.read(info.id, lo, hi, max_count + 2, info.name)
            else:
                cols = self._read(snap, info, lo, hi)
            before, after = self._bounds(snap, info.id, min(start_ns, end_ns + 1), hi)
        if max_count is not None and forward and len(cols.ts) > max_count + 1:
            # the page is cut before the range end: the end boundary is not this page's
            after = None
        return recorded_values(
            cols,
            start_ns,
            end_ns,
            boundary=kind,
            before=before,
            after=after,
            stepped=info.stepped,
            max_count=max_count,
            page_token=page_token,
        )

    def interpolated(self, name: str, start_ns: int, end_ns: int, interval_ns: int) -> QueryColumns:
        """Values at ``start + k * interval`` before ``end`` (docs/query/interpolated.md)."""
        info = self.tag(name)
        lo, hi = (start_ns, end_ns) if start_ns <= end_ns else (end_ns + 1, start_ns + 1)
        with self._snapshot() as snap:
            cols = self._read(snap, info, lo, hi)
            before, after = self._bounds(snap, info.id, lo, hi)
        return interpolated_values(
            cols, start_ns, end_ns, interval_ns, stepped=info.stepped, before=before, after=after
        )

    def at_times(self, name: str, times_ns: ArrayLike) -> QueryColumns:
        """One value per requested time, in the order given (``docs/query/interpolated.md``)."""
        info = self.tag(name)
        times = np.asarray(times_ns, dtype=TIME_DTYPE).reshape(-1)
        if len(times) == 0:
            return QueryColumns.empty()
        lo, hi = int(times.min()), int(times.max()) + 1
        with self._snapshot() as snap:
            cols = self._read(snap, info, lo, hi)
            before, after = self._bounds(snap, info.id, lo, hi)
        return values_at_times(cols, times, stepped=info.stepped, before=before, after=after)

    def summary(
        self,
        name: str,
        start_ns: int,
        end_ns: int,
        interval_ns: int,
        types: Sequence[str] | None = None,
        weighting: Weighting | str = Weighting.TIME,
        *,
        treat_uncertain_as_bad: bool = False,
        use_index: bool | None = None,
    ) -> Summaries:
        """Summaries per interval (``docs/query/summaries.md``).

        Long ranges are answered from the segment index statistics
        (:mod:`historian.query.index_answers`), with the same results as decoding
        every point. The index has no integral of squares, so a time-weighted
        standard deviation (asked for, or implied by ``types=None``) decodes;
        ``use_index`` forces either path (tests and benchmarks compare them).
        """
        info = self.tag(name)
        edges = interval_edges(start_ns, end_ns, interval_ns)
        if use_index is None:
            wants_std = types is None or any(t.startswith("std") for t in types)
            use_index = not (Weighting(weighting) is Weighting.TIME and wants_std)
        with self._snapshot() as snap:
            before, after = self._bounds(snap, info.id, start_ns, end_ns)
            if use_index:
                result, self.last_chunks_from_index = summaries_from_index(
                    snap,
                    info.id,
                    edges,
                    stepped=info.stepped,
                    weighting=weighting,
                    before=before,
                    after=after,
                    types=types,
                    treat_uncertain_as_bad=treat_uncertain_as_bad,
                )
                return result
            cols = self._read(snap, info, start_ns, end_ns)
        self.last_chunks_from_index = 0
        return summaries_for_edges(
            cols,
            edges,
            stepped=info.stepped,
            weighting=weighting,
            before=before,
            after=after,
            types=types,
            treat_uncertain_as_bad=treat_uncertain_as_bad,
        )

    def plot(
        self,
        name: str,
        start_ns: int,
        end_ns: int,
        intervals: int,
        *,
        use_index: bool = True,
    ) -> QueryColumns:
        """PI plot values over ``intervals`` pixel columns (``docs/query/plot.md``).

        The points just outside the range come back flagged ``BOUNDARY`` so a
        trend can draw its line to both edges.
        """
        info = self.tag(name)
        with self._snapshot() as snap:
            before, after = self._bounds(snap, info.id, start_ns, end_ns)
            if use_index:
                result, self.last_chunks_from_index = plot_from_index(
                    snap, info.id, start_ns, end_ns, intervals, before=before, after=after
                )
                return result
            cols = self._read(snap, info, start_ns, end_ns)
        self.last_chunks_from_index = 0
        return plot_values(cols, start_ns, end_ns, intervals, before=before, after=after)

    def aggregate(
        self,
        name: str,
        aggregate_name: str | int,
        start_ns: int,
        end_ns: int,
        interval_ns: int,
        config: AggregateConfiguration | None = None,
    ) -> AggregateResult:
        """An OPC UA Part 13 aggregate per processing interval (docs/query/opcua-aggregates.md).

        ``aggregate_name`` is a BrowseName (``"TimeAverage"``) or a NodeId. The
        tag's ``stepped`` attribute overrides the configuration's, as the
        HA Configuration of a historized node would. Raw points are read for the
        range plus, on each side, points outward up to the nearest usable one
        (Part 13's interpolated bounds need it).
        """
        info = self.tag(name)
        base = config or AggregateConfiguration()
        cfg = dataclasses.replace(base, stepped=info.stepped)
        lo, hi = min(start_ns, end_ns), max(start_ns, end_ns)
        with self._snapshot() as snap:
            cols = self._read(snap, info, lo, hi)
            outside = self._usable_neighbours(snap, info.id, lo, hi, cfg.treat_uncertain_as_bad)
        ts = np.concatenate([[p.ts for p in outside[0]], cols.ts, [p.ts for p in outside[1]]])
        values = np.concatenate(
            [[p.value for p in outside[0]], cols.values, [p.value for p in outside[1]]]
        )
        quality = np.concatenate(
            [[p.quality for p in outside[0]], cols.quality, [p.quality for p in outside[1]]]
        )
        return aggregate(
            aggregate_name,
            ts.astype(np.int64),
            values.astype(np.float64),
            quality.astype(np.uint16),
            start_ns,
            end_ns,
            interval_ns,
            cfg,
        )

    @staticmethod
    def _usable_neighbours(
        snap: Snapshot, series: int, lo: int, hi: int, uncertain_is_bad: bool
    ) -> tuple[list[Point], list[Point]]:
        """Points before ``lo`` (oldest first) and from ``hi`` on, each side walking outward
        to the nearest usable point (bounded: a long Bad stretch stops after
        ``MAX_BOUND_WALK`` points, which Part 13 then treats as no usable bound)."""
        worst = 1 if uncertain_is_bad else 2

        def usable(p: Point) -> bool:
            return (p.quality >> 14) < worst and bool(np.isfinite(p.value))

        before: list[Point] = []
        p = snap.at_or_before(series, lo - 1)
        while p is not None and len(before) < MAX_BOUND_WALK:
            before.append(p)
            if usable(p):
                break
            p = snap.at_or_before(series, p.ts - 1)
        after: list[Point] = []
        p = snap.at_or_after(series, hi)
        while p is not None and len(after) < MAX_BOUND_WALK:
            after.append(p)
            if usable(p):
                break
            p = snap.at_or_after(series, p.ts + 1)
        return before[::-1], after

    def last(self, name: str) -> QueryColumns:
        """The newest point of the tag (0 or 1 rows)."""
        info = self.tag(name)
        with self._snapshot() as snap:
            p = snap.last(info.id)
        if p is None:
            return QueryColumns.empty()
        return QueryColumns.from_arrays([p.ts], [p.value], [p.quality])

    def raw(self, name: str, start_ns: int, end_ns: int) -> SeriesColumns:
        """The stored columns of ``[start_ns, end_ns)``, without boundary handling."""
        info = self.tag(name)
        with self._snapshot() as snap:
            return self._read(snap, info, start_ns, end_ns)

    # ---------------------------------------------------------------- write
    def write(self, batch: PointBatch) -> int:
        """Store a batch through the engine (same validation and durability as the bus path)."""
        return self.db.write(batch)
