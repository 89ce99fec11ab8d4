"""Segments: dynamic (a saved filter) and static (users added by hand), their
members, and their favourites."""

from __future__ import annotations

from aiohttp import web

from plugin.access.keys import Role
from plugin.audience import query as audience
from plugin.audience import segments
from plugin.http.appkeys import DATABASE, SETTINGS
from plugin.http.endpoint import endpoint
from plugin.http.jsonio import json_response, read_body
from plugin.http.params import BOT_ID, SEGMENT_ID

routes = web.RouteTableDef()

_ONE = (BOT_ID, SEGMENT_ID)


def _ids(request: web.Request) -> tuple[str, str]:
    return request.match_info["bot_id"], request.match_info["segment_id"]


@routes.post("/v1/bots/{bot_id}/segments")
@endpoint("Create a dynamic segment (a saved filter) or a static one (users added to it)",
          role=Role.EDITOR, request="segment.create",
          responses={201: "segment", 400: "error", 409: "error"}, params=(BOT_ID,),
          tag="segments", known_bot=True)
async def create_segment(request: web.Request) -> web.Response:
    body = await read_body(request, "segment.create")
    segment = await segments.create_segment(request.app[DATABASE], request.match_info["bot_id"],
                                            body)
    return json_response(segment, status=201)


@routes.get("/v1/bots/{bot_id}/segments")
@endpoint("The bot's segments, favourites first, then by name, each with its count",
          role=Role.VIEWER, responses={200: "segment.list"}, params=(BOT_ID,), tag="segments",
          known_bot=True)
async def list_segments(request: web.Request) -> web.Response:
    found = await segments.list_segments(request.app[DATABASE], request.match_info["bot_id"])
    return json_response({"segments": found})


@routes.get("/v1/bots/{bot_id}/segments/{segment_id}")
@endpoint("A segment with its current count", role=Role.VIEWER,
          responses={200: "segment", 404: "error"}, params=_ONE, tag="segments", known_bot=True)
async def get_segment(request: web.Request) -> web.Response:
    return json_response(await segments.get_segment(request.app[DATABASE], *_ids(request)))


@routes.patch("/v1/bots/{bot_id}/segments/{segment_id}")
@endpoint("Rename a segment, mark it favourite, or change a dynamic segment's filter",
          role=Role.EDITOR, request="segment.update",
          responses={200: "segment", 400: "error", 404: "error", 409: "error"}, params=_ONE,
          tag="segments", known_bot=True)
async def update_segment(request: web.Request) -> web.Response:
    body = await read_body(request, "segment.update")
    return json_response(await segments.update_segment(request.app[DATABASE], *_ids(request), body))


@routes.delete("/v1/bots/{bot_id}/segments/{segment_id}")
@endpoint("Delete a segment (a static one's membership is removed from the profiles)",
          role=Role.EDITOR, responses={204: None, 404: "error", 409: "error"}, params=_ONE,
          tag="segments", known_bot=True)
async def delete_segment(request: web.Request) -> web.Response:
    await segments.delete_segment(request.app[DATABASE], *_ids(request))
    return web.Response(status=204)


@routes.post("/v1/bots/{bot_id}/segments/{segment_id}/members")
@endpoint("Add users to a static segment; unknown user ids are reported back",
          role=Role.EDITOR, request="segment.members",
          responses={200: "segment.members.result", 400: "error", 404: "error", 409: "error"},
          params=_ONE, tag="segments", known_bot=True)
async def add_members(request: web.Request) -> web.Response:
    body = await read_body(request, "segment.members")
    result = await segments.add_members(request.app[DATABASE], *_ids(request), body["user_ids"])
    return json_response(result)


@routes.delete("/v1/bots/{bot_id}/segments/{segment_id}/members")
@endpoint("Remove users from a static segment; unknown user ids are reported back",
          role=Role.EDITOR, request="segment.members",
          responses={200: "segment.members.result", 400: "error", 404: "error", 409: "error"},
          params=_ONE, tag="segments", known_bot=True)
async def remove_members(request: web.Request) -> web.Response:
    body = await read_body(request, "segment.members")
    result = await segments.remove_members(request.app[DATABASE], *_ids(request), body["user_ids"])
    return json_response(result)


@routes.post("/v1/bots/{bot_id}/segments/{segment_id}/query")
@endpoint("The segment's members now, one page at a time, with the total", role=Role.VIEWER,
          request="segment.query", responses={200: "audience.page", 400: "error", 404: "error"},
          params=_ONE, tag="segments", known_bot=True)
async def query_members(request: web.Request) -> web.Response:
    body = await read_body(request, "segment.query")
    page = await segments.query_members(
        request.app[DATABASE], *_ids(request), sort=body.get("sort", audience.DEFAULT_SORT),
        limit=body.get("limit", 50), cursor=body.get("cursor"),
        cursor_key=request.app[SETTINGS].cursor_key())
    return json_response({"total": page.total, "users": page.users, "next": page.next})
