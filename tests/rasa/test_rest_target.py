"""The simulator against a Rasa bot's REST channel: a small server on loopback
answering as Rasa's REST channel does and publishing its tracker events to
RabbitMQ as Rasa's event broker does; the broker consumer fills the database
the profile checks read."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from plugin.audience.profile_store import ProfileStore
from plugin.capture.store import CaptureStore
from plugin.core import events as ev
from plugin.db.database import Database
from simulator.model import RasaTarget, Scenario, ScenarioRun
from simulator.rasa_target import REST_PATH, Rasa
from simulator.targets import TargetError

from ..loopback import serving
from .conftest import GREETING

AUDIENCE = str(Path(sys.executable).parent / "audience")
LEADS_BOT = Path(__file__).resolve().parents[2] / "scenarios" / "bots" / "leads.yaml"
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


async def test_checks_wait_for_the_last_reply_a_second_writer_stores_late(
        db: Database) -> None:
    """The action server stores its own reply at once and the broker consumer
    the rest of the turn later (a busy machine: well past the steady polls):
    the check reads the turn only once Rasa's last reply is there."""
    bot_id = "rasa-late"
    run = ScenarioRun(Scenario(name="late", source="-", line=0, bot_file=None,
                               target=None, channels=("web",), steps=()), "web")
    sender = run.user_id
    stored_late: list[asyncio.Task[None]] = []

    async def webhook(request: web.Request) -> web.Response:
        await CaptureStore.of(db).ingest([
            ev.user_message(bot_id, sender, "/order"),
            ev.bot_message(bot_id, sender, "Welcome back!")])

        async def consumer_later() -> None:
            await asyncio.sleep(1.0)
            await CaptureStore.of(db).ingest([ev.bot_message(
                bot_id, sender, "Noted.\n\nWhat is your email?")])

        stored_late.append(asyncio.create_task(consumer_later()))
        return web.json_response([{"recipient_id": sender, "text": "Welcome back!"},
                                  {"recipient_id": sender, "text": "Noted."},
                                  {"recipient_id": sender, "text": "What is your email?"}])

    async with serving(REST_PATH, webhook) as url, aiohttp.ClientSession() as http:
        target = RasaTarget(url.removesuffix(REST_PATH), bot_id)
        conversation = await Rasa(target, http, db).open(run, None, None)
        await conversation.send(text="/order")
        captured = await conversation.captured()
        await asyncio.gather(*stored_late)
    assert [e["data"]["text"] for e in captured.turn_events() if e["type"] == "bot_message"] == [
        "Welcome back!", "Noted.\n\nWhat is your email?"]
