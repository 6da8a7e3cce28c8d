"""``POST /api/v1/streams/query``: several tags and query kinds in one request.

Body::

    {"queries": [
        {"tag": "acme.s1.a.l.c.pump.flow", "kind": "plot", "start": "*-1d", "end": "*",
         "intervals": 800},
        {"tag": "acme.s1.a.l.c.pump.flow", "kind": "last"},
        {"tag": "acme.s1.a.l.c.tank.level", "kind": "summary", "start": "t", "end": "*",
         "interval": "1h", "types": ["average", "maximum"]}
    ]}

Each entry takes the same parameters as its ``GET /api/v1/tags/{name}/<kind>``
endpoint, and relative times of one request share one "now". The answer lists
the results in request order, each as the single-query answer would be
(``{"tag", "kind", "items", ["next_page_token"]}``), so a trend page draws
several tags from one round trip. An unknown tag fails only its own entry
(``{"tag", "kind", "error": {...}}``); a malformed entry, a tag outside the
token's scope or a limit fails the whole request (400/403/413, the message
names the entry).

With ``Accept: application/vnd.apache.arrow.stream`` the value rows of every
entry come as one record batch with a leading ``query`` column (the entry's
index); summaries have another shape and are refused there (406).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
from starlette.responses import Response

from historian.api.auth import Principal
from historian.api.encode import ARROW_MEDIA_TYPE, arrow_stream, json_object
from historian.api.errors import ApiError, bad_request, error_fields
from historian.api.health import ApiLimits
from historian.api.params import Params, too_large
from historian.api.queries import KINDS, Result, result_fields, run_query
from historian.query.columns import QueryColumns
from historian.query.engine import QueryEngine

__all__ = ["streams_query"]


def _entries(body: bytes, limits: ApiLimits) -> list[dict[str, Any]]:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise bad_request(f"body is not JSON: {exc}") from None
    queries = doc.get("queries") if isinstance(doc, dict) else None
    if not isinstance(queries, list) or not queries:
        raise bad_request('body must be {"queries": [{"tag": ..., "kind": ...}, ...]}')
    if len(queries) > limits.max_queries:
        raise too_large(f"{len(queries)} queries", limits.max_queries, "split the request")
    for i, q in enumerate(queries):
        if not isinstance(q, dict):
            raise bad_request(f"queries[{i}] must be an object")
        if not isinstance(q.get("tag"), str) or not q["tag"]:
            raise bad_request(f"queries[{i}]: 'tag' (a tag name) is required")
        if q.get("kind") not in KINDS:
            raise bad_request(f"queries[{i}]: 'kind' must be one of {', '.join(KINDS)}")
    return queries


def _run(engine: QueryEngine, i: int, q: dict[str, Any], p: Params) -> Result | ApiError:
    try:
        return run_query(engine, q["kind"], q["tag"], p)
    except ApiError as exc:
        if exc.code == "unknown_tag":
            return exc
        raise ApiError(exc.status, exc.code, f"queries[{i}]: {exc.message}", **exc.extra) from None


def streams_query(
    engine: QueryEngine,
    body: bytes,
    principal: Principal,
    limits: ApiLimits,
    now_ns: int,
    arrow: bool,
) -> Response:
    """Run every entry of the body (see the module docstring); blocking."""
    entries = _entries(body, limits)
    principal.require(dict.fromkeys(q["tag"] for q in entries))
    if arrow and any(q["kind"] == "summary" for q in entries):
        raise ApiError(
            406,
            "not_acceptable",
            "summaries cannot share an Arrow stream with value rows; "
            "ask for JSON or query summaries on their own endpoint",
        )
    results = [_run(engine, i, q, Params(q, limits, now_ns)) for i, q in enumerate(entries)]
    results = [principal.redact(r) if isinstance(r, ApiError) else r for r in results]
    if arrow:
        return _arrow(results)
    parts = []
    for q, r in zip(entries, results, strict=True):
        if isinstance(r, ApiError):
            parts.append(json_object({"tag": q["tag"], "kind": q["kind"], **error_fields(r)}))
        else:
            parts.append(json_object(result_fields(r)))
    return Response(b'{"results":[' + b",".join(parts) + b"]}", media_type="application/json")


def _arrow(results: list[Result | ApiError]) -> Response:
    import pyarrow as pa  # lazy: only Arrow requests pay its ~25 MB (benchmarks/bench_rss.py)

    from historian.api.encode import values_table

    batches = []
    for i, r in enumerate(results):
        cols = r.columns if isinstance(r, Result) and r.columns is not None else None
        cols = cols if cols is not None else QueryColumns.empty()
        index = np.full(len(cols), i, dtype=np.uint16)
        batches.append(values_table(cols, {"query": index}))
    table = pa.Table.from_batches(batches).combine_chunks()
    [batch] = table.to_batches() or [batches[0]]
    errors = {str(i): r.message for i, r in enumerate(results) if isinstance(r, ApiError)}
    meta = {"errors": orjson.dumps(errors).decode()} if errors else None
    return Response(arrow_stream(batch, meta), media_type=ARROW_MEDIA_TYPE)
