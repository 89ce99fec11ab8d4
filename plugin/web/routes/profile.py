"""A user's profile: details and activity, every custom property with its
type, and the conversation with the backend actions between the bubbles;
older events load as the page scrolls, new ones arrive live (server-sent
events, polled from the timeline, so an event written by any process shows).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from plugin.access.keys import Role
from plugin.audience import query as audience
from plugin.audience.bot_list import bot_name
from plugin.audience.profile_store import ProfileStore
from plugin.capture.store import CaptureStore
from plugin.core.errors import NotFound
from plugin.db.database import Database
from plugin.http.appkeys import DATABASE
from plugin.web.guard import SECURITY_HEADERS, page, render
from plugin.web.transcript import decode_cursor, encode_cursor, is_newer, shown_event

__all__ = ["routes", "LIVE_STOP", "stop_live_streams", "PAGE_EVENTS"]

routes = web.RouteTableDef()

PAGE_EVENTS = 50
LIVE_POLL_S = 0.4
LIVE_MAX_S = 600.0  # then the browser's EventSource reconnects by itself
# Set when the server shuts down: every live stream ends at once.
LIVE_STOP = web.AppKey("web_live_stop", asyncio.Event)
DETAILS = (("phone", "Phone"), ("email", "Email"), ("gender", "Gender"))
SYSTEM_DETAILS = (("source", "Source"), ("channel", "Channel"),
                  ("current_campaign", "Current campaign"))


async def stop_live_streams(app: web.Application) -> None:
    app[LIVE_STOP].set()


async def _profile(db: Database, bot_id: str, user_id: str) -> dict[str, Any]:
    profile = await ProfileStore.of(db).get_profile(bot_id, user_id)
    if profile is None:
        raise NotFound(f"user {user_id!r} not found in bot {bot_id!r}")
    return audience.public_profile(profile)


async def _events(db: Database, bot_id: str, user_id: str,
                  before: str | None) -> tuple[list[Any], str | None]:
    docs, after = await CaptureStore.of(db).timeline(
        bot_id, user_id, limit=PAGE_EVENTS, before=decode_cursor(before) if before else None)
    return [shown_event(d) for d in docs], encode_cursor(after) if after else None


def _ids(request: web.Request) -> tuple[Database, str, str]:
    return request.app[DATABASE], request.match_info["bot"], request.match_info["user"]


@routes.get("/bots/{bot}/users/{user}")
@page(role=Role.VIEWER)
async def profile_page(request: web.Request) -> web.StreamResponse:
    db, bot_id, user_id = _ids(request)
    profile = await _profile(db, bot_id, user_id)
    properties = await audience.catalog(db, bot_id)
    attributes = profile.get("attributes") or {}
    events, older = await _events(db, bot_id, user_id, None)
    custom = [(name, prop.type, attributes.get(name)) for name, prop in properties.items()
              if not prop.system and name in attributes]
    return render("profile.html", request, {
        "bot": bot_id, "bot_name": await bot_name(db, bot_id), "user": profile,
        "details": [(label, attributes.get(key)) for key, label in DETAILS]
                   + [(label, profile.get(key)) for key, label in SYSTEM_DETAILS],
        "custom": custom, "events": events, "older": older})


@routes.get("/bots/{bot}/users/{user}/events")
@page(role=Role.VIEWER)
async def older_events(request: web.Request) -> web.StreamResponse:
    db, bot_id, user_id = _ids(request)
    await _profile(db, bot_id, user_id)
    events, older = await _events(db, bot_id, user_id, request.query.get("before"))
    return render("_events.html", request, {"bot": bot_id, "user": {"user_id": user_id},
                                            "events": events, "older": older})


@routes.get("/bots/{bot}/users/{user}/live")
@page(role=Role.VIEWER)
async def live(request: web.Request) -> web.StreamResponse:
    """New events as they are written (after ``after``, a position in the
    timeline, when given), and who holds the conversation, as server-sent
    events (``events``: HTML of the new bubbles, newest first; ``holder``: bot
    or the agent)."""
    db, bot_id, user_id = _ids(request)
    profile = await _profile(db, bot_id, user_id)
    if request.query.get("after"):
        # From where the page was rendered (``after``: its newest event), so that
        # nothing written between the page and the stream is missed.
        rendered = decode_cursor(request.query["after"])
        seen: tuple[Any, Any] | None = (rendered.ts, rendered.seq)
    else:
        latest, _ = await CaptureStore.of(db).timeline(bot_id, user_id, limit=1)
        seen = (latest[0]["ts"], latest[0].get("seq")) if latest else None
    holder = profile.get("assigned_to", "bot")
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                           "Cache-Control": "no-store", **SECURITY_HEADERS})
    await response.prepare(request)
    stop = request.app[LIVE_STOP]
    environment = aiohttp_jinja2.get_env(request.app)
    loop = asyncio.get_running_loop()
    ends = loop.time() + LIVE_MAX_S
    with contextlib.suppress(ConnectionResetError):
        while not stop.is_set() and loop.time() < ends:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), LIVE_POLL_S)
            if request.transport is None or request.transport.is_closing():
                break
            docs, _ = await CaptureStore.of(db).timeline(bot_id, user_id, limit=PAGE_EVENTS)
            new = [d for d in docs if is_newer(d, seen)]
            if new:
                seen = (new[0]["ts"], new[0].get("seq"))
                html = environment.get_template("_bubbles.html").render(
                    events=[shown_event(d) for d in new])
                await response.write(_sse("events", html))
            now = (await _profile(db, bot_id, user_id)).get("assigned_to", "bot")
            if now != holder:
                holder = now
                await response.write(_sse("holder", holder))
    return response


def _sse(event: str, data: str) -> bytes:
    lines = "".join(f"data: {line}\n" for line in data.splitlines() or [""])
    return f"event: {event}\n{lines}\n".encode()
