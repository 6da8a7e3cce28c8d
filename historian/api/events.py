"""``GET /api/v1/events``: plant events (alarms, trips, operator actions) by time range.

Parameters: ``start``/``end`` (PI-style or ISO times, default ``*-1h`` .. ``*``;
``end`` must be after ``start``), ``source`` (shell glob over the source path,
default ``*``), ``kind`` (comma-separated kinds of :data:`historian.events.KINDS`),
``min_severity`` (1..1000), ``max_count`` (per page, default 1000, at most the
server's ``max_values``), ``page_token`` (``next_page_token`` of the previous page,
with the same other parameters). Items are ordered by (time, id). A token sees
only events whose source its read scope covers. See docs/events.md.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Callable
from typing import Any

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response

from historian.api.auth import Principal
from historian.api.encode import dumps
from historian.api.errors import ApiError, bad_request
from historian.api.health import ApiState
from historian.api.params import Params, too_large
from historian.api.times import TIME_EXPECTED, format_time
from historian.events.model import KINDS, Event

__all__ = ["EventRoutes", "openapi_parts"]

JSON = "application/json"
DEFAULT_MAX_COUNT = 1000


def event_json(e: Event) -> dict[str, Any]:
    return {"time": format_time(e.time_ns), **e.fields()}


def encode_token(after: tuple[int, str]) -> str:
    raw = json.dumps([after[0], after[1]], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str) -> tuple[int, str]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        t, eid = json.loads(raw)
        if isinstance(t, int) and not isinstance(t, bool) and isinstance(eid, str):
            return t, eid
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        pass
    raise bad_request("parameter 'page_token' is not a next_page_token this server gave")


class EventRoutes:
    def __init__(self, state: ApiState, principal: Callable[[Request], Principal]) -> None:
        self._state = state
        self._principal = principal

    async def list(self, request: Request) -> Response:
        principal = self._principal(request)
        principal.require_scope("read", "read events")
        self._state.require_engine()
        events = self._state.events
        if events is None:
            raise ApiError(503, "unavailable", "the event store is not open yet; retry")
        q = request.query_params
        p = Params(dict(q), self._state.limits, time.time_ns())
        start, end = p.forward_range()
        source = p.text("source", "*")
        kinds = [k.strip() for k in p.text("kind", "").split(",") if k.strip()]
        unknown = [k for k in kinds if k not in KINDS]
        if unknown:
            raise bad_request(f"parameter 'kind': unknown kind(s) {unknown}; choose from "
                              + ", ".join(KINDS))  # fmt: skip
        min_severity = p.integer("min_severity", 1) or 1
        if min_severity > 1000:
            raise bad_request(f"parameter 'min_severity' must be 1..1000, got {min_severity}")
        limit = self._state.limits.max_values
        max_count = p.integer("max_count", DEFAULT_MAX_COUNT) or DEFAULT_MAX_COUNT
        if max_count > limit:
            raise too_large(f"max_count {max_count:,}", limit, "page through with page_token")
        token = q.get("page_token")
        after = decode_token(token) if token else None

        def work() -> bytes:
            items, more = events.query(
                start, end, source=source, kinds=kinds, min_severity=min_severity,
                after=after, max_count=max_count, visible=principal.may_read,
            )  # fmt: skip
            doc: dict[str, Any] = {"items": [event_json(e) for e in items]}
            if more:
                doc["next_page_token"] = encode_token((items[-1].time_ns, items[-1].id))
            return dumps(doc)

        return Response(await anyio.to_thread.run_sync(work), media_type=JSON)


def openapi_parts(
    errors: Callable[..., dict[str, Any]], max_values: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(paths, schemas) of ``GET /api/v1/events`` for :mod:`historian.api.openapi`."""

    def param(name: str, desc: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
        return {"name": name, "in": "query", "required": False, "description": desc,
                "schema": schema or {"type": "string"}}  # fmt: skip

    params = [
        param("start", f"range start, inclusive (default *-1h): {TIME_EXPECTED}"),
        param("end", f"range end, exclusive (default *): {TIME_EXPECTED}"),
        param("source", "shell glob over the event's source path (default *)"),
        param("kind", "comma-separated kinds: " + ", ".join(KINDS)),
        param(
            "min_severity",
            "lowest severity (1..1000, OPC UA)",
            {"type": "integer", "minimum": 1, "maximum": 1000},
        ),
        param("max_count", f"events per page (1..{max_values})", {"type": "integer", "minimum": 1}),
        param("page_token", "next_page_token of the previous page"),
    ]
    number = {"type": "number"}
    event = {
        "type": "object",
        "required": ["id", "time", "time_ns", "source", "kind", "severity", "message"],
        "properties": {
            "id": {"type": "string"},
            "time": {"type": "string", "description": "ISO 8601 UTC, nine fraction digits"},
            "time_ns": {"type": "integer"},
            "source": {"type": "string"},
            "kind": {"enum": list(KINDS)},
            "severity": {"type": "integer", "minimum": 1, "maximum": 1000},
            "message": {"type": "string"},
            "value": number,
            "limit": number,
            "condition": {"type": "string"},
        },
    }
    page = {
        "type": "object",
        "required": ["items"],
        "properties": {
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/Event"}},
            "next_page_token": {"type": "string"},
        },
    }
    paths = {
        "/api/v1/events": {
            "get": {
                "summary": "Plant events (alarms, trips, operator actions) in a time range",
                "parameters": params,
                "responses": {
                    "200": {
                        "description": "events by (time, id)",
                        "content": {JSON: {"schema": {"$ref": "#/components/schemas/EventPage"}}},
                    },
                    **errors(400, 401, 403, 413, 503),
                },
            }
        }
    }
    return paths, {"Event": event, "EventPage": page}
