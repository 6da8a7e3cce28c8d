"""The OpenAPI 3.1 document of ``/api/v1`` (served at ``/api/v1/openapi.json``).

Written by hand beside the handlers; tests check that it validates and that real
answers match it (schemathesis fuzzes the server from it). Keep it in step with
:mod:`historian.api.queries`, :mod:`historian.api.streams` and :mod:`historian.api.write`.
"""

from __future__ import annotations

from typing import Any

from historian.api import connections, events
from historian.api.encode import ARROW_MEDIA_TYPE
from historian.api.health import ApiLimits
from historian.api.times import INTERVAL_EXPECTED, TIME_EXPECTED
from historian.query.summary import SUMMARY_TYPES

__all__ = ["document"]

_REF = "#/components/schemas/"
_NULLABLE_NUMBER = {"type": ["number", "null"]}
_TIMESTAMP = {"type": "string", "description": "ISO 8601 UTC with nine fraction digits and Z"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF + name}


def _param(
    name: str, desc: str, *, required: bool = False, schema: Any = None, where: str = "query"
) -> dict[str, Any]:
    return {
        "name": name,
        "in": where,
        "required": required,
        "description": desc,
        "schema": schema or {"type": "string"},
    }


_NAME = _param("name", "tag name (ISA-95 path, dots between segments)", required=True, where="path")
_START = _param("start", f"range start, inclusive (default *-1h): {TIME_EXPECTED}")
_END = _param("end", f"range end, exclusive (default *): {TIME_EXPECTED}")
_INTERVAL = _param("interval", INTERVAL_EXPECTED, required=True)


def _errors(*codes: int) -> dict[str, Any]:
    why = {
        400: "a parameter is missing or unreadable (the message says what was expected)",
        401: "a token is required or unknown",
        403: "the token's scope or tenant does not cover the tag",
        404: "unknown tag (close_matches lists the nearest names)",
        409: "the request conflicts with the server's state (the message says how)",
        406: "the Accept header names a format not served",
        413: "over a limit (limit says which)",
        415: "unsupported body media type",
        422: "the store refuses the batch",
        503: "the store is recovering or refuses writes",
        429: "the token is over its rate limit (rate_per_s, burst); retry after Retry-After s",
    }
    if 401 in codes:  # every operation that authenticates also counts the token's rate
        codes = (*codes, 429)
    out: dict[str, Any] = {
        str(c): {"description": why[c], "content": {"application/json": {"schema": _ref("Error")}}}
        for c in codes
    }
    if "429" in out:
        out["429"]["headers"] = {
            "Retry-After": {
                "description": "whole seconds until the token may send again",
                "schema": {"type": "integer", "minimum": 1},
            }
        }
    return out


_QUERY_ERRORS = (400, 401, 403, 404, 406, 413, 503)


def _values_op(summary: str, params: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "get": {
            "summary": summary,
            "parameters": [_NAME, *params],
            "responses": {
                "200": {
                    "description": "value items (JSON) or an Arrow IPC stream",
                    "content": {
                        "application/json": {"schema": _ref("ValuesResponse")},
                        ARROW_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
                    },
                },
                **_errors(*_QUERY_ERRORS),
            },
        }
    }


