"""Bearer-key authentication and per-bot authorisation for every route."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from plugin.access.keys import Principal, authenticate
from plugin.http.appkeys import DATABASE, PRINCIPAL, SETTINGS
from plugin.http.endpoint import endpoint_of

__all__ = ["auth_middleware", "principal"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    meta = endpoint_of(request.match_info.handler)
    if meta is None or meta.role is None:
        return await handler(request)
    app = request.config_dict
    found = await authenticate(
        app[DATABASE], request.headers.get("Authorization"), app[SETTINGS].admin_key
    )
    if "bot_id" in request.match_info:
        found.authorize(request.match_info["bot_id"], meta.role)
    else:
        # A resource named by its own id (a job): the handler authorises the
        # key against the resource's bot once it has loaded it.
        found.authorize_role(meta.role)
    request[PRINCIPAL] = found
    return await handler(request)


def principal(request: web.Request) -> Principal:
    found: Principal = request[PRINCIPAL]
    return found
