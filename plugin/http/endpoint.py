"""Route metadata shared by the handlers, the auth middleware and OpenAPI.

Every handler is declared with :func:`endpoint`, which records what the
OpenAPI document says about it (summary, request and response schemas,
parameters), the role it needs and whether the bot it names must already be
known. The auth middleware reads both from the same record, so a route cannot
be documented one way and guarded another.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web

from plugin.access.keys import Role

__all__ = ["Endpoint", "Param", "endpoint", "endpoint_of"]

Handler = TypeVar("Handler", bound=Callable[[web.Request], Awaitable[web.StreamResponse]])
_ATTR = "__audience_endpoint__"


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    where: str  # "path" or "query"
    schema: dict[str, Any]
    description: str = ""
    required: bool = False


@dataclass(frozen=True, slots=True)
class Endpoint:
    summary: str
    role: Role | None  # None: open to anyone (health, the API description)
    request: str | None = None
    responses: dict[int, str | None] = field(default_factory=dict)
    params: tuple[Param, ...] = ()
    tag: str = ""
    # The route reads a bot's data: a bot id nothing is known about answers 404
    # (plugin.audience.bots) rather than looking like an empty bot.
    known_bot: bool = False


def endpoint(
    summary: str,
    *,
    role: Role | None,
    request: str | None = None,
    responses: dict[int, str | None] | None = None,
    params: tuple[Param, ...] = (),
    tag: str = "",
    known_bot: bool = False,
) -> Callable[[Handler], Handler]:
    meta = Endpoint(summary, role, request, responses or {200: None}, params, tag, known_bot)

    def decorate(handler: Handler) -> Handler:
        setattr(handler, _ATTR, meta)
        return handler

    return decorate


def endpoint_of(handler: object) -> Endpoint | None:
    return getattr(handler, _ATTR, None)
