"""The API's parameters: the path parameters every route module shares, and
query-string values parsed with errors that name the parameter."""

from __future__ import annotations

from aiohttp import web

from plugin.core.bot_ids import BOT_ID_PATTERN, BOT_ID_RULE
from plugin.core.errors import InvalidRequest
from plugin.http.endpoint import Param

__all__ = ["BOT_ID", "USER_ID", "SEGMENT_ID", "JOB_ID", "IMPORT_ID", "WEBHOOK_ID",
           "DELIVERY_ID", "int_param"]

BOT_ID = Param("bot_id", "path", {"type": "string", "pattern": BOT_ID_PATTERN},
               BOT_ID_RULE[0].upper() + BOT_ID_RULE[1:] + ".", required=True)
USER_ID = Param("user_id", "path", {"type": "string"}, required=True)
SEGMENT_ID = Param("segment_id", "path", {"type": "string"}, required=True)
JOB_ID = Param("job_id", "path", {"type": "string"}, required=True)
IMPORT_ID = Param("import_id", "path", {"type": "string"}, required=True)
WEBHOOK_ID = Param("webhook_id", "path", {"type": "string"}, required=True)
DELIVERY_ID = Param("delivery_id", "path", {"type": "string"}, required=True)


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
