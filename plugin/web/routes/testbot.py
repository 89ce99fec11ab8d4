"""The test-bot page: chat with the deployed bot as a test user on a channel
(Web, Messenger, WhatsApp) with the user's captured timeline live beside the
chat, keep the conversation as a scenario file, run the bot's scenario suite.

The bot runs elsewhere: the page talks to the :class:`BotTester` an
extension puts into the app (``plugin.handover.testers``); without one it
says so. Everything the page shows comes from the services (profile,
timeline), so a reload with the test user in the URL shows the same chat.
A test user is made at its first message; "New test user" only picks a new
id. Sending needs an editor (as the dummy channel's API does); anyone may
look, and download a conversation.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from plugin.access.keys import Role
from plugin.audience.bot_list import bot_name
from plugin.audience.profile_store import ProfileStore
from plugin.capture.store import CaptureStore, TimelineCursor
from plugin.core.constants import TIMELINE_MAX_LIMIT
from plugin.core.errors import Conflict, InvalidRequest, NotFound
from plugin.core.events import to_utc
from plugin.db.database import Database
from plugin.handover.testers import TEST_CHANNELS, BotTester, SuiteFile
from plugin.http.appkeys import BOT_TESTER, DATABASE
from plugin.schemas import check
from plugin.web.guard import can_edit, page, render
from plugin.web.suite_runs import SUITE_RUNS
from plugin.web.transcript import encode_cursor, shown_event

__all__ = ["routes", "MAX_SAVED_EVENTS"]

routes = web.RouteTableDef()

PAGE_EVENTS = 50
MAX_SAVED_EVENTS = 5000  # a conversation longer than this is not one to replay
_CHANNELS = dict(TEST_CHANNELS)
_DEFAULT_CHANNEL = "web"


def _tester(request: web.Request) -> BotTester:
    tester = request.app.get(BOT_TESTER)
    if tester is None:
        raise Conflict("this server has no test channel: start it with the simulator and the "
                       "dummy channel installed (audience serve --bot FILE)")
    return tester


def _channel(raw: str | None) -> str:
    if raw is None or raw == "":
        return _DEFAULT_CHANNEL
    if raw not in _CHANNELS:
        raise InvalidRequest(f"channel {raw!r} is not one of {', '.join(_CHANNELS)}",
                             field="channel")
    return raw


def _page_url(bot_id: str, channel: str, user_id: str) -> str:
    return f"/bots/{bot_id}/test?{urlencode({'channel': channel, 'user': user_id})}"


async def _timeline(db: Database, bot_id: str, user_id: str, limit: int) -> list[dict[str, Any]]:
    """The user's events, newest first, at most ``limit`` (read a page at a time)."""
    store, before = CaptureStore.of(db), None
    found: list[dict[str, Any]] = []
    while len(found) < limit:
        docs, before = await store.timeline(bot_id, user_id, before=before,
                                            limit=min(TIMELINE_MAX_LIMIT, limit - len(found)))
        found += docs
        if before is None:
            break
    return found


def _test_profile(profile: dict[str, Any] | None, user_id: str) -> dict[str, Any] | None:
    """The profile, if it is a test user's (None: no user yet).

    Raises:
        Conflict: a real user's: the page talks only as its own test users.
    """
    if profile is not None and not profile.get("test"):
        raise Conflict(f"user {user_id!r} is not a test user: the test-bot page talks only "
                       "as test users it made (choose \"New test user\")")
    return profile


def _newest(events: list[dict[str, Any]]) -> str:
    """The live stream's starting position: the newest event shown."""
    if not events or events[0].get("seq") is None:
        return ""
    return encode_cursor(TimelineCursor(to_utc(events[0]["ts"]), events[0]["seq"]))