def _schemas() -> dict[str, Any]:
    value_item = {
        "type": "object",
        "required": ["timestamp", "value", "status", "good"],
        "additionalProperties": False,
        "properties": {
            "timestamp": _TIMESTAMP,
            "value": _NULLABLE_NUMBER,
            "status": {"type": "string", "description": "OPC UA StatusCode symbolic name"},
            "good": {"type": "boolean"},
        },
    }
    summary_item = {
        "type": "object",
        "required": ["type", "start", "end", "value", "status", "percent_good"],
        "additionalProperties": False,
        "properties": {
            "type": {"enum": list(SUMMARY_TYPES)},
            "start": _TIMESTAMP,
            "end": _TIMESTAMP,
            "value": {
                "type": ["number", "string", "null"],
                "description": "number; ISO time for min_time/max_time; seconds for durations",
            },
            "status": {"type": "string"},
            "percent_good": {"type": "number"},
        },
    }
    result_props = {
        "tag": {"type": "string"},
        "kind": {"type": "string"},
        "start": {**_TIMESTAMP, "description": "the resolved range start (range queries)"},
        "end": {**_TIMESTAMP, "description": "the resolved range end (range queries)"},
    }
    return {
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {
                        "code": {"type": "string"},
                        "message": {"type": "string"},
                        "close_matches": {"type": "array", "items": {"type": "string"}},
                        "limit": {"type": "integer"},
                        "reasons": {"type": "array", "items": {"type": "string"}},
                    },
                }
            },
        },
        "Tag": {
            "type": "object",
            "required": ["name", "unit", "stepped", "low", "high", "description", "legacy_name"],
            "properties": {
                "name": {"type": "string"},
                "unit": {"type": "string"},
                "stepped": {"type": "boolean"},
                "low": _NULLABLE_NUMBER,
                "high": _NULLABLE_NUMBER,
                "description": {"type": "string"},
                "legacy_name": {"type": "string"},
                "tenant": {"type": "string", "description": "owning tenant (absent: none)"},
            },
        },
        "TagList": {
            "type": "object",
            "required": ["items"],
            "properties": {"items": {"type": "array", "items": _ref("Tag")}},
        },
        "ValueItem": value_item,
        "SummaryItem": summary_item,
        "ValuesResponse": {
            "type": "object",
            "required": ["tag", "kind", "items"],
            "properties": {
                **result_props,
                "items": {"type": "array", "items": _ref("ValueItem")},
                "next_page_token": {"type": "string"},
            },
        },
        "SummaryResponse": {
            "type": "object",
            "required": ["tag", "kind", "items"],
            "properties": {
                **result_props,
                "items": {"type": "array", "items": _ref("SummaryItem")},
            },
        },
        "StreamsRequest": {
            "type": "object",
            "required": ["queries"],
            "properties": {
                "queries": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["tag", "kind"],
                        "properties": {
                            "tag": {"type": "string"},
                            "kind": {
                                "enum": [
                                    "recorded",
                                    "interpolated",
                                    "at",
                                    "plot",
                                    "summary",
                                    "last",
                                ]
                            },
                        },
                        "additionalProperties": True,
                    },
                }
            },
        },
        "StreamsResponse": {
            "type": "object",
            "required": ["results"],
            "properties": {
                "results": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["tag", "kind"],
                        "properties": {
                            **result_props,
                            "items": {"type": "array"},
                            "next_page_token": {"type": "string"},
                            "error": _ref("Error/properties/error"),
                        },
                    },
                }
            },
        },
        "WriteRequest": {
            "type": "object",
            "required": ["tag", "timestamp", "value"],
            "properties": {
                "tag": {
                    "oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]
                },
                "timestamp": {"type": "array", "items": {"type": ["string", "integer"]}},
                "value": {"type": "array", "items": _NULLABLE_NUMBER},
                "status": {"type": "array", "items": {"type": "string"}},
            },
        },
        "WriteResponse": {
            "type": "object",
            "required": ["written", "seq"],
            "properties": {"written": {"type": "integer"}, "seq": {"type": "integer"}},
        },
    }


