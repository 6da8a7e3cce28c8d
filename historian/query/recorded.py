"""Recorded values: the stored points of a range, with PI's boundary types, limits and paging.

Range convention: the bound named ``start`` is inclusive and ``end`` exclusive, in
the direction of travel. ``start <= end`` reads ``[start, end)`` oldest first;
``end < start`` reads ``(end, start]`` newest first (PI's reverse order).

Boundary types (:class:`Boundary`):

* ``inside`` — only points in the range;
* ``outside`` — also the recorded point just outside each end: ``before`` (unless a
  point lies exactly on the earlier bound, which then already is the boundary) and
  ``after`` (the first point at or beyond the later bound), flagged ``BOUNDARY``;
* ``interpolated`` — a value synthesised at each bound with the interpolated-value
  rules (:mod:`historian.query.interpolated`), flagged ``INTERPOLATED``; a point
  recorded exactly on the inclusive bound is returned as itself.

Boundary contract: ``cols`` holds the points of the range (points outside it are
ignored), ``before`` the last point strictly earlier than the range's earliest
time, ``after`` the first point at or after its latest bound. For ``[start, end)``
that is the read seam's "last point at or before ``start - 1``" and "first point
at or after ``end``"; for ``(end, start]`` "at or before ``end``" and "at or after
``start + 1``".

Paging: ``max_count`` caps the values returned (boundary values included). When it
cuts the answer short, :attr:`RecordedPage.next_page_token` resumes right after
the last value returned; pass it back with the same arguments (a token names the
timestamp and direction only, so a changed range is caught only when its
direction differs). Token format: ``"rv1" + base64url(<q ts><b direction>)``,
little-endian; callers treat it as opaque. A resumed page adds no start boundary.

>>> from historian.query.columns import BoundaryPoint, QueryColumns
>>> cols = QueryColumns.from_arrays([10, 20, 30], [1.0, 2.0, 3.0])
>>> recorded_values(cols, 10, 40).columns.ts.tolist()
[10, 20, 30]
>>> p = recorded_values(cols, 15, 40, boundary="outside", before=BoundaryPoint(10, 1.0))
>>> p.columns.ts.tolist()
[10, 20, 30]
>>> edges = dict(before=BoundaryPoint(10, 1.0), after=BoundaryPoint(30, 3.0))
>>> p = recorded_values(cols, 15, 25, boundary="interpolated", **edges)
>>> p.columns.ts.tolist(), p.columns.values.tolist()
([15, 20, 25], [1.5, 2.0, 2.5])
>>> recorded_values(cols, 40, 10).columns.ts.tolist()
[30, 20]
>>> page = recorded_values(cols, 10, 40, max_count=2)
>>> page.columns.ts.tolist(), page.next_page_token is not None
([10, 20], True)
>>> recorded_values(cols, 10, 40, max_count=2, page_token=page.next_page_token).columns.ts.tolist()
[30]
"""

from __future__ import annotations

import base64
import binascii
import enum
import struct
from dataclasses import dataclass

import numpy as np

from historian.errors import HistorianError
from historian.model import TIME_DTYPE
from historian.query.columns import (
    FLAG_DTYPE,
    BoundaryPoint,
    ColumnsLike,
    PointLike,
    QueryColumns,
    ValueFlag,
)
from historian.query.signal import build_signal, evaluate

__all__ = [
    "Boundary",
    "InvalidPageTokenError",
    "PageCursor",
    "RecordedPage",
    "decode_page_token",
    "encode_page_token",
    "page_start",
    "recorded_values",
]

_TOKEN_PREFIX = "rv1"
_TOKEN_LAYOUT = struct.Struct("<qb")


class Boundary(enum.StrEnum):
    INSIDE = "inside"
    OUTSIDE = "outside"
    INTERPOLATED = "interpolated"


class InvalidPageTokenError(HistorianError, ValueError):
    """A page token is not one this module issued, or belongs to the other direction."""


@dataclass(frozen=True, slots=True)
class PageCursor:
    last_ts: int
    """Timestamp of the last value the previous page returned."""
    forward: bool


@dataclass(frozen=True, slots=True)
class RecordedPage:
    columns: QueryColumns
    next_page_token: str | None
    """None when this page ends the answer."""


def encode_page_token(cursor: PageCursor) -> str:
    raw = _TOKEN_LAYOUT.pack(cursor.last_ts, 1 if cursor.forward else -1)
    return _TOKEN_PREFIX + base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_page_token(token: str) -> PageCursor:
    bad = InvalidPageTokenError(
        f"page token {token[:40]!r} is not valid; pass the next_page_token of the previous "
        "page unchanged, or omit it to start from the beginning"
    )
    if not token.startswith(_TOKEN_PREFIX):
        raise bad
    body = token[len(_TOKEN_PREFIX) :]
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        last_ts, direction = _TOKEN_LAYOUT.unpack(raw)
    except (binascii.Error, struct.error, ValueError):
        raise bad from None
    if direction not in (1, -1):
        raise bad
    return PageCursor(int(last_ts), direction == 1)


