"""The one place that maps domain errors to HTTP status codes."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

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
from plugin.http.jsonio import json_response

__all__ = ["error_middleware"]

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


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except AudienceError as exc:
        status = next(_STATUS[cls] for cls in type(exc).__mro__ if cls in _STATUS)
        if status >= 500:
            log.warning("%s %s: %s", request.method, request.path, exc.message)
        response = json_response(exc.to_dict(), status=status)
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
