"""The ASGI app: routes of ``/api/v1``, ``/health``, ``/metrics`` and the trend viewer.

:func:`create_app` builds a Starlette app over an :class:`~historian.api.health.ApiState`
(the server sets its engine once the store is open). Every query endpoint
answers JSON, or an Arrow IPC stream when the request's ``Accept`` names
``application/vnd.apache.arrow.stream``. Engine work and encoding run in a worker
thread (``anyio.to_thread``): the event loop also carries the ingest workers.

Routes (docs/api.md, and the OpenAPI document at ``/api/v1/openapi.json``):

- ``GET /api/v1/tags?pattern=GLOB``, ``GET /api/v1/tags/{name}``
- ``GET /api/v1/tags/{name}/recorded|interpolated|at|plot|summary|last``
- ``POST /api/v1/streams/query`` (several tags and kinds), ``POST /api/v1/write``
- ``GET|POST /api/v1/connections``, ``GET|DELETE /api/v1/connections/{id}``,
  ``GET /api/v1/connections/{id}/health`` (collector connections; admin scope)
- ``GET /api/v1/events`` (plant alarms and events by time range; historian.api.events)
- ``GET /health``, ``GET /metrics``, ``GET /viewer`` (+ its static files)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import Any

import anyio.to_thread
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from historian.api import openapi
from historian.api.auth import Principal
from historian.api.connections import ConnectionRoutes
from historian.api.encode import ARROW_MEDIA_TYPE, arrow_stream, dumps, json_object
from historian.api.errors import (
    ApiError,
    api_error_handler,
    internal_error_handler,
    not_found_handler,
)
from historian.api.events import EventRoutes
from historian.api.health import ApiState
from historian.api.metrics import PROMETHEUS_TEXT, ApiMetrics, MetricsMiddleware
from historian.api.params import Params
from historian.api.queries import KINDS, Result, result_arrow, result_fields, run_query
from historian.api.streams import streams_query
from historian.api.write import batch_from_arrow, batch_from_json, write_batch
from historian.catalogue import TagInfo
from historian.query.engine import UnknownTagError

__all__ = ["create_app", "find_vendor_dir"]

VIEWER_DIR = Path(__file__).parent / "viewer"
JSON = "application/json"


def find_vendor_dir() -> Path | None:
    """``node_modules/uplot/dist`` of the checkout (scripts/install-npm-deps.sh puts it there)."""
    for base in (*Path(__file__).resolve().parents, Path.cwd()):
        cand = base / "node_modules" / "uplot" / "dist"
        if cand.is_dir():
            return cand
    return None


def tag_json(t: TagInfo) -> dict[str, Any]:
    tenant = {"tenant": t.tenant} if t.tenant else {}  # only where tenants are in use
    return {
        "name": t.name,
        "unit": t.unit,
        "stepped": t.stepped,
        "low": t.low,
        "high": t.high,
        "description": t.description,
        "legacy_name": t.legacy_name,
        **tenant,
    }


def wants_arrow(request: Request) -> bool:
    """True for ``Accept: application/vnd.apache.arrow.stream``; 406 for what is not served."""
    accept = request.headers.get("accept", "").strip()
    if not accept:
        return False
    ranges = [part.split(";")[0].strip().lower() for part in accept.split(",")]
    if ARROW_MEDIA_TYPE in ranges:
        return True
    if any(r in (JSON, "application/*", "*/*") for r in ranges):
        return False
    raise ApiError(
        406, "not_acceptable", f"cannot answer Accept: {accept}; use {JSON} or {ARROW_MEDIA_TYPE}"
    )


class Api:
    """Route handlers bound to one :class:`ApiState`."""

    def __init__(self, state: ApiState, metrics: ApiMetrics) -> None:
        self.state = state
        self.metrics = metrics

    def principal(self, request: Request) -> Principal:
        """The request's token (401/429 here), bound to the catalogue for tenant checks."""
        principal = self.state.tokens.authenticate(request.headers.get("authorization"))
        engine = self.state.engine
        if engine is not None and principal.tenant is not None:
            principal = principal.bound(lambda name: engine.catalogue.by_name(name))
        request.state.principal = principal  # _api_error redacts 404 close matches with it
        return principal

    def params(self, request: Request) -> Params:
        q = request.query_params
        return Params(
            dict(q), self.state.limits, time.time_ns(), multi={k: q.getlist(k) for k in q}
        )

    async def tags(self, request: Request) -> Response:
        principal = self.principal(request)
        engine = self.state.require_engine()
        pattern = request.query_params.get("pattern", "*")
        items = [tag_json(t) for t in engine.tags(pattern) if principal.may_read(t.name)]
        return Response(dumps({"items": items}), media_type=JSON)

    async def tag(self, request: Request) -> Response:
        principal = self.principal(request)
        engine = self.state.require_engine()
        name = request.path_params["name"]
        principal.require([name])
        try:
            info = engine.tag(name)
        except UnknownTagError as exc:
            raise ApiError(404, "unknown_tag", str(exc), close_matches=exc.close_matches) from None
        return Response(dumps(tag_json(info)), media_type=JSON)

    async def query(self, kind: str, request: Request) -> Response:
        principal = self.principal(request)
        engine = self.state.require_engine()
        name = request.path_params["name"]
        principal.require([name])
        arrow = wants_arrow(request)
        router = self.state.router
        if router is not None and router.routes(kind, request, arrow):
            return await router.answer(kind, request)
        p = self.params(request)

        def work() -> Response:
            r: Result = run_query(engine, kind, name, p)
            if arrow:
                meta = {"tag": name, "kind": kind}
                if r.next_page_token:
                    meta["next_page_token"] = r.next_page_token
                headers = {"X-Next-Page-Token": r.next_page_token} if r.next_page_token else {}
                return Response(
                    arrow_stream(result_arrow(r), meta),
                    media_type=ARROW_MEDIA_TYPE,
                    headers=headers,
                )
            return Response(json_object(result_fields(r)), media_type=JSON)

        return await anyio.to_thread.run_sync(work)

    async def _body(self, request: Request) -> bytes:
        limit = self.state.limits.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise ApiError(
                413, "too_large", f"body exceeds the limit of {limit:,} bytes", limit=limit
            )
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise ApiError(
                    413, "too_large", f"body exceeds the limit of {limit:,} bytes", limit=limit
                )
        return bytes(body)

    async def streams(self, request: Request) -> Response:
        principal = self.principal(request)
        engine = self.state.require_engine()
        arrow = wants_arrow(request)
        body = await self._body(request)
        now = time.time_ns()
        return await anyio.to_thread.run_sync(
            partial(streams_query, engine, body, principal, self.state.limits, now, arrow)
        )

    async def write(self, request: Request) -> Response:
        principal = self.principal(request)
        principal.require_scope("write", "write")  # even an empty batch
        engine = self.state.require_writable()
        ctype = request.headers.get("content-type", JSON).split(";")[0].strip().lower()
        if ctype not in (JSON, ARROW_MEDIA_TYPE):
            raise ApiError(
                415,
                "unsupported_media",
                f"write bodies are {JSON} or {ARROW_MEDIA_TYPE}, not {ctype}",
            )
        body = await self._body(request)

        def work() -> dict[str, int]:
            names, cols = (
                batch_from_arrow(body) if ctype == ARROW_MEDIA_TYPE else batch_from_json(body)
            )
            return write_batch(
                engine, names, cols, lambda tags: principal.require(tags, write=True)
            )

        return Response(dumps(await anyio.to_thread.run_sync(work)), media_type=JSON)

    async def health(self, request: Request) -> Response:
        status, body = self.state.health()
        return Response(dumps(body), status_code=status, media_type=JSON)

    async def metrics_page(self, request: Request) -> Response:
        return Response(self.metrics.render(), media_type=PROMETHEUS_TEXT)

    async def openapi(self, request: Request) -> Response:
        return Response(dumps(openapi.document(self.state.limits)), media_type=JSON)