def _chat_items(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The conversation as the chat shows it (oldest first): what the user said
    or tapped, and the bot's messages."""
    items: list[dict[str, Any]] = []
    for doc in reversed(events):
        data = doc.get("data") or {}
        if doc.get("type") == "user_message":
            items.append({"side": "user", "text": data.get("text") or f"[{data.get('payload')}]"})
        elif doc.get("type") == "bot_message":
            items.append({"side": "agent" if data.get("agent") else "bot", "reply": data})
    return items


@routes.get("/bots/{bot}/test")
@page(role=Role.VIEWER)
async def test_page(request: web.Request) -> web.StreamResponse:
    db, bot_id = request.app[DATABASE], request.match_info["bot"]
    tester = request.app.get(BOT_TESTER)
    channel = _channel(request.query.get("channel"))
    user_id = request.query.get("user") or f"test-{uuid.uuid4().hex[:10]}"
    check("dummy.message", {"user_id": user_id, "channel": channel, "text": "-"},
          "the page address")
    profile = _test_profile(await ProfileStore.of(db).get_profile(bot_id, user_id), user_id)
    events: list[dict[str, Any]] = []
    conversation: list[dict[str, Any]] = []
    older = None
    if profile is not None:
        events, after = await CaptureStore.of(db).timeline(bot_id, user_id, limit=PAGE_EVENTS)
        older = encode_cursor(after) if after else None
        conversation = await _timeline(db, bot_id, user_id, TIMELINE_MAX_LIMIT)
        if profile.get("channel") in _CHANNELS:
            channel = str(profile["channel"])
    return render("testbot.html", request, {
        "bot": bot_id, "bot_name": await bot_name(db, bot_id),
        "deployed": tester is not None and tester.knows(bot_id), "has_tester": tester is not None,
        "channels": TEST_CHANNELS, "channel": channel, "user_id": user_id,
        "started": profile is not None, "chat": _chat_items(conversation),
        "events": [shown_event(d) for d in events], "older": older, "newest": _newest(events),
        "user": {"user_id": user_id}, "suite_files": tester.suite_files(bot_id) if tester else [],
        "editor": can_edit(request)})


@routes.post("/bots/{bot}/test/messages")
@page(role=Role.EDITOR)
async def send_message(request: web.Request) -> web.StreamResponse:
    """One input of the test user: the user's bubble and the bot's replies
    (appended to the chat); with the first, the timeline that goes live."""
    db, bot_id = request.app[DATABASE], request.match_info["bot"]
    tester = _tester(request)
    form = await request.post()
    message = {key: str(form[key]) for key in ("user_id", "text", "payload", "channel")
               if isinstance(form.get(key), str) and form[key] != ""}
    if "text" in message and "payload" in message:
        del message["text"]  # a tap: its title is shown, its payload sent
    check("dummy.message", message, "the message")
    user_id, channel = message["user_id"], _channel(message.get("channel"))
    if not tester.knows(bot_id):
        raise NotFound(f"bot {bot_id!r} is not deployed on the test channel")
    first = _test_profile(await ProfileStore.of(db).get_profile(bot_id, user_id),
                          user_id) is None
    if first:
        await tester.start(bot_id, user_id, channel)
    replies = await tester.send(bot_id, user_id, channel, text=message.get("text"),
                                payload=message.get("payload"))
    title = form.get("title") if "payload" in message else None
    said = str(title) if isinstance(title, str) and title else message.get("text")
    events = (await CaptureStore.of(db).timeline(bot_id, user_id, limit=PAGE_EVENTS))[0] \
        if first else []
    response = render("_testbot_turn.html", request, {
        "bot": bot_id, "user": {"user_id": user_id}, "user_id": user_id, "channel": channel,
        "said": said or f"[{message.get('payload')}]", "replies": replies, "first": first,
        "events": [shown_event(d) for d in events], "older": None, "started": True,
        "newest": _newest(events),
        "editor": True})
    response.headers["HX-Push-Url"] = _page_url(bot_id, channel, user_id)
    return response


@routes.get("/bots/{bot}/test/scenario")
@page(role=Role.VIEWER)
async def save_scenario(request: web.Request) -> web.StreamResponse:
    """The test user's conversation as a scenario file (a download)."""
    db, bot_id = request.app[DATABASE], request.match_info["bot"]
    tester = _tester(request)
    user_id = request.query.get("user") or ""
    check("dummy.message", {"user_id": user_id, "text": "-"}, "the page address")
    profile = await ProfileStore.of(db).get_profile(bot_id, user_id)
    if profile is None:
        raise NotFound(f"test user {user_id!r} has said nothing yet: send a message first")
    events = await _timeline(db, bot_id, user_id, MAX_SAVED_EVENTS + 1)
    if len(events) > MAX_SAVED_EVENTS:
        raise InvalidRequest(f"this conversation has more than {MAX_SAVED_EVENTS} events: "
                             "too long to keep as a scenario")
    channel = str(profile.get("channel") or _DEFAULT_CHANNEL)
    text = tester.scenario(bot_id, channel, _plain_events(reversed(events)))
    name = f"{bot_id}-{user_id}.scenario.yaml"
    return web.Response(text=text, content_type="application/yaml", charset="utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _plain_events(docs: Any) -> list[Mapping[str, Any]]:
    return [{"type": d.get("type"), "data": d.get("data") or {}, "ts": d.get("ts"),
             "user_id": d.get("user_id"), "channel": d.get("channel")} for d in docs]


@routes.post("/bots/{bot}/test/suite")
@page(role=Role.EDITOR)
async def run_suite(request: web.Request) -> web.StreamResponse:
    """Start the bot's suite (its configured files and an uploaded one) in the
    background; the answer shows its progress, which the page polls."""
    bot_id = request.match_info["bot"]
    tester = _tester(request)
    form = await request.post()
    upload = form.get("scenarios")
    uploaded = None
    if isinstance(upload, web.FileField) and upload.filename:
        try:
            text = upload.file.read().decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidRequest(f"{upload.filename}: a scenario file is UTF-8 YAML text",
                                 field="scenarios") from None
        uploaded = SuiteFile(upload.filename, text)
    run = request.app[SUITE_RUNS].start(bot_id, tester.suite(bot_id, uploaded))
    return render("_suite.html", request, {"bot": bot_id, "run": run})


@routes.get("/bots/{bot}/test/suite/{run}")
@page(role=Role.VIEWER)
async def suite_progress(request: web.Request) -> web.StreamResponse:
    bot_id = request.match_info["bot"]
    run = request.app[SUITE_RUNS].get(bot_id, request.match_info["run"])
    return render("_suite.html", request, {"bot": bot_id, "run": run})
