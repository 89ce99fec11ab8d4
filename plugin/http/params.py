"""Query-string parameters, parsed with errors that name the parameter."""

from __future__ import annotations

from aiohttp import web

from plugin.core.errors import InvalidRequest

__all__ = ["int_param"]


def int_param(request: web.Request, name: str, *, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidRequest(f"query parameter {name!r} must be an integer, got {raw!r}",
                             parameter=name) from None
    if not low <= value <= high:
        raise InvalidRequest(f"query parameter {name!r} must be between {low} and {high}",
                             parameter=name)
    return value
