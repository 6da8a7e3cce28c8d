"""ReadRawModifiedDetails over :meth:`QueryEngine.recorded` (Part 11, 6.5.3).

The time domain (``start``/``end`` ns, None = DateTime.MinValue = not given,
``num`` = numValuesPerNode, 0 = no limit), as Part 11 defines it:

* start and end: ``[start, end)`` oldest first, or ``(end, start]`` newest first
  when end < start; ``num`` > 0 pages the answer (``num`` values per response,
  then a continuation point);
* start and num: ``num`` values from ``start`` on, oldest first;
* end and num: ``num`` values from ``end`` backwards, newest first (the value at
  ``end`` included: ``end`` is where the read starts);
* start == end: the value recorded exactly then, if any;
* fewer than two given: ``Bad_InvalidTimestampArgument``.

``returnBounds``: the bounding value at each *given* end — the value at that
time, else the nearest one outside the domain — or, where none exists, a
placeholder with ``Bad_BoundNotFound`` and the bound's timestamp. Bounds count
toward ``num``. Every response holds at most ``max_values`` values (the server's
MaxReturnDataValues); the rest follows through a continuation point.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from historian.catalogue import TagInfo
from historian.opcua.encoding import encode_rows, history_data, placeholder, ua
from historian.query.columns import QueryColumns, ValueFlag
from historian.query.engine import QueryEngine
from historian.query.recorded import PageCursor, encode_page_token

FAR_FUTURE_NS = 2**62
FAR_PAST_NS = -(2**62)

VALUE_TYPE = {"float64": "Double", "float32": "Float", "int16": "Double", "bool": "Boolean"}


class RawRequestError(ValueError):
    """A raw read Part 11 does not allow; ``code`` is the operation's StatusCode."""

    def __init__(self, code: int, message: str) -> None:
        self.code = code
        super().__init__(message)


@dataclass(frozen=True)
class RawQuery:
    """One node's raw read, as resolved from the request (kept in its continuation point)."""

    first: int
    """Engine ``start_ns`` (the inclusive end of travel)."""
    last: int
    """Engine ``end_ns`` (exclusive)."""
    bound_first: int | None
    """Timestamp of the start bound (None: no start time given, no bound)."""
    bound_last: int | None
    page_size: int
    """Values per response."""
    total: int
    """Values in all (0 = until the domain ends)."""

    @property
    def forward(self) -> bool:
        return self.first <= self.last


def resolve(start: int | None, end: int | None, num: int, max_values: int) -> RawQuery:
    """Part 11's rules for the three parameters (see the module docstring)."""
    if start is not None and end is not None:
        page = min(num, max_values) if num else max_values
        if start == end:  # the value at that instant: [t, t + 1)
            return RawQuery(start, start + 1, start, start + 1, page, 0)
        return RawQuery(start, end, start, end, page, 0)
    if num <= 0 or (start is None and end is None):
        raise RawRequestError(
            ua.StatusCodes.BadInvalidTimestampArgument,
            "give two of startTime, endTime and numValuesPerNode",
        )
    if start is not None:
        return RawQuery(start, FAR_FUTURE_NS, start, None, min(num, max_values), num)
    assert end is not None
    return RawQuery(end, FAR_PAST_NS, end, None, min(num, max_values), num)


def _has_first_bound(cols: QueryColumns, q: RawQuery) -> bool:
    if len(cols) == 0:
        return False
    t, boundary = int(cols.ts[0]), bool(cols.flags[0] & ValueFlag.BOUNDARY)
    assert q.bound_first is not None
    outside = t < q.bound_first if q.forward else t > q.bound_first
    return t == q.bound_first or (boundary and outside)


def _has_last_bound(cols: QueryColumns, q: RawQuery) -> bool:
    if len(cols) == 0 or not cols.flags[-1] & ValueFlag.BOUNDARY:
        return False
    t = int(cols.ts[-1])
    assert q.bound_last is not None
    return t >= q.bound_last if q.forward else t <= q.bound_last


def read_page(
    engine: QueryEngine,
    info: TagInfo,
    q: RawQuery,
    bounds: bool,
    state: dict[str, Any],
    timestamps: str,
) -> tuple[Any, int, dict[str, Any] | None]:
    """One response's page: (HistoryData, StatusCode, state to continue from or None).

    ``state`` is empty on the first page; it carries the engine's page token and
    the count served so far between pages.
    """
    if state.get("tail_only"):  # the end placeholder did not fit on the previous page
        assert q.bound_last is not None
        tail = placeholder(q.bound_last, ua.StatusCodes.BadBoundNotFound, timestamps)
        return history_data(1, tail), ua.StatusCodes.Good, None
    first_page = not state
    served = int(state.get("served", 0))
    want = q.page_size if not q.total else min(q.page_size, q.total - served)
    page = engine.recorded(
        info.name,
        q.first,
        q.last,
        boundary="outside" if bounds else "inside",
        max_count=want,
        page_token=state.get("token"),
    )
    cols, token = page.columns, page.next_page_token
    head = tail = b""
    n_extra = 0
    if bounds and first_page and q.bound_first is not None and not _has_first_bound(cols, q):
        head = placeholder(q.bound_first, ua.StatusCodes.BadBoundNotFound, timestamps)
        n_extra = 1
        if len(cols) + 1 > want:  # the placeholder takes the last value's place
            cols = cols.take(slice(0, len(cols) - 1))
            # resume right after the last value kept (or from the start when none is)
            resume = int(cols.ts[-1]) if len(cols) else q.first + (-1 if q.forward else 1)
            token = encode_page_token(PageCursor(resume, q.forward))
    tail_only = False
    if bounds and token is None and q.bound_last is not None and not _has_last_bound(cols, q):
        if len(cols) + n_extra < want:
            tail = placeholder(q.bound_last, ua.StatusCodes.BadBoundNotFound, timestamps)
            n_extra += 1
        else:
            tail_only = True
    status = np.asarray(cols.quality, np.uint32) << np.uint32(16)
    body = encode_rows(
        cols.ts,
        cols.values,
        status,
        value_type=VALUE_TYPE.get(info.dtype, "Double"),
        timestamps=timestamps,
    )
    count = len(cols) + n_extra
    served += count
    more = token is not None and (not q.total or served < q.total)
    code = ua.StatusCodes.Good if count else ua.StatusCodes.GoodNoData
    next_state: dict[str, Any] | None = None
    if more:
        next_state = {"token": token, "served": served}
    elif tail_only:
        next_state = {"tail_only": True, "served": served}
    return history_data(count, head + body + tail), code, next_state
