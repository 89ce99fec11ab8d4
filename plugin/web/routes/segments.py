"""Segments from the audience list: star one, save the filter as a dynamic
segment, add the selected users (or every user the view matches) to a static
one. Each is a form post that changes something: editors only, with the CSRF
token (see :mod:`plugin.web.guard`), and the request bodies are checked
against the same schemas as the API's."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from plugin import schemas
from plugin.access.keys import Role
from plugin.audience import query as audience
from plugin.audience import segments
from plugin.audience.profile_store import ProfileStore
from plugin.core.errors import InvalidRequest
from plugin.http.appkeys import DATABASE
from plugin.web.filter_form import FilterForm
from plugin.web.guard import is_htmx, page, redirect, render
from plugin.web.views import view_filter

routes = web.RouteTableDef()

NEW_SEGMENT = "__new__"


def _list_url(bot_id: str, segment_id: str | None = None) -> str:
    return f"/bots/{bot_id}/audience" + (f"?segment={segment_id}" if segment_id else "")


async def _form(request: web.Request) -> dict[str, str]:
    return {k: v for k, v in (await request.post()).items() if isinstance(v, str)}


@routes.post("/bots/{bot}/segments/{segment}/star")
@page(role=Role.EDITOR)
async def star(request: web.Request) -> web.StreamResponse:
    db, bot_id = request.app[DATABASE], request.match_info["bot"]
    favourite = (await _form(request)).get("favourite") == "true"
    await segments.update_segment(db, bot_id, request.match_info["segment"],
                                  {"favourite": favourite})
    if is_htmx(request):
        found = await segments.list_segments(db, bot_id)
        return render("_segments.html", request, {"bot": bot_id, "segments": found,
                                                  "current": None})
    return redirect(_list_url(bot_id))


@routes.post("/bots/{bot}/segments")
@page(role=Role.EDITOR)
async def save_as_segment(request: web.Request) -> web.StreamResponse:
    """"Save as segment": the view's filter (and segment) as a dynamic segment."""
    db, bot_id = request.app[DATABASE], request.match_info["bot"]
    form = await _form(request)
    properties = await audience.catalog(db, bot_id)
    filter_ = view_filter(FilterForm.from_query(form, properties).to_filter(properties),
                          form.get("segment") or None)
    body: dict[str, Any] = {"name": form.get("name", ""), "kind": "dynamic",
                            "filter": filter_ or {"conditions": []}}
    schemas.check("segment.create", body, "the segment")
    created = await segments.create_segment(db, bot_id, body)
    return redirect(_list_url(bot_id, created["id"]))


@routes.post("/bots/{bot}/segments/members")
@page(role=Role.EDITOR)
async def add_to_segment(request: web.Request) -> web.StreamResponse:
    """"Add to segment": the selected users, or with ``all_matching`` every user
    the view matches, to a static segment (a new one when named)."""
    db, bot_id = request.app[DATABASE], request.match_info["bot"]
    posted = await request.post()
    form = {k: v for k, v in posted.items() if isinstance(v, str)}
    if form.get("all_matching") == "1":
        properties = await audience.catalog(db, bot_id)
        filter_ = view_filter(FilterForm.from_query(form, properties).to_filter(properties),
                              form.get("segment") or None)
        query = await audience.compile_audience_filter(db, bot_id, filter_)
        user_ids = await ProfileStore.of(db).snapshot_user_ids(query)
    else:
        user_ids = [v for v in posted.getall("user", []) if isinstance(v, str)]
    if not user_ids:
        raise InvalidRequest("select at least one user to add", field="user")
    if len(user_ids) > segments.MAX_MEMBERS_PER_CALL:
        raise InvalidRequest(f"{len(user_ids):,} users match: at most "
                             f"{segments.MAX_MEMBERS_PER_CALL:,} can be added at once; save "
                             "the filter as a (dynamic) segment instead", field="user")
    target = form.get("target", "")
    if target == NEW_SEGMENT:
        body = {"name": form.get("new_name", ""), "kind": "static", "user_ids": user_ids}
        schemas.check("segment.create", body, "the segment")
        segment_id = (await segments.create_segment(db, bot_id, body))["id"]
    else:
        await segments.add_members(db, bot_id, target, user_ids)
        segment_id = target
    return redirect(_list_url(bot_id, segment_id))
