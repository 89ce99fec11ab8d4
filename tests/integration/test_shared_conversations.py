"""Conversations kept in MongoDB (plugin.handover.store.ConversationStore), as
two runtimes over one database see them — two servers, or one server before
and after a restart."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time

import pytest

from plugin.db.database import Database
from plugin.handover.store import ConversationStore
from runtime.engine import Runtime
from runtime.loader import parse_bot
from runtime.model import Bot, BotMessage

BOT = """
bot: {{id: {bot_id}, name: Two questions}}
properties:
  name: {{type: text, label: Name}}
  city: {{type: text, label: City}}
modules:
  welcome:
    default: true
    start: {{keywords: [hi]}}
    steps:
      - ask: {{property: name, prompt: "Your name?"}}
      - ask: {{property: city, prompt: "Your city, {{{{name}}}}?"}}
      - say: {{text: "{{{{name}}}} from {{{{city}}}}."}}
"""


def two_questions(bot_id: str) -> Bot:
    return parse_bot(BOT.format(bot_id=bot_id), "test")


async def texts(runtime: Runtime, bot_id: str, user: str, text: str) -> list[str | None]:
    result = await runtime.handle(bot_id, user, text=text)
    return [m.text for m in result.messages]


def runtime_on(db: Database, bot: Bot) -> Runtime:
    runtime = Runtime(store=ConversationStore.of(db))
    runtime.deploy(bot)
    return runtime


async def test_a_flow_goes_on_in_another_runtime_and_after_a_restart(
        db: Database, bot_id: str) -> None:
    bot = two_questions(bot_id)
    first, second = runtime_on(db, bot), runtime_on(db, bot)
    assert await texts(first, bot_id, "u1", "hi") == ["Your name?"]
    assert await texts(second, bot_id, "u1", "Ada") == ["Your city, Ada?"]
    restarted = runtime_on(db, two_questions(bot_id))  # loaded again: the same bot
    assert await restarted.known(bot_id, "u1")
    assert not await restarted.known(bot_id, "nobody")
    assert await texts(restarted, bot_id, "u1", "Paris") == ["Ada from Paris."]


async def test_a_changed_definition_ends_the_flows_it_finds_but_keeps_what_they_collected(
        db: Database, bot_id: str) -> None:
    bot = two_questions(bot_id)
    old = runtime_on(db, bot)
    assert await texts(old, bot_id, "u2", "hi") == ["Your name?"]
    assert await texts(old, bot_id, "u2", "Lin") == ["Your city, Lin?"]
    changed = dataclasses.replace(bot, fallback=BotMessage(text="Say hi to start."))
    new = runtime_on(db, changed)
    assert await texts(new, bot_id, "u2", "Oslo") == ["Say hi to start."]
    state = new.conversation(bot_id, "u2")
    assert state is not None
    assert (state.module, state.properties) == (None, {"name": "Lin"})


async def test_a_held_conversation_is_held_for_every_runtime(db: Database, bot_id: str) -> None:
    bot = two_questions(bot_id)
    agent_side, user_side = runtime_on(db, bot), runtime_on(db, bot)
    assert await texts(user_side, bot_id, "u3", "hi") == ["Your name?"]
    await agent_side.assign(bot_id, "u3", human=True)
    result = await user_side.handle(bot_id, "u3", text="Kim")
    assert (result.messages, result.handed_over) == ([], True)
    await agent_side.assign(bot_id, "u3", human=False)
    assert await texts(user_side, bot_id, "u3", "hi") == ["Your name?"]


def process(db: Database, name: str, lease_s: float = 30.0) -> ConversationStore:
    """The store as the server ``name`` has it."""
    conversations = ConversationStore(db)
    conversations.owner, conversations.lease_s = name, lease_s
    return conversations


async def test_a_turn_waits_while_another_server_holds_the_conversation(
        db: Database, bot_id: str) -> None:
    one, other = process(db, "one"), process(db, "other")
    assert await one.check_out(bot_id, "u4") is None

    async def finish_turn() -> None:
        await asyncio.sleep(0.3)
        await one.check_in(bot_id, "u4", {"module": "welcome", "position": 1})

    started = time.monotonic()
    finishing = asyncio.create_task(finish_turn())
    state = await other.check_out(bot_id, "u4")  # waits for the check-in
    await finishing
    assert time.monotonic() - started >= 0.3
    assert state == {"module": "welcome", "position": 1}


async def test_a_server_that_died_mid_turn_holds_the_conversation_no_longer_than_its_lease(
        db: Database, bot_id: str) -> None:
    dead, alive = process(db, "dead", lease_s=0.3), process(db, "alive")
    await dead.check_out(bot_id, "u5")
    started = time.monotonic()
    assert await alive.check_out(bot_id, "u5") is None
    assert 0.2 <= time.monotonic() - started < 5


async def test_a_turn_that_outlived_its_hold_saves_nothing(
        db: Database, bot_id: str, caplog: pytest.LogCaptureFixture) -> None:
    slow, quick = process(db, "slow", lease_s=0.2), process(db, "quick")
    await slow.check_out(bot_id, "u6")
    await asyncio.sleep(0.3)  # its hold runs out
    await quick.check_out(bot_id, "u6")
    await quick.check_in(bot_id, "u6", {"position": 2})
    with caplog.at_level(logging.WARNING):
        await slow.check_in(bot_id, "u6", {"position": 1})
    assert "state is not saved" in caplog.text
    assert await quick.peek(bot_id, "u6") == {"position": 2}
