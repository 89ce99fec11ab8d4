"""The one place that maps domain errors to HTTP status codes."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from plugin.core.documents import shorten
from plugin.core.errors import (
    AudienceError,
    Conflict,
    DatabaseUnavailable,
    Forbidden,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    ShuttingDown,
    Unauthorized,
)
from plugin.core.json_format import dumps
from plugin.http.jsonio import json_response

__all__ = ["error_middleware", "status_of"]

log = logging.getLogger(__name__)

_STATUS: dict[type[AudienceError], int] = {
    AudienceError: 500,
    InvalidRequest: 400,
    PayloadTooLarge: 413,
    Unauthorized: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    DatabaseUnavailable: 503,
    ShuttingDown: 503,
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def status_of(exc: AudienceError) -> int:
    """The HTTP status an error is answered with (the web tab's pages use it too)."""
    return next(_STATUS[cls] for cls in type(exc).__mro__ if cls in _STATUS)

# No error answer is larger than this: the errors that list problems bound
# themselves (plugin.core.documents.first_problems); this is the last guard.
MAX_ERROR_BYTES = 64 * 1024
_MAX_MESSAGE_CHARS = 4000


def _bounded(body: dict[str, object]) -> dict[str, object]:
    """``body``, or when it is over :data:`MAX_ERROR_BYTES`, its code and the start
    of its message with the details left out."""
    if len(dumps(body)) <= MAX_ERROR_BYTES:
        return body
    return {"error": body["error"], "message": shorten(str(body["message"]), _MAX_MESSAGE_CHARS),
            "details": {"truncated": "the details were too large to show"}}


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except AudienceError as exc:
        status = next(_STATUS[cls] for cls in type(exc).__mro__ if cls in _STATUS)
        if status >= 500:
            log.warning("%s %s: %s", request.method, request.path, exc.message)
        response = json_response(_bounded(exc.to_dict()), status=status)
        if status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="audience"'
        return response
    except web.HTTPException as exc:
        if exc.empty_body:
            raise
        # aiohttp's own 404/405/413: same JSON shape as every other error.
        body = {"error": exc.reason.lower().replace(" ", "_"), "message": exc.reason}
        response = json_response(body, status=exc.status)
        for header in ("Allow",):
            if header in exc.headers:
                response.headers[header] = exc.headers[header]
        return response
