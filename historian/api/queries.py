"""One query, from parameters to an engine call to an encoded answer.

Every query endpoint (``/api/v1/tags/{name}/<kind>``) and every entry of
``/api/v1/streams/query`` goes through :func:`run_query` (parameters -> the
:class:`~historian.query.engine.QueryEngine` call -> :class:`Result`) and then
:func:`result_json` or the Arrow encoders. Engine errors become API errors here:
unknown tag 404 with close matches, too many raw points 413, a bad page token or a
range the semantics refuse 400.

``run_query`` blocks (it reads segments and computes); the app calls it in a
worker thread so the event loop, which also runs the ingest, never waits on it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from historian.api.encode import (
    dumps,
    json_object,
    status_of,
    value_items_json,
    values_table,
)
from historian.api.errors import ApiError, bad_request
from historian.api.params import (
    BOUNDARIES,
    DEFAULT_PLOT_INTERVALS,
    WEIGHTINGS,
    Params,
    too_large,
)
from historian.api.times import format_time, format_times
from historian.model import NS_PER_SECOND as NS
from historian.query.columns import NO_TIME, QueryColumns
from historian.query.engine import QueryEngine, QueryLimitError, UnknownTagError
from historian.query.recorded import InvalidPageTokenError
from historian.query.summary import Summaries

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["KINDS", "Result", "result_arrow", "result_json", "run_query"]

KINDS = ("recorded", "interpolated", "at", "plot", "summary", "last")


@dataclass
class Result:
    """A query's answer before encoding: value columns, or summaries."""

    tag: str
    kind: str
    columns: QueryColumns | None = None
    summaries: Summaries | None = None
    types: list[str] = field(default_factory=list)
    next_page_token: str | None = None
    span: tuple[int, int] | None = None
    """The resolved (start, end) of a range query, echoed so relative times can be drawn."""


def _recorded(engine: QueryEngine, name: str, p: Params) -> Result:
    start, end = p.range()
    limit = p.limits.max_values
    max_count = p.integer("max_count")
    if max_count is not None and max_count > limit:
        raise too_large(f"max_count {max_count:,}", limit, "page with a smaller max_count")
    boundary = p.choice("boundary", BOUNDARIES, "inside")
    token = p.raw.get("page_token")
    if token is not None and not isinstance(token, str):
        raise bad_request("parameter 'page_token' must be the string a previous page returned")
    asked = max_count if max_count is not None else limit
    page = engine.recorded(
        name, start, end, boundary=boundary, max_count=asked, page_token=token or None
    )
    if max_count is None and page.next_page_token is not None:
        raise too_large(
            "the range's recorded values",
            limit,
            "pass max_count (at most the limit) and follow next_page_token, or narrow the range",
        )
    return Result(
        name,
        "recorded",
        columns=page.columns,
        next_page_token=page.next_page_token,
        span=(start, end),
    )


def _interpolated(engine: QueryEngine, name: str, p: Params) -> Result:
    start, end = p.range()
    interval = p.interval()
    p.count_intervals(start, end, interval, p.limits.max_intervals, "an interpolated query")
    cols = engine.interpolated(name, start, end, interval)
    return Result(name, "interpolated", columns=cols, span=(start, end))


def _at(engine: QueryEngine, name: str, p: Params) -> Result:
    times = p.times()
    return Result(name, "at", columns=engine.at_times(name, np.asarray(times, dtype=np.int64)))


def _plot_fallback(engine: QueryEngine, name: str, start: int, end: int, n: int) -> QueryColumns:
    # The engine's contract has plot(); until it lands, the pure function over the raw
    # columns (no boundary points, and no index statistics: long ranges hit max_points).
    from historian.query.plot import plot_values

    return plot_values(engine.raw(name, start, end), start, end, n)


def _plot(engine: QueryEngine, name: str, p: Params) -> Result:
    start, end = p.forward_range()
    n = p.integer("intervals", DEFAULT_PLOT_INTERVALS)
    assert n is not None
    if n > p.limits.max_plot_intervals:
        raise too_large(f"intervals {n:,}", p.limits.max_plot_intervals, "ask for fewer")
    plot: Callable[..., QueryColumns] | None = getattr(engine, "plot", None)
    cols = plot(name, start, end, n) if plot else _plot_fallback(engine, name, start, end, n)
    return Result(name, "plot", columns=cols, span=(start, end))