def document(limits: ApiLimits) -> dict[str, Any]:
    """The whole OpenAPI document; ``limits`` are stated in the descriptions."""
    boundary = _param(
        "boundary",
        "inside (default), outside or interpolated",
        schema={"enum": ["inside", "outside", "interpolated"]},
    )
    max_count = _param(
        "max_count",
        f"values per page (1..{limits.max_values})",
        schema={"type": "integer", "minimum": 1},
    )
    token = _param("page_token", "next_page_token of the previous page")
    times = _param(
        "time",
        f"one or more times (repeat the parameter, at most {limits.max_times}): {TIME_EXPECTED}",
        required=True,
        schema={"type": "array", "items": {"type": "string"}},
    )
    times["explode"] = True
    intervals = _param(
        "intervals",
        f"pixel intervals (default 1000, at most {limits.max_plot_intervals})",
        schema={"type": "integer", "minimum": 1},
    )
    types = _param("types", "comma-separated summary types: " + ", ".join(SUMMARY_TYPES))
    weighting = _param("weighting", "time (default) or event", schema={"enum": ["time", "event"]})
    summary_interval = _param("interval", f"{INTERVAL_EXPECTED} (default: the whole range)")
    summary = _values_op(
        "Summaries per interval", [_START, _END, summary_interval, types, weighting]
    )
    summary["get"]["responses"]["200"]["content"]["application/json"]["schema"] = _ref(
        "SummaryResponse"
    )
    json_body = {"application/json": {"schema": _ref("StreamsRequest")}}
    connection_paths, connection_schemas = connections.openapi_parts(_errors)
    event_paths, event_schemas = events.openapi_parts(_errors, limits.max_values)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "twinbench historian API",
            "version": "1",
            "description": "Query and write the historian; see docs/api.md. Limits: "
            f"{limits.max_values:,} values per answer, {limits.max_intervals:,} intervals, "
            f"{limits.max_plot_intervals:,} plot intervals, {limits.max_body_bytes:,} body bytes.",
        },
        "components": {
            "schemas": {**_schemas(), **connection_schemas, **event_schemas},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{}, {"bearer": []}],
        "paths": {
            "/api/v1/tags": {
                "get": {
                    "summary": "Tags whose name matches a glob",
                    "parameters": [_param("pattern", "shell glob over tag names (default *)")],
                    "responses": {
                        "200": {
                            "description": "tags",
                            "content": {"application/json": {"schema": _ref("TagList")}},
                        },
                        **_errors(401, 503),
                    },
                }
            },
            "/api/v1/tags/{name}": {
                "get": {
                    "summary": "One tag's metadata",
                    "parameters": [_NAME],
                    "responses": {
                        "200": {
                            "description": "the tag",
                            "content": {"application/json": {"schema": _ref("Tag")}},
                        },
                        **_errors(401, 403, 404, 503),
                    },
                }
            },
            "/api/v1/tags/{name}/recorded": _values_op(
                "Recorded values", [_START, _END, boundary, max_count, token]
            ),
            "/api/v1/tags/{name}/interpolated": _values_op(
                "Interpolated values", [_START, _END, _INTERVAL]
            ),
            "/api/v1/tags/{name}/at": _values_op("Values at given times", [times]),
            "/api/v1/tags/{name}/plot": _values_op(
                "Plot values per pixel interval", [_START, _END, intervals]
            ),
            "/api/v1/tags/{name}/summary": summary,
            "/api/v1/tags/{name}/last": _values_op("The newest value", []),
            "/api/v1/streams/query": {
                "post": {
                    "summary": "Several tags and query kinds in one request",
                    "requestBody": {"required": True, "content": json_body},
                    "responses": {
                        "200": {
                            "description": "results in request order",
                            "content": {
                                "application/json": {"schema": _ref("StreamsResponse")},
                                ARROW_MEDIA_TYPE: {
                                    "schema": {"type": "string", "format": "binary"}
                                },
                            },
                        },
                        **_errors(400, 401, 403, 406, 413, 503),
                    },
                }
            },
            "/api/v1/write": {
                "post": {
                    "summary": "Write a columnar batch (JSON or Arrow)",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": _ref("WriteRequest")},
                            ARROW_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "stored",
                            "content": {"application/json": {"schema": _ref("WriteResponse")}},
                        },
                        **_errors(400, 401, 403, 404, 413, 415, 422, 503),
                    },
                }
            },
            **connection_paths,
            **event_paths,
        },
    }
