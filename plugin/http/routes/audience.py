"""The audience list: filtered queries, counts, search, and the property schema."""

from __future__ import annotations

from aiohttp import web

from plugin.access.keys import Role
from plugin.audience import query as audience
from plugin.http.appkeys import DATABASE, SETTINGS
from plugin.http.endpoint import Param, endpoint
from plugin.http.jsonio import json_response, read_body
from plugin.http.params import BOT_ID, int_param

routes = web.RouteTableDef()

SEARCH_DEFAULT_LIMIT = 20
SEARCH_MAX_LIMIT = 100


@routes.post("/v1/bots/{bot_id}/audience/query")
@endpoint("Users matching a filter, one page at a time, with the total", role=Role.VIEWER,
          request="audience.query", responses={200: "audience.page", 400: "error"},
          params=(BOT_ID,), tag="audience", known_bot=True)
async def query_audience(request: web.Request) -> web.Response:
    body = await read_body(request, "audience.query")
    page = await audience.query_audience(
        request.app[DATABASE], request.match_info["bot_id"], body.get("filter"),
        sort=body.get("sort", audience.DEFAULT_SORT), limit=body.get("limit", 50),
        cursor=body.get("cursor"), cursor_key=request.app[SETTINGS].cursor_key(),
    )
    return json_response({"total": page.total, "users": page.users, "next": page.next})


@routes.post("/v1/bots/{bot_id}/audience/count")
@endpoint("How many users match a filter", role=Role.VIEWER, request="audience.count",
          responses={200: "audience.total", 400: "error"}, params=(BOT_ID,), tag="audience",
          known_bot=True)
async def count_audience(request: web.Request) -> web.Response:
    body = await read_body(request, "audience.count")
    total = await audience.count_audience(request.app[DATABASE], request.match_info["bot_id"],
                                          body.get("filter"))
    return json_response({"total": total})


@routes.get("/v1/bots/{bot_id}/users")
@endpoint(
    "Find users by id, name, email or phone (prefix, any case)",
    role=Role.VIEWER,
    responses={200: "users.search", 400: "error"},
    params=(BOT_ID,
            Param("q", "query", {"type": "string", "minLength": 1, "maxLength": 200},
                  required=True),
            Param("limit", "query", {"type": "integer", "minimum": 1,
                                     "maximum": SEARCH_MAX_LIMIT,
                                     "default": SEARCH_DEFAULT_LIMIT})),
    tag="audience",
    known_bot=True,
)
async def search_users(request: web.Request) -> web.Response:
    limit = int_param(request, "limit", default=SEARCH_DEFAULT_LIMIT, low=1,
                      high=SEARCH_MAX_LIMIT)
    users = await audience.search_users(request.app[DATABASE], request.match_info["bot_id"],
                                        request.query.get("q", ""), limit)
    return json_response({"users": users})


@routes.get("/v1/bots/{bot_id}/properties")
@endpoint("The bot's properties, each with its type and the filter operators it takes",
          role=Role.VIEWER, responses={200: "properties.list"}, params=(BOT_ID,),
          tag="audience", known_bot=True)
async def list_properties(request: web.Request) -> web.Response:
    properties = await audience.catalog(request.app[DATABASE], request.match_info["bot_id"])
    return json_response({"properties": audience.describe_properties(properties)})


@routes.put("/v1/bots/{bot_id}/properties")
@endpoint("Define or change custom properties", role=Role.ADMIN,
          request="properties.define", responses={200: "properties.list", 400: "error"},
          params=(BOT_ID,), tag="audience")
async def define_properties(request: web.Request) -> web.Response:
    body = await read_body(request, "properties.define")
    db, bot_id = request.app[DATABASE], request.match_info["bot_id"]
    await audience.define_properties(db, bot_id, body["properties"])
    properties = await audience.catalog(db, bot_id)
    return json_response({"properties": audience.describe_properties(properties)})