def page_start(start: int, end: int, page_token: str | None) -> int:
    """The inclusive bound a page resumes from: ``start`` itself, or just past the token's
    timestamp in the direction of travel. Read the seam from here for a resumed page."""
    if page_token is None:
        return start
    cursor = decode_page_token(page_token)
    forward = start <= end
    if cursor.forward != forward:
        raise InvalidPageTokenError(
            "page token was issued for the opposite direction; pass the same start and end "
            "as the first page"
        )
    return cursor.last_ts + 1 if forward else cursor.last_ts - 1


def recorded_values(
    cols: ColumnsLike,
    start: int,
    end: int,
    *,
    boundary: Boundary | str = Boundary.INSIDE,
    before: PointLike | None = None,
    after: PointLike | None = None,
    stepped: bool = False,
    max_count: int | None = None,
    page_token: str | None = None,
) -> RecordedPage:
    """Recorded values of ``[start, end)`` (or ``(end, start]`` newest first when end < start).

    ``stepped`` only matters for ``boundary="interpolated"``. ``max_count`` must be >= 1.
    """
    try:
        kind = Boundary(boundary)
    except ValueError:
        choices = ", ".join(b.value for b in Boundary)
        raise ValueError(f"unknown boundary type {boundary!r}; choose one of {choices}") from None
    if max_count is not None and max_count < 1:
        raise ValueError(f"max_count must be at least 1, got {max_count}")
    forward = start <= end
    resumed = page_token is not None
    first_bound = page_start(start, end, page_token)
    # A page cut right after the earlier outside point resumes before start: clamp.
    first_bound = max(first_bound, start) if forward else min(first_bound, start)
    if resumed and (first_bound > end if forward else first_bound < end):
        return RecordedPage(QueryColumns.empty(), None)  # the end boundary was already sent
    # The range as [lo, hi) in time order, whatever the direction.
    lo, hi = (first_bound, end) if forward else (end + 1, first_bound + 1)
    hi = max(hi, lo)
    i0, i1 = np.searchsorted(cols.ts, [lo, hi], "left")
    inside = QueryColumns(
        np.asarray(cols.ts[i0:i1], TIME_DTYPE),
        np.asarray(cols.values[i0:i1]),
        np.asarray(cols.quality[i0:i1]),
        np.zeros(int(i1 - i0), FLAG_DTYPE),
    )
    parts_ts = [inside.ts]
    parts_v = [inside.values]
    parts_q = [inside.quality]
    parts_f = [inside.flags]
    # Bounds that still belong to this page: the starting bound only on the first page.
    want_lo = not resumed or not forward
    want_hi = not resumed or forward
    # Earliest and latest bound in time order; which of them is inclusive follows the direction.
    t_early, t_late = (start, end) if forward else (end, start)
    on_early = forward and len(inside) > 0 and int(inside.ts[0]) == t_early
    on_late = not forward and len(inside) > 0 and int(inside.ts[-1]) == t_late
    add_early = want_lo and not on_early
    add_late = want_hi and not on_late and not (add_early and t_late == t_early)
    if kind is Boundary.OUTSIDE:
        if add_early and before is not None:
            _prepend(parts_ts, parts_v, parts_q, parts_f, before, ValueFlag.BOUNDARY)
        if add_late and after is not None:
            _append(parts_ts, parts_v, parts_q, parts_f, after, ValueFlag.BOUNDARY)
    elif kind is Boundary.INTERPOLATED and (add_early or add_late):
        sig = build_signal(inside, stepped=stepped, before=before, after=after)
        v, q, f = evaluate(sig, np.array([t_early, t_late], TIME_DTYPE))
        if add_early:
            point = BoundaryPoint(t_early, float(v[0]), int(q[0]))
            _prepend(parts_ts, parts_v, parts_q, parts_f, point, int(f[0]))
        if add_late:
            point = BoundaryPoint(t_late, float(v[1]), int(q[1]))
            _append(parts_ts, parts_v, parts_q, parts_f, point, int(f[1]))
    out = QueryColumns(
        np.concatenate(parts_ts),
        np.concatenate(parts_v),
        np.concatenate(parts_q),
        np.concatenate(parts_f),
    )
    if not forward:
        out = out.reversed()
    if max_count is None or len(out) <= max_count:
        return RecordedPage(out, None)
    out = out.take(slice(0, max_count))
    token = encode_page_token(PageCursor(int(out.ts[-1]), forward))
    return RecordedPage(out, token)


def _prepend(
    ts: list[np.ndarray],
    v: list[np.ndarray],
    q: list[np.ndarray],
    f: list[np.ndarray],
    p: PointLike,
    flag: int,
) -> None:
    ts.insert(0, np.array([p.ts], TIME_DTYPE))
    v.insert(0, np.array([p.value], np.float64))
    q.insert(0, np.array([p.quality], np.uint16))
    f.insert(0, np.array([flag], FLAG_DTYPE))


def _append(
    ts: list[np.ndarray],
    v: list[np.ndarray],
    q: list[np.ndarray],
    f: list[np.ndarray],
    p: PointLike,
    flag: int,
) -> None:
    ts.append(np.array([p.ts], TIME_DTYPE))
    v.append(np.array([p.value], np.float64))
    q.append(np.array([p.quality], np.uint16))
    f.append(np.array([flag], FLAG_DTYPE))