async def _api_error(request: Request, exc: Exception) -> Response:
    principal = getattr(request.state, "principal", None)
    if isinstance(principal, Principal) and isinstance(exc, ApiError):
        exc = principal.redact(exc)  # never name tags the token may not read
    return await api_error_handler(request, exc)


async def viewer_missing(request: Request) -> Response:
    raise ApiError(
        404, "not_found", "uPlot is not installed: run scripts/install-npm-deps.sh in the checkout"
    )


def create_app(
    state: ApiState,
    *,
    extra_registries: Callable[[], Iterable[CollectorRegistry]] | None = None,
    vendor_dir: Path | None = None,
) -> Any:
    """The ASGI app over ``state`` (see the module docstring)."""

    def stats() -> Any:
        return state.engine.db.stats() if state.engine is not None else None

    metrics = ApiMetrics(stats, extra_registries)
    api = Api(state, metrics)
    routes: list[BaseRoute] = [
        Route("/", lambda r: RedirectResponse("/viewer/"), methods=["GET"]),
        Route("/health", api.health, methods=["GET"]),
        Route("/metrics", api.metrics_page, methods=["GET"]),
        Route("/api/v1/openapi.json", api.openapi, methods=["GET"]),
        Route("/api/v1/tags", api.tags, methods=["GET"]),
        Route("/api/v1/tags/{name}", api.tag, methods=["GET"]),
    ]
    routes += [
        Route(f"/api/v1/tags/{{name}}/{kind}", partial(api.query, kind), methods=["GET"])
        for kind in KINDS
    ]
    conns = ConnectionRoutes(state, api.principal, api._body)
    routes += [
        Route("/api/v1/streams/query", api.streams, methods=["POST"]),
        Route("/api/v1/write", api.write, methods=["POST"]),
        Route("/api/v1/connections", conns.list, methods=["GET"]),
        Route("/api/v1/connections", conns.create, methods=["POST"]),
        Route("/api/v1/connections/{id}", conns.get, methods=["GET"]),
        Route("/api/v1/connections/{id}", conns.delete, methods=["DELETE"]),
        Route("/api/v1/connections/{id}/health", conns.health, methods=["GET"]),
        Route("/api/v1/events", EventRoutes(state, api.principal).list, methods=["GET"]),
        Route("/viewer", lambda r: RedirectResponse("/viewer/"), methods=["GET"]),
    ]
    vendor = vendor_dir or find_vendor_dir()
    if vendor is not None:
        routes.append(Mount("/viewer/vendor/uplot", StaticFiles(directory=vendor)))
    else:
        routes.append(Route("/viewer/vendor/uplot/{path:path}", viewer_missing))
    routes.append(Mount("/viewer", StaticFiles(directory=VIEWER_DIR, html=True)))
    app = Starlette(
        routes=routes,
        exception_handlers={
            ApiError: _api_error,
            HTTPException: not_found_handler,
            Exception: internal_error_handler,
        },
    )
    return MetricsMiddleware(app, metrics)
