"""``/api/v1/connections``: add, list, remove and check the server's collector connections.

The handlers are thin: :class:`~historian.server.connections.ConnectionManager`
checks, starts, persists and supervises. Every operation needs the ``admin``
scope when tokens are configured (403 otherwise), and a server started with
``--nats`` (409 ``conflict`` without one; 503 ``unavailable`` while the store opens).
Errors: 400 ``bad_request`` (the body is not a connection: the message names the
field), 404 ``unknown_connection``, 409 ``conflict`` (a duplicate id, the
``--max-connections`` cap, no ``--catalogue``). See docs/api.md "Connections".

``DELETE`` answers 200 ``{"state": "deleted"}`` once the collector has exited and
its spool is empty, or 202 ``{"state": "draining", "spool_batches": N}`` when
spooled batches could not be published yet: a ``--drain-only`` process keeps
publishing them and the connection disappears from the list once they are out.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import Response

from historian.api.auth import Principal
from historian.api.encode import dumps
from historian.api.errors import ApiError, bad_request
from historian.api.health import ApiState
from historian.server.connection_spec import ConnectionConflict, SpecError, UnknownConnection

__all__ = ["ConnectionAdmin", "ConnectionRoutes"]

JSON = "application/json"
MAX_BODY_BYTES = 8 * 1024 * 1024  # a list of 100,000 tag names fits


class ConnectionAdmin(Protocol):
    """What the routes need of the manager (historian.server.connections.ConnectionManager)."""

    async def add(self, doc: Any) -> dict[str, Any]: ...
    async def remove(self, cid: str) -> tuple[bool, dict[str, Any]]: ...
    def all(self) -> list[dict[str, Any]]: ...
    def describe(self, cid: str) -> dict[str, Any]: ...
    def health(self, cid: str) -> dict[str, Any]: ...


class ConnectionRoutes:
    """The five handlers over ``state.connections`` (None: the server runs without --nats)."""

    def __init__(
        self,
        state: ApiState,
        principal: Callable[[Request], Principal],
        body: Callable[[Request], Awaitable[bytes]],
    ) -> None:
        self._state = state
        self._principal = principal
        self._body = body

    def _manager(self, request: Request, what: str) -> ConnectionAdmin:
        self._principal(request).require_admin(f"{what} (that needs the admin scope)")
        self._state.require_engine()  # 503 while the store opens: connections restore after
        manager = self._state.connections
        if manager is None:
            raise ApiError(
                409,
                "conflict",
                "connection management runs only in a server started with --nats (the "
                "collectors publish to the bus): restart it with --nats nats://HOST:PORT",
            )
        return manager

    def _id(self, request: Request) -> str:
        return str(request.path_params["id"])

    async def create(self, request: Request) -> Response:
        manager = self._manager(request, "add connections")
        ctype = request.headers.get("content-type", JSON).split(";")[0].strip().lower()
        if ctype != JSON:
            raise ApiError(415, "unsupported_media", f"the body is {JSON}, not {ctype}")
        raw = await self._body(request)
        if len(raw) > MAX_BODY_BYTES:
            raise ApiError(413, "too_large", f"body exceeds {MAX_BODY_BYTES:,} bytes",
                           limit=MAX_BODY_BYTES)  # fmt: skip
        try:
            doc = json.loads(raw)
        except (ValueError, RecursionError):
            raise bad_request("the body is not JSON: send a connection object") from None
        try:
            made = await manager.add(doc)
        except SpecError as exc:
            raise bad_request(str(exc)) from None
        except ConnectionConflict as exc:
            raise ApiError(409, "conflict", str(exc)) from None
        headers = {"Location": f"/api/v1/connections/{made['id']}"}
        return Response(dumps(made), status_code=201, media_type=JSON, headers=headers)

    async def list(self, request: Request) -> Response:
        manager = self._manager(request, "list connections")
        return Response(dumps({"items": manager.all()}), media_type=JSON)

    async def get(self, request: Request) -> Response:
        manager = self._manager(request, "read connections")
        return self._one(lambda: manager.describe(self._id(request)), request)

    async def health(self, request: Request) -> Response:
        manager = self._manager(request, "read connection health")
        return self._one(lambda: manager.health(self._id(request)), request)

    async def delete(self, request: Request) -> Response:
        manager = self._manager(request, "remove connections")
        try:
            gone, doc = await manager.remove(self._id(request))
        except UnknownConnection:
            raise self._unknown(request) from None
        return Response(dumps(doc), status_code=200 if gone else 202, media_type=JSON)

    def _one(self, read: Callable[[], dict[str, Any]], request: Request) -> Response:
        try:
            return Response(dumps(read()), media_type=JSON)
        except UnknownConnection:
            raise self._unknown(request) from None

    def _unknown(self, request: Request) -> ApiError:
        cid = self._id(request)
        return ApiError(
            404, "unknown_connection", f"no connection {cid!r}; GET /api/v1/connections lists them"
        )


def _schemas() -> dict[str, Any]:
    tag_names = {"type": "array", "items": {"type": "string"}, "minItems": 1}
    spec_props: dict[str, Any] = {
        "id": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
        "endpoint": {
            "type": "string",
            "description": "opc.tcp://HOST:PORT[/path] or modbus://HOST:PORT; loopback only "
            "unless the server runs --connections-allow-remote",
        },
        "protocol": {"enum": ["opcua", "modbus"], "description": "default: the scheme's"},
        "security": {"enum": ["none", "secure"], "description": "OPC UA only (default none)"},
        "username": {"type": "string"},
        "password_file": {"type": "string", "description": "a file on the server"},
        "pattern": {"type": "string", "description": "shell glob over the catalogue's tags"},
        "tags": {**tag_names, "description": "tag names (instead of pattern)"},
        "interval_s": {"type": "number", "minimum": 0.05, "maximum": 3600},
    }
    spec_state = {"enum": ["starting", "running", "failed", "stopped", "draining", "deleted"]}
    connection = {
        "type": "object",
        "required": ["id", "protocol", "endpoint", "security", "interval_s", "state"],
        "properties": {
            **spec_props,
            "state": spec_state,
            "pid": {"type": ["integer", "null"]},
            "spool_batches": {"type": "integer"},
            "identity": {
                "type": "object",
                "description": "the bus identity of the pool (--managed-identities) this "
                "collector runs as; only on a secured bus",
                "required": ["name", "source_id"],
                "properties": {"name": {"type": "string"}, "source_id": {"type": "string"}},
            },
        },
    }
    health = {
        "type": "object",
        "required": [
            "id",
            "state",
            "pid",
            "restarts",
            "last_data_time",
            "rate_points_per_s",
            "errors",
        ],
        "properties": {
            "id": {"type": "string"},
            "state": spec_state,
            "pid": {"type": ["integer", "null"]},
            "restarts": {"type": "integer"},
            "uptime_s": {"type": ["number", "null"]},
            "last_data_time": {"type": ["string", "null"], "description": "ISO 8601 UTC"},
            "rate_points_per_s": {"type": ["number", "null"]},
            "points_published": {"type": "integer"},
            "source_connected": {"type": "boolean"},
            "bus_connected": {"type": "boolean"},
            "spool_batches": {"type": "integer"},
            "counters": {"type": "object", "additionalProperties": {"type": "integer"}},
            "errors": {"type": "array", "items": {"type": "string"}},
        },
    }
    return {
        "ConnectionRequest": {
            "type": "object",
            "required": ["endpoint"],
            "additionalProperties": False,
            "properties": spec_props,
        },
        "Connection": connection,
        "ConnectionList": {
            "type": "object",
            "required": ["items"],
            "properties": {"items": {"type": "array", "items": {"$ref": _REF + "Connection"}}},
        },
        "ConnectionHealth": health,
    }


_REF = "#/components/schemas/"


def openapi_parts(errors: Callable[..., dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(paths, schemas) of the connection operations for :mod:`historian.api.openapi`;
    ``errors(*codes)`` is its error-response builder."""

    def answer(description: str, schema: str) -> dict[str, Any]:
        content = {JSON: {"schema": {"$ref": _REF + schema}}}
        return {"description": description, "content": content}

    def errs(*codes: int) -> dict[str, Any]:
        out = errors(401, 403, 409, 503, *codes)
        if "404" in out:
            out["404"] = {**out["404"], "description": "no connection has that id"}
        return out

    cid = {"name": "id", "in": "path", "required": True, "description": "connection id",
           "schema": {"type": "string"}}  # fmt: skip
    body = {"required": True, "content": {JSON: {"schema": {"$ref": _REF + "ConnectionRequest"}}}}
    paths = {
        "/api/v1/connections": {
            "get": {
                "summary": "The collector connections the server runs (admin)",
                "responses": {"200": answer("connections", "ConnectionList"), **errs()},
            },
            "post": {
                "summary": "Add a collector connection and start its process (admin)",
                "requestBody": body,
                "responses": {
                    "201": answer("added; its collector is starting", "Connection"),
                    **errs(400, 413, 415),
                },
            },
        },
        "/api/v1/connections/{id}": {
            "get": {
                "summary": "One connection (admin)",
                "parameters": [cid],
                "responses": {"200": answer("the connection", "Connection"), **errs(404)},
            },
            "delete": {
                "summary": "Stop and remove a connection, its spool drained first (admin)",
                "parameters": [cid],
                "responses": {
                    "200": answer("removed: the process exited, its spool is empty", "Connection"),
                    "202": answer(
                        "draining: spooled batches are still being published", "Connection"
                    ),
                    **errs(404),
                },
            },
        },
        "/api/v1/connections/{id}/health": {
            "get": {
                "summary": "State, pid, restarts, last data time, rate and errors (admin)",
                "parameters": [cid],
                "responses": {"200": answer("health", "ConnectionHealth"), **errs(404)},
            }
        },
    }
    return paths, _schemas()
