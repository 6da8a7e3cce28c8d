"""The API's one error shape and the status code of every failure.

Every error answer is JSON ``{"error": {"code": "...", "message": "..."}}`` (plus
fields that help: ``close_matches`` for an unknown tag, ``limit`` for a request
over a limit, ``reasons`` while the store is not ready). ``message`` is one line
that says what was wrong and what to do.

============  ======================  =================================================
status        code                    when
============  ======================  =================================================
400           ``bad_request``         a parameter is missing or unreadable (says what was
                                      expected: an ISO 8601 time, an interval, ...)
401           ``unauthorized``        tokens are configured and none (or an unknown one)
                                      was sent
403           ``forbidden``           the token's scope or tenant does not cover the tag
404           ``unknown_tag``         no such tag (``close_matches``), or no such route
406           ``not_acceptable``      the ``Accept`` header asks for a format not served
413           ``too_large``           the answer or the request body exceeds a limit
                                      (``limit``; see docs/api.md "Limits")
415           ``unsupported_media``   a write body that is neither JSON nor Arrow
422           ``invalid_batch``       a write batch the store refuses (validation)
429           ``rate_limited``        the token is over its rate (``Retry-After`` header,
                                      ``retry_after_s``)
503           ``unavailable``         the store is recovering or refuses writes
                                      (``reasons``)
============  ======================  =================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from historian.api.encode import dumps

__all__ = ["ApiError", "bad_request", "error_body", "error_fields", "error_response"]


class ApiError(Exception):
    """Raised anywhere in a handler; becomes the JSON error answer."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra


def bad_request(message: str) -> ApiError:
    return ApiError(400, "bad_request", message)


def error_body(code: str, message: str, extra: Mapping[str, Any] | None = None) -> bytes:
    return dumps({"error": {"code": code, "message": message, **(extra or {})}})


def error_fields(exc: ApiError) -> dict[str, object]:
    """``{"error": {...}}`` of an error, for embedding in a larger answer."""
    return {"error": {"code": exc.code, "message": exc.message, **exc.extra}}


def error_response(exc: ApiError, headers: Mapping[str, str] | None = None) -> Response:
    return Response(
        error_body(exc.code, exc.message, exc.extra),
        status_code=exc.status,
        media_type="application/json",
        headers=dict(headers or {}),
    )


async def api_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    headers = {"WWW-Authenticate": 'Bearer realm="twinbench"'} if exc.status == 401 else None
    if exc.status == 429:  # the token bucket says when the next request may go
        headers = {"Retry-After": str(exc.extra.get("retry_after_s", 1))}
    return error_response(exc, headers)


async def not_found_handler(request: Request, exc: Exception) -> Response:
    code = getattr(exc, "status_code", 404)
    if code == 405:
        return error_response(
            ApiError(405, "method_not_allowed", f"{request.method} is not allowed on this path")
        )
    return error_response(
        ApiError(404, "not_found", f"no such path {request.url.path!r}; see /api/v1/openapi.json")
    )


async def internal_error_handler(request: Request, exc: Exception) -> Response:
    # one line for the client; the traceback goes to the server's stderr (uvicorn logs it)
    return error_response(
        ApiError(500, "internal", f"internal error ({type(exc).__name__}); see the server log")
    )
