"""The simulator against a Rasa bot's REST channel: a small server on loopback
answering as Rasa's REST channel does and publishing its tracker events to
RabbitMQ as Rasa's event broker does; the broker consumer fills the database
the profile checks read."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web

from connectors.rasa.consumer import BrokerConsumer
from plugin.audience.profile_store import ProfileStore
from plugin.db.database import Database
from simulator.model import RasaTarget, Scenario, ScenarioRun
from simulator.targets import Rasa, TargetError

from .conftest import Broker, Clock, bot, published, slot, user

AUDIENCE = str(Path(sys.executable).parent / "audience")
LEADS_BOT = Path(__file__).resolve().parents[2] / "scenarios" / "bots" / "leads.yaml"
GREETING = [{"title": "Order", "payload": "/order"},
            {"title": "Talk to a person", "payload": "/human"}]

SUITE = """
scenarios:
  - name: an order on Rasa
    steps:
      - say: hello
        expect:
          text: Hi! What would you like?
          buttons: [Order, Talk to a person]
      - tap: Order
        expect: {contains: email}
      - say: ada@example.com
        expect:
          text: Thanks, I will write to ada@example.com.
          properties: {email: ada@example.com}
"""


class FakeRasa:
    """Rasa's REST channel for a tiny order bot, publishing its tracker events."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.clocks: dict[str, Clock] = {}

    async def webhook(self, request: web.Request) -> web.Response:
        body = await request.json()
        sender, text = body["sender"], body["message"]
        t = self.clocks.setdefault(sender, Clock())
        events = [user(t(), text, "inform")]
        replies: list[dict[str, Any]]
        if text == "hello":
            replies = [{"text": "Hi! What would you like?", "buttons": GREETING},
                       {"image": "https://example.com/menu.png"}]
            events.append(bot(t(), replies[0]["text"], GREETING))
            events.append({"event": "bot", "timestamp": t(), "text": None,
                           "data": {"image": replies[1]["image"]}})
        elif text == "/order":
            replies = [{"text": "What is your email?"}]
            events += [{"event": "active_loop", "timestamp": t(), "name": "order_form"},
                       bot(t(), replies[0]["text"])]
        elif text == "boom":
            return web.json_response({"error": "crashed"}, status=500)
        else:
            replies = [{"text": f"Thanks, I will write to {text}.", "custom": {"k": 1}}]
            events += [slot(t(), "email", text), bot(t(), replies[0]["text"])]
        await self.broker.publish(published(sender, events))
        return web.json_response([{"recipient_id": sender, **r} for r in replies])


@pytest_asyncio.fixture
async def rasa(broker: Broker, db: Database, bot_id: str) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_post("/webhooks/rest/webhook", FakeRasa(broker).webhook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        async with BrokerConsumer(db, bot_id, amqp_url=broker.url, queue=broker.queue,
                                  exchange=broker.exchange, batch_wait=0.01):
            yield "http://{}:{}".format(*runner.addresses[0][:2])
    finally:
        await runner.cleanup()


async def test_simulate_runs_yaml_scenarios_against_rasa(
        rasa: str, tmp_path: Path, mongo_uri: str, db: Database, bot_id: str) -> None:
    suite = tmp_path / "rasa.yaml"
    suite.write_text(SUITE)
    report = tmp_path / "report.json"
    env = {**os.environ, "MONGODB_URI": mongo_uri, "AUDIENCE_DB_NAME": db.mongo.name}
    process = await asyncio.create_subprocess_exec(
        AUDIENCE, "simulate", str(suite), "--target", f"rasa+{rasa}", "--bot-id", bot_id,
        "--json", str(report), stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env=env)
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, out.decode() + err.decode()
    [result] = json.loads(report.read_text())["results"]
    assert result["target"] == "rasa" and result["outcome"] == "passed"
    profile = await ProfileStore.of(db).get_profile(bot_id, result["user_id"])
    assert profile is not None and profile["current_module"] == "order_form"


FEATURE = """
Feature: an order on Rasa
  Scenario: the greeting and the email
    Given the bot "{bot}"
    When the user says "hello"
    Then the bot replies "Hi! What would you like?"
    And the bot offers the buttons "Order", "Talk to a person"
    When the user taps "Order"
    And the user says "ada@example.com"
    Then the property "email" is "ada@example.com"
    And the conversation is in module "order_form"
"""


async def test_gherkin_features_run_against_rasa(
        rasa: str, tmp_path: Path, mongo_uri: str, db: Database, bot_id: str) -> None:
    # A feature written for a YAML bot runs as it is; the bot file is only read.
    (tmp_path / "order.feature").write_text(FEATURE.format(bot=LEADS_BOT))
    (tmp_path / "test_order.py").write_text(
        'from pytest_bdd import scenarios\n\nscenarios("order.feature")\n')
    env = {**os.environ, "AUDIENCE_TARGET": f"rasa+{rasa}", "AUDIENCE_BOT_ID": bot_id,
           "MONGODB_URI": mongo_uri, "AUDIENCE_DB_NAME": db.mongo.name}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path),
        cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env=env)
    out, _ = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, out.decode()
    assert "1 passed" in out.decode()


async def test_replies_are_read_in_the_rest_channel_format(rasa: str, bot_id: str,
                                                           db: Database) -> None:
    scenario = Scenario(name="direct", source="-", line=0, bot_file=None,
                        target=RasaTarget(rasa, bot_id), channels=("web",), steps=())
    async with aiohttp.ClientSession() as http:
        target = Rasa(RasaTarget(rasa, bot_id), http, db)
        conversation = await target.open(ScenarioRun(scenario, "web"), None, None)
        replies = await conversation.send(text="hello")
        assert replies == [{"text": "Hi! What would you like?", "buttons": GREETING},
                           {"text": "", "cards": [{"image": "https://example.com/menu.png"}]}]
        replies = await conversation.send(text="ada@example.com")
        assert replies[0]["custom"] == {"k": 1}
        captured = await conversation.captured()
        assert captured.attributes == {"email": "ada@example.com"}
        assert [e["type"] for e in captured.turn_events()] == [
            "user_message", "property_set", "bot_message"]
        with pytest.raises(TargetError, match="HTTP 500"):
            await conversation.send(text="boom")
        blind = await Rasa(RasaTarget(rasa), http, db).open(
            ScenarioRun(scenario, "web"), None, None)
        with pytest.raises(TargetError, match="--bot-id"):
            await blind.captured()
        unreachable = await Rasa(RasaTarget("http://127.0.0.1:9"), http, db).open(
            ScenarioRun(scenario, "web"), None, None)
        with pytest.raises(TargetError, match="cannot reach Rasa"):
            await unreachable.send(text="hi")
