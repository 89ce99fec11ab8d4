"""The bots a key may see."""

from __future__ import annotations

from aiohttp import web

from plugin.access.keys import Role
from plugin.audience.bot_list import list_bots
from plugin.http.appkeys import DATABASE
from plugin.http.auth import principal
from plugin.http.endpoint import endpoint
from plugin.http.jsonio import json_response

routes = web.RouteTableDef()


@routes.get("/v1/bots")
@endpoint("The bots this key may see: id, name, users and last activity, the most recently "
          "active first", role=Role.VIEWER, responses={200: "bot.list"}, tag="bots")
async def get_bots(request: web.Request) -> web.Response:
    found = await list_bots(request.app[DATABASE], principal(request).bots)
    return json_response({"bots": [
        {"id": b.id, "name": b.name, "users": b.users, "last_activity": b.last_activity}
        for b in found]})
