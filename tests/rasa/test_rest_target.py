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

from plugin.audience.profile_store import ProfileStore
from plugin.db.database import Database
from simulator.model import RasaTarget, Scenario, ScenarioRun
from simulator.rasa_target import Rasa
from simulator.targets import TargetError

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
