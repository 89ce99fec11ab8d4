"""Bearer-key authentication and per-bot authorisation for every route.

In order: the key (401), the ``{bot_id}`` of the path against the one bot-id
rule of :mod:`plugin.core.bot_ids` (400), the key's bots and role (404, 403),
and for routes that read a bot's data, that the bot is known (404,
:mod:`plugin.audience.bots`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from plugin.access.keys import Principal, authenticate
from plugin.audience.bots import require_known_bot
from plugin.core.bot_ids import check_bot_id
from plugin.core.errors import Unauthorized
from plugin.http.appkeys import DATABASE, PRINCIPAL, SETTINGS
from plugin.http.endpoint import endpoint_of

__all__ = ["auth_middleware", "authorize_bot", "principal"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    meta = endpoint_of(request.match_info.handler)
    if meta is None or meta.role is None:
        if "bot_id" in request.match_info:  # an open route still takes only bot ids
            check_bot_id(request.match_info["bot_id"])
        return await handler(request)
    app = request.config_dict
    found = await authenticate(
        app[DATABASE], _authorization(request), app[SETTINGS].admin_key
    )
    if "bot_id" in request.match_info:
        bot_id = check_bot_id(request.match_info["bot_id"])
        found.authorize(bot_id, meta.role)
        if meta.known_bot:
            await require_known_bot(app[DATABASE], bot_id)
    else:
        # A resource named by its own id (a job): the handler authorises the
        # key against the resource's bot once it has loaded it.
        found.authorize_role(meta.role)
    request[PRINCIPAL] = found
    return await handler(request)


def _authorization(request: web.Request) -> str | None:
    """The Authorization header, if it can hold a key at all: keys are
    printable ASCII. aiohttp hands bytes that are not UTF-8 over as lone
    surrogates, which no hash or comparison takes."""
    header = request.headers.get("Authorization")
    if header is not None and not (header.isascii() and header.isprintable()):
        raise Unauthorized("the Authorization header must be 'Bearer <key>', "
                           "the key in printable ASCII characters")
    return header


def principal(request: web.Request) -> Principal:
    found: Principal = request[PRINCIPAL]
    return found


def authorize_bot(request: web.Request, bot_id: str) -> None:
    """For a route naming a resource by its own id (a job, an import), once the
    handler has loaded it: the key may act on the resource's bot with the role
    the route's record asks for (a bot it does not cover is a 404)."""
    meta = endpoint_of(request.match_info.handler)
    assert meta is not None and meta.role is not None, "a route with a role"
    principal(request).authorize(bot_id, meta.role)
