"""One user's profile and timeline."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime

from aiohttp import web
from bson import ObjectId
from bson.errors import InvalidId

from plugin.access.keys import Role
from plugin.audience.profile_store import ProfileStore
from plugin.audience.query import public_profile
from plugin.capture.store import CaptureStore, TimelineCursor
from plugin.core.constants import TIMELINE_DEFAULT_LIMIT, TIMELINE_MAX_LIMIT
from plugin.core.errors import InvalidRequest, NotFound
from plugin.core.events import to_utc
from plugin.http.appkeys import DATABASE
from plugin.http.endpoint import Param, endpoint
from plugin.http.jsonio import json_response
from plugin.http.params import BOT_ID, USER_ID, int_param

routes = web.RouteTableDef()




@routes.get("/v1/bots/{bot_id}/users/{user_id}")
@endpoint("A user's profile", role=Role.VIEWER,
          responses={200: "profile", 404: "error"}, params=(BOT_ID, USER_ID), tag="profiles")
async def get_profile(request: web.Request) -> web.Response:
    bot_id, user_id = request.match_info["bot_id"], request.match_info["user_id"]
    profile = await ProfileStore.of(request.app[DATABASE]).get_profile(bot_id, user_id)
    if profile is None:
        raise NotFound(f"user {user_id!r} not found in bot {bot_id!r}")
    return json_response(public_profile(profile))


@routes.get("/v1/bots/{bot_id}/users/{user_id}/timeline")
@endpoint(
    "A user's events, newest first",
    role=Role.VIEWER,
    responses={200: "timeline", 400: "error", 404: "error"},
    params=(
        BOT_ID,
        USER_ID,
        Param("limit", "query", {"type": "integer", "minimum": 1,
                                 "maximum": TIMELINE_MAX_LIMIT,
                                 "default": TIMELINE_DEFAULT_LIMIT}),
        Param("before", "query", {"type": "string"},
              "The `next` cursor of the previous page, or an ISO 8601 time."),
    ),
    tag="profiles",
)
async def get_timeline(request: web.Request) -> web.Response:
    bot_id, user_id = request.match_info["bot_id"], request.match_info["user_id"]
    limit = int_param(request, "limit", default=TIMELINE_DEFAULT_LIMIT, low=1,
                      high=TIMELINE_MAX_LIMIT)
    before = _parse_before(request.query.get("before"))
    db = request.app[DATABASE]
    if await ProfileStore.of(db).get_profile(bot_id, user_id) is None:
        raise NotFound(f"user {user_id!r} not found in bot {bot_id!r}")
    docs, next_cursor = await CaptureStore.of(db).timeline(bot_id, user_id, limit=limit,
                                                           before=before)
    return json_response({
        "events": [
            {"id": d["eid"], "type": d["type"], "ts": d["ts"], "channel": d.get("channel"),
             "data": d["data"]}
            for d in docs
        ],
        "next": _encode_cursor(next_cursor) if next_cursor else None,
    })


def _encode_cursor(cursor: TimelineCursor) -> str:
    millis = int(cursor.ts.timestamp() * 1000)
    raw = f"{millis}:{cursor.seq}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _parse_before(value: str | None) -> TimelineCursor | None:
    if not value:
        return None
    # Out-of-range times (year 0, 10**20 ms) are OverflowError or OSError, not ValueError.
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return TimelineCursor(to_utc(moment))
    except (ValueError, OverflowError):
        pass
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
        millis, oid = raw.split(":")
        return TimelineCursor(datetime.fromtimestamp(int(millis) / 1000, UTC),
                              ObjectId(oid))
    except (binascii.Error, UnicodeDecodeError, ValueError, OverflowError, OSError, InvalidId):
        raise InvalidRequest(
            "query parameter 'before' must be a cursor from 'next' or an ISO 8601 time",
            parameter="before",
        ) from None
