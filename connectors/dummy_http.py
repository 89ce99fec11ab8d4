"""The dummy channel's HTTP face: deploy a bot, talk to it, listen on a
WebSocket. :mod:`connectors.dummy_extension` puts it into ``audience serve``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import WSMsgType, web

from plugin.access.keys import Role
from plugin.audience.bot_store import BotStore
from plugin.audience.property_store import PropertyStore
from plugin.core.errors import InvalidRequest, PayloadTooLarge
from plugin.core.properties import InvalidValue, check_property_name
from plugin.core.storable import check_storable, storable_form
from plugin.db.database import Database
from plugin.http.appkeys import DATABASE
from plugin.http.endpoint import Param, endpoint
from plugin.http.jsonio import json_response, read_body
from plugin.http.params import BOT_ID
from runtime.engine import Runtime
from runtime.loader import parse_bot
from runtime.model import Bot

from .dummy import DummyChannel

__all__ = ["routes", "DUMMY", "deploy"]

DUMMY = web.AppKey("dummy_channel", DummyChannel)
MAX_BOT_BYTES = 512 * 1024

routes = web.RouteTableDef()


async def deploy(db: Database, runtime: Runtime, bot: Bot, *,
                 own_api_base: bool = False) -> None:
    """Run ``bot``, register its properties in its property schema and its name.

    With ``own_api_base``, the bot's ``api_base`` is its deployment's own and
    wins over the server's ``--api-base`` (a bot deployed through the API, such
    as each simulator run's, with its own stubs); without, ``--api-base`` wins
    (the bots given with ``--bot``, whose files may name a developer's host)."""
    for spec in bot.properties.values():
        await PropertyStore.of(db).define_property(bot.id, spec.definition)
    await BotStore.of(db).name_bot(bot.id, bot.name)
    runtime.deploy(bot, api_base=bot.api_base if own_api_base else None)


@routes.put("/v1/bots/{bot_id}/definition")
@endpoint("Deploy a bot (its YAML definition) on the dummy channel", role=Role.ADMIN,
          responses={200: "bot.deployed", 400: "error", 413: "error"}, params=(BOT_ID,),
          tag="dummy channel")
async def put_definition(request: web.Request) -> web.Response:
    bot_id = request.match_info["bot_id"]
    if request.content_length is not None and request.content_length > MAX_BOT_BYTES:
        raise PayloadTooLarge(f"a bot definition is at most {MAX_BOT_BYTES} bytes")
    try:
        text = (await request.read()).decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequest("the bot definition must be UTF-8 YAML text") from None
    bot = parse_bot(text, f"PUT /v1/bots/{bot_id}/definition")
    if bot.id != bot_id:
        raise InvalidRequest(f"the definition is for bot {bot.id!r}, not {bot_id!r}",
                             field="bot/id")
    channel = request.app[DUMMY]
    await deploy(request.app[DATABASE], channel.runtime, bot, own_api_base=True)
    await channel.share_definition(bot, text)
    return json_response({"bot_id": bot.id, "name": bot.name, "modules": list(bot.modules),
                          "properties": list(bot.properties)})


@routes.post("/v1/channels/dummy/{bot_id}/messages")
@endpoint(
    "Send a user's message (or button tap) to a bot on the dummy channel",
    role=Role.EDITOR, request="dummy.message",
    responses={200: "dummy.replies", 400: "error", 404: "error"},
    params=(BOT_ID, Param("wait", "query", {"type": "boolean", "default": False},
                          "Answer only once the turn's capture is written.")),
    tag="dummy channel",
)
async def post_message(request: web.Request) -> web.Response:
    body = await read_body(request, "dummy.message")
    _check_profile(body.get("profile") or {})
    channel = request.app[DUMMY]
    bot_id, user_id = request.match_info["bot_id"], body["user_id"]
    replies = await channel.receive(bot_id, user_id, text=body.get("text"),
                                    payload=body.get("payload"),
                                    channel=body.get("channel", "web"),
                                    profile=body.get("profile"))
    return await _replied(request, bot_id, user_id, replies)


@routes.post("/v1/channels/dummy/{bot_id}/start")
@endpoint(
    "Start a conversation mid-flow: store properties as if the user had given them, "
    "then run a module as if triggered (what a test scenario's `given` asks for)",
    role=Role.EDITOR, request="dummy.start",
    responses={200: "dummy.replies", 400: "error", 404: "error"},
    params=(BOT_ID, Param("wait", "query", {"type": "boolean", "default": False},
                          "Answer only once the start's capture is written.")),
    tag="dummy channel",
)
async def post_start(request: web.Request) -> web.Response:
    body = await read_body(request, "dummy.start")
    properties, profile = body.get("properties") or {}, body.get("profile") or {}
    _check_profile(properties, "properties")
    _check_profile(profile)
    channel = request.app[DUMMY]
    bot_id, user_id = request.match_info["bot_id"], body["user_id"]
    replies = await channel.start_module(bot_id, user_id, body.get("channel", "web"),
                                         body["module"], properties=properties,
                                         profile=profile or None, push=False)
    return await _replied(request, bot_id, user_id, replies)


async def _replied(request: web.Request, bot_id: str, user_id: str,
                   replies: list[dict[str, Any]]) -> web.Response:
    """The bot's replies and who holds the conversation now; with ``?wait=true``
    once the turn's capture is written."""
    channel = request.app[DUMMY]
    if request.query.get("wait") in ("1", "true") and channel.recorder is not None:
        await channel.recorder.flush()
    state = channel.runtime.conversation(bot_id, user_id)
    held = state is not None and state.human
    return json_response({"replies": replies, "assigned_to": "human" if held else "bot"})


def _check_profile(profile: Mapping[str, Any], field: str = "profile") -> None:
    """A first-contact profile becomes property sets: refuse, before the bot
    runs, a name that is not a property name or a value MongoDB cannot hold
    (which would otherwise sink the recorder's whole batch)."""
    for name in profile:
        try:
            check_property_name(name)
        except InvalidValue as exc:
            path = f"{field}/{storable_form(name)}"
            raise InvalidRequest(f"{path}: {exc.reason}",
                                 errors=[{"path": path, "message": exc.reason}]) from None
    check_storable(profile, field)


@routes.get("/v1/channels/dummy/{bot_id}/ws")
@endpoint("A WebSocket that receives messages sent to a user outside a request "
          "(agent replies, broadcasts)", role=Role.VIEWER,
          responses={101: None, 400: "error", 404: "error"},
          params=(BOT_ID, Param("user_id", "query", {"type": "string"}, required=True)),
          tag="dummy channel")
async def websocket(request: web.Request) -> web.WebSocketResponse:
    user_id = request.query.get("user_id")
    if not user_id:
        raise InvalidRequest("query parameter 'user_id' is required", parameter="user_id")
    bot_id = request.match_info["bot_id"]
    channel = request.app[DUMMY]
    await channel.require_bot(bot_id)
    socket = web.WebSocketResponse(heartbeat=30)
    await socket.prepare(request)
    channel.subscribe(bot_id, user_id, socket)
    try:
        async for message in socket:
            if message.type == WSMsgType.ERROR:
                break
    finally:
        channel.unsubscribe(bot_id, user_id, socket)
    return socket