def _summary(engine: QueryEngine, name: str, p: Params) -> Result:
    start, end = p.forward_range()
    interval = p.interval() if "interval" in p.raw else end - start
    p.count_intervals(start, end, interval, p.limits.max_intervals, "a summary query")
    types = p.summary_types()
    weighting = p.choice("weighting", WEIGHTINGS, "time")
    s = engine.summary(name, start, end, interval, types, weighting)
    return Result(name, "summary", summaries=s, types=types, span=(start, end))


def _last(engine: QueryEngine, name: str, p: Params) -> Result:
    return Result(name, "last", columns=engine.last(name))


_RUNNERS: dict[str, Callable[[QueryEngine, str, Params], Result]] = {
    "recorded": _recorded,
    "interpolated": _interpolated,
    "at": _at,
    "plot": _plot,
    "summary": _summary,
    "last": _last,
}


def run_query(engine: QueryEngine, kind: str, name: str, p: Params) -> Result:
    """Run one query; engine failures become :class:`ApiError` (see the module docstring)."""
    try:
        engine.tag(name)
        result = _RUNNERS[kind](engine, name, p)
    except UnknownTagError as exc:
        raise ApiError(404, "unknown_tag", str(exc), close_matches=exc.close_matches) from None
    except QueryLimitError as exc:
        raise ApiError(413, "too_large", str(exc), limit=exc.limit) from None
    except InvalidPageTokenError as exc:
        raise bad_request(f"parameter 'page_token': {exc}") from None
    if result.columns is not None and len(result.columns) > p.limits.max_values:
        raise too_large("the answer's values", p.limits.max_values, "narrow the range")
    return result


# ------------------------------------------------------------------ encoding
def _summary_items(s: Summaries, types: list[str]) -> list[dict[str, Any]]:
    starts = format_times(s.start).astype(str).tolist()
    ends = format_times(s.end).astype(str).tolist()
    status = [status_of(int(q)) for q in s.status.tolist()]
    pct = s.percent_good.tolist()
    items: list[dict[str, Any]] = []
    for typ in types:
        col = s.column(typ)
        values: list[Any]
        if typ in ("min_time", "max_time"):
            t = np.asarray(col, dtype=np.int64)
            text = format_times(t).astype(str).tolist()
            values = [None if e == NO_TIME else x for e, x in zip(t.tolist(), text, strict=True)]
        elif typ in ("duration_good", "duration_bad"):
            values = (np.asarray(col, dtype=np.float64) / NS).tolist()
        elif typ == "count":
            values = np.asarray(col, dtype=np.int64).tolist()
        else:
            f = np.asarray(col, dtype=np.float64)
            values = [x if math.isfinite(x) else None for x in f.tolist()]
        for i, v in enumerate(values):
            items.append(
                {
                    "type": typ,
                    "start": starts[i],
                    "end": ends[i],
                    "value": v,
                    "status": status[i],
                    "percent_good": pct[i],
                }
            )
    return items


def result_fields(r: Result) -> dict[str, bytes | object]:
    """The JSON object of a result, ``items`` already encoded."""
    fields: dict[str, bytes | object] = {"tag": r.tag, "kind": r.kind}
    if r.span is not None:
        fields["start"], fields["end"] = (format_time(r.span[0]), format_time(r.span[1]))
    if r.summaries is not None:
        fields["items"] = dumps(_summary_items(r.summaries, r.types))
    else:
        assert r.columns is not None
        fields["items"] = value_items_json(r.columns)
    if r.next_page_token is not None:
        fields["next_page_token"] = r.next_page_token
    return fields


def result_json(r: Result) -> bytes:
    return json_object(result_fields(r))


def summaries_table(s: Summaries, types: list[str]) -> pa.RecordBatch:
    import pyarrow as pa  # lazy: only Arrow requests pay its ~25 MB (benchmarks/bench_rss.py)

    arrays: dict[str, pa.Array] = {
        "start": pa.array(s.start).view(pa.timestamp("ns", "UTC")),
        "end": pa.array(s.end).view(pa.timestamp("ns", "UTC")),
        "status": pa.array([status_of(int(q)) for q in s.status.tolist()], pa.string()),
        "quality": pa.array(s.status),
        "percent_good": pa.array(s.percent_good),
    }
    for typ in types:
        col = np.asarray(s.column(typ))
        if typ in ("min_time", "max_time"):
            arrays[typ] = pa.array(col, mask=col == NO_TIME).cast(pa.timestamp("ns", "UTC"))
        else:
            arrays[typ] = pa.array(col)
    return pa.RecordBatch.from_arrays(list(arrays.values()), names=list(arrays))


def result_arrow(r: Result) -> pa.RecordBatch:
    if r.summaries is not None:
        return summaries_table(r.summaries, r.types)
    assert r.columns is not None
    return values_table(r.columns)
