"""Bearer-key authentication and per-bot authorisation for every route."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from ..keys import ALL_BOTS, Principal, authenticate
from .appkeys import PRINCIPAL, SETTINGS, STORE
from .endpoint import endpoint_of

__all__ = ["auth_middleware", "principal"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    meta = endpoint_of(request.match_info.handler)
    if meta is None or meta.role is None:
        return await handler(request)
    app = request.config_dict
    found = await authenticate(
        app[STORE], request.headers.get("Authorization"), app[SETTINGS].admin_key
    )
    found.authorize(request.match_info.get("bot_id", ALL_BOTS), meta.role)
    request[PRINCIPAL] = found
    return await handler(request)


def principal(request: web.Request) -> Principal:
    found: Principal = request[PRINCIPAL]
    return found
