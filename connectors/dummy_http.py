"""The dummy channel's HTTP face, and the extension that puts it into
``audience serve``: deploy a bot, talk to it, listen on a WebSocket."""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from plugin.access.keys import Role
from plugin.audience.property_store import PropertyStore
from plugin.capture.recorder import Recorder
from plugin.core.errors import InvalidRequest, PayloadTooLarge
from plugin.db.database import Database
from plugin.extensions import Extension
from plugin.http.appkeys import CONNECTORS, DATABASE
from plugin.http.endpoint import Param, endpoint
from plugin.http.jsonio import json_response, read_body
from runtime.engine import Runtime
from runtime.loader import load_bot, parse_bot
from runtime.model import Bot

from .demo import DEMO_API_PREFIX, demo_api_routes, drive_demo_users
from .dummy import SOURCE, DummyChannel

__all__ = ["DummyExtension", "routes", "DUMMY", "deploy"]

DUMMY = web.AppKey("dummy_channel", DummyChannel)
BOT_ID = Param("bot_id", "path", {"type": "string"}, required=True)
MAX_BOT_BYTES = 512 * 1024
EXAMPLE_BOT = Path(__file__).resolve().parent.parent / "scenarios" / "bots" / "leads.yaml"

routes = web.RouteTableDef()


async def deploy(db: Database, runtime: Runtime, bot: Bot) -> None:
    """Run ``bot`` and register its properties in its property schema."""
    for spec in bot.properties.values():
        await PropertyStore.of(db).define_property(bot.id, spec.definition)
    runtime.deploy(bot)


@routes.put("/v1/bots/{bot_id}/definition")
@endpoint("Deploy a bot (its YAML definition) on the dummy channel", role=Role.EDITOR,
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
    await deploy(request.app[DATABASE], channel.runtime, bot)
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
    channel = request.app[DUMMY]
    bot_id, user_id = request.match_info["bot_id"], body["user_id"]
    replies = await channel.receive(bot_id, user_id, text=body.get("text"),
                                    payload=body.get("payload"),
                                    channel=body.get("channel", "web"),
                                    profile=body.get("profile"))
    if request.query.get("wait") in ("1", "true") and channel.recorder is not None:
        await channel.recorder.flush()
    state = channel.runtime.conversation(bot_id, user_id)
    held = state is not None and state.human
    return json_response({"replies": replies, "assigned_to": "human" if held else "bot"})


@routes.get("/v1/channels/dummy/{bot_id}/ws")
@endpoint("A WebSocket that receives messages sent to a user outside a request "
          "(agent replies, broadcasts)", role=Role.VIEWER, responses={101: None},
          params=(BOT_ID, Param("user_id", "query", {"type": "string"}, required=True)),
          tag="dummy channel")
async def websocket(request: web.Request) -> web.WebSocketResponse:
    user_id = request.query.get("user_id")
    if not user_id:
        raise InvalidRequest("query parameter 'user_id' is required", parameter="user_id")
    bot_id = request.match_info["bot_id"]
    channel = request.app[DUMMY]
    channel.runtime.bot(bot_id)
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


class DummyExtension(Extension):
    """``audience serve --bot FILE [--bot FILE] [--api-base URL]``."""

    name = "dummy"

    def __init__(self) -> None:
        self.bot_files: list[Path] = []
        self.api_base: str | None = None
        self.variables: dict[str, str] = {}
        self.capture = True
        self.demo_mode = False

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        group = parser.add_argument_group("dummy channel")
        group.add_argument("--bot", dest="bot_files", action="append", default=[],
                           type=Path, metavar="FILE",
                           help="deploy this bot (YAML) on the dummy channel; repeatable")
        group.add_argument("--api-base", default=os.environ.get("AUDIENCE_API_BASE"),
                           help="the value of ${API_BASE} in the bots' API URLs")
        group.add_argument("--var", dest="bot_variables", action="append", default=[],
                           metavar="NAME=VALUE",
                           help="a ${NAME} value for the bots' API templates (tokens); repeatable")

    def configure(self, args: argparse.Namespace) -> None:
        self.bot_files = list(getattr(args, "bot_files", []) or [])
        self.api_base = getattr(args, "api_base", None)
        for item in getattr(args, "bot_variables", []) or []:
            name, sep, value = item.partition("=")
            if not sep or not name:
                raise InvalidRequest(f"--var {item!r} must be NAME=VALUE")
            self.variables[name] = value
        self.demo_mode = getattr(args, "command", None) == "demo"
        if self.demo_mode and not self.bot_files:
            if not EXAMPLE_BOT.exists():
                raise InvalidRequest(f"the demo needs the example bot at {EXAMPLE_BOT}; run it "
                                     "from a checkout of the project")
            self.bot_files = [EXAMPLE_BOT]
            self.variables.setdefault("CRM_TOKEN", "demo-token")

    def install(self, app: web.Application) -> None:
        app.cleanup_ctx.append(self._context)
        app.add_routes(routes)
        if self.demo_mode:
            app.add_routes(demo_api_routes)

    async def _context(self, app: web.Application) -> AsyncIterator[None]:
        db = app[DATABASE]
        runtime = Runtime(api_base=self.api_base, variables=self.variables)
        recorder = await Recorder(db, source=SOURCE).start() if self.capture else None
        channel = DummyChannel(runtime, recorder)
        app[DUMMY] = channel
        app[CONNECTORS].register(channel)
        try:
            for path in self.bot_files:
                await deploy(db, runtime, load_bot(path))
            yield
        finally:
            await channel.close_sockets()
            if recorder is not None:
                await recorder.close()
            await runtime.close()

    async def demo(self, app: web.Application, base_url: str, api_key: str) -> list[str]:
        channel = app[DUMMY]
        channel.runtime.api_base = base_url + DEMO_API_PREFIX
        bot_id = next(iter(channel.runtime.bots))

        async def say(user_id: str, channel_name: str, **message: Any) -> list[dict[str, Any]]:
            return await channel.receive(bot_id, user_id, channel=channel_name, **message)

        started = time.perf_counter()
        sent = await drive_demo_users(say)
        if channel.recorder is not None:
            await channel.recorder.flush()
        took = time.perf_counter() - started
        auth = f"-H 'Authorization: Bearer {api_key}'"
        both = ('{"filter": {"conditions": [{"property": "email", "operator": "is_set"}, '
                '{"property": "phone", "operator": "is_set"}], "expression": "1 and 2"}}')
        return [
            f"Demo: bot {bot_id!r} on the dummy channel; 200 simulated users sent {sent} "
            f"messages in {took:.1f}s.",
            "Talk to the bot:",
            f"  curl {auth} -H 'Content-Type: application/json' "
            f"-d '{{\"user_id\": \"me\", \"text\": \"hi\"}}' "
            f"{base_url}/v1/channels/dummy/{bot_id}/messages",
            "Users who shared both email and phone (edit the expression to '1 or 2'):",
            f"  curl {auth} -H 'Content-Type: application/json' -d '{both}' "
            f"{base_url}/v1/bots/{bot_id}/audience/query",
            "One user's profile and timeline:",
            f"  curl {auth} {base_url}/v1/bots/{bot_id}/users/demo-007",
            f"  curl {auth} {base_url}/v1/bots/{bot_id}/users/demo-007/timeline",
            "Send every new property to your CRM in real time (signed POSTs; see README):",
            f"  curl {auth} -H 'Content-Type: application/json' -d "
            "'{\"url\": \"https://crm.example.com/hook\", \"events\": [\"profile.created\", "
            f"\"property.set\"]}}' {base_url}/v1/bots/{bot_id}/webhooks",
        ]

