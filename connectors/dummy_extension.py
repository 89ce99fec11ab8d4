"""The extension that puts the dummy channel into ``audience serve`` and
``audience demo``: ``--bot FILE`` (repeatable), ``--api-base URL``,
``--var NAME=VALUE``; at start it deploys the bots and mounts the routes of
:mod:`connectors.dummy_http`.

Every ``audience`` call loads it (entry point ``dummy`` in the
``audience.extensions`` group), ``--help`` included, so it imports aiohttp,
the runtime and the recorder only in the hooks that run the server;
:mod:`connectors.dummy_http` does not import it back.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from plugin.core.errors import InvalidRequest
from plugin.extensions import Extension

if TYPE_CHECKING:
    from aiohttp import web

__all__ = ["DummyExtension", "EXAMPLE_BOT"]

EXAMPLE_BOT = Path(__file__).resolve().parent.parent / "scenarios" / "bots" / "leads.yaml"


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
        for path in self.bot_files:
            if not path.is_file():
                raise InvalidRequest(f"--bot {path}: no such file")

    def install(self, app: web.Application) -> None:
        # Imported here, as in every hook below: see the module docstring.
        from .demo import demo_api_routes
        from .dummy_http import routes

        app.cleanup_ctx.append(self._context)
        app.add_routes(routes)
        if self.demo_mode:
            app.add_routes(demo_api_routes)

    async def _context(self, app: web.Application) -> AsyncIterator[None]:
        from plugin.capture.recorder import Recorder
        from plugin.handover.relay import Relay
        from plugin.handover.store import ConversationStore, DefinitionStore
        from plugin.http.appkeys import CONNECTORS, DATABASE
        from runtime.engine import Runtime
        from runtime.loader import load_bot

        from .dummy import SOURCE, DummyChannel
        from .dummy_http import DUMMY, deploy

        db = app[DATABASE]
        # Conversations and socket messages go through the database, so that any
        # number of servers on it serve the same users (connectors.dummy).
        shared = ConversationStore.of(db)
        runtime = Runtime(api_base=self.api_base, variables=self.variables, store=shared)
        recorder = await Recorder(db, source=SOURCE).start() if self.capture else None
        channel = DummyChannel(runtime, recorder, shared=shared,
                               definitions=DefinitionStore.of(db))
        channel.relay = relay = Relay(db, channel.push_here).start()
        app[DUMMY] = channel
        app[CONNECTORS].register(channel)
        try:
            for path in self.bot_files:
                try:
                    bot = load_bot(path)
                except OSError as exc:
                    raise InvalidRequest(f"--bot {path}: cannot read it: {exc.strerror}") from None
                await deploy(db, runtime, bot)
            yield
        finally:
            await relay.close()
            await channel.close_sockets()
            if recorder is not None:
                await recorder.close()
            await runtime.close()

    async def demo(self, app: web.Application, base_url: str, api_key: str) -> list[str]:
        from .demo import DEMO_API_PREFIX, drive_demo_users
        from .dummy_http import DUMMY

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
