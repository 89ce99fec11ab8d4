"""Data for the web tests, written through the capture service as a bot would."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from connectors.dummy_extension import EXAMPLE_BOT
from connectors.dummy_http import DUMMY, deploy
from plugin.capture.store import CaptureStore
from plugin.core import events as ev
from plugin.db.database import Database
from runtime.loader import load_bot

if TYPE_CHECKING:
    from tests.web.conftest import WebServer

XSS_NAME = "<img src=x onerror=alert(1)>"


def new_bot_id(what: str) -> str:
    return f"web-{what}-{uuid.uuid4().hex[:8]}"


async def seed_users(db: Database, bot_id: str,
                     people: dict[str, dict[str, Any]]) -> None:
    """One profile per entry: ``{"user": {"channel": ..., "messages": n, "source": ...,
    "first_name": ..., "email": ..., "phone": ...}}``; properties are set in the order
    given. ``source`` is the connector the user came through (``dummy``: a bot deployed on
    the dummy channel can send them messages)."""
    batch = []
    for user, facts in people.items():
        channel, source = facts.get("channel", "web"), facts.get("source")
        for i in range(facts.get("messages", 1)):
            batch.append(ev.user_message(bot_id, user, f"hello {i} from {user}", channel=channel,
                                         source=source))
        for name, value in facts.items():
            if name not in ("channel", "messages", "source"):
                batch.append(ev.property_set(bot_id, user, name, value, channel=channel,
                                             source=source))
    await CaptureStore.of(db).ingest(batch)


async def deploy_example_bot(server: WebServer, bot_id: str) -> None:
    """The example bot (leads) on the dummy channel under ``bot_id``, its APIs
    pointing nowhere (port 9): users seeded with ``source="dummy"`` can then be
    sent broadcasts and workflows."""
    bot = replace(load_bot(EXAMPLE_BOT), id=bot_id, api_base="http://127.0.0.1:9")
    await deploy(server.db, server.app[DUMMY].runtime, bot, own_api_base=True)
