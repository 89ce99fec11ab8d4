"""Rasa e2e test files against a Rasa REST endpoint: the stand-in answers as
Rasa's REST channel does, runs its custom action on the real rasa_sdk action
server (tests.rasa.actions, with the Audience plugin) and publishes its
tracker events to RabbitMQ; the broker consumer fills the database the checks
read. tests/rasa/e2e/order.yml runs as it is."""

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
from plugin.db.database import Database
from simulator.model import RasaTarget
from simulator.rasa_e2e import E2eError, load_e2e
from simulator.runner import Outcome, Simulator

from .conftest import Broker, Clock, action, bot, published, slot, user
from .test_action_server import ActionServer, action_call, action_server  # noqa: F401

AUDIENCE = str(Path(sys.executable).parent / "audience")
E2E = Path(__file__).parent / "e2e" / "order.yml"
GREETING = [{"title": "Order", "payload": "/order"}]


class OrderBot:
    """Rasa's REST channel for a small order flow; ``action_greet_user`` runs on
    the action server, as Rasa runs a custom action."""

    def __init__(self, broker: Broker, actions: ActionServer) -> None:
        self.broker, self.actions = broker, actions
        self.clocks: dict[str, Clock] = {}
        self.tracker: dict[str, list[dict[str, Any]]] = {}

    async def webhook(self, request: web.Request) -> web.Response:
        body = await request.json()
        sender, text = body["sender"], body["message"]
        t = self.clocks.setdefault(sender, Clock())
        events = [user(t(), text, "greet" if text == "hello" else "inform")]
        replies: list[dict[str, Any]] = []

        def say(said: dict[str, Any], utter: str | None) -> None:
            replies.append(said)
            events.append(bot(t(), said["text"], said.get("buttons"), utter))

        if text == "hello":
            events.append(action(t(), "utter_greet"))
            say({"text": "Hi! What would you like?", "buttons": GREETING}, "utter_greet")
        elif text == "/order":
            events += [{"event": "flow_started", "timestamp": t(), "flow_id": "order"},
                       action(t(), "action_greet_user")]
            history = [*self.tracker.get(sender, []), *events]
            async with aiohttp.ClientSession() as http, http.post(
                    f"{self.actions.url}/webhook",
                    json=action_call("action_greet_user", sender, history)) as response:
                assert response.status == 200, await response.text()
                ran = await response.json()
            events += [{**e, "timestamp": t()} for e in ran["events"]]
            for said in ran["responses"]:
                say({"text": said["text"], "buttons": said.get("buttons") or []}, None)
            events.append(action(t(), "utter_ask_email"))
            say({"text": "What is your email?"}, "utter_ask_email")
        else:
            events += [slot(t(), "email", text),
                       {"event": "flow_completed", "timestamp": t(), "flow_id": "order"}]
            say({"text": f"Thanks, I will write to {text}."}, "utter_thanks")
        self.tracker.setdefault(sender, []).extend(events)
        await self.broker.publish(published(sender, events))
        return web.json_response([{"recipient_id": sender, **r} for r in replies])


@pytest_asyncio.fixture
async def order_bot(broker: Broker, db: Database,
                    action_server: ActionServer) -> AsyncIterator[str]:  # noqa: F811
    app = web.Application()
    app.router.add_post("/webhooks/rest/webhook", OrderBot(broker, action_server).webhook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        # The consumer records under the action server's bot: both write the same events.
        async with BrokerConsumer(db, action_server.bot_id, amqp_url=broker.url,
                                  queue=broker.queue, exchange=broker.exchange,
                                  batch_wait=0.01):
            yield "http://{}:{}".format(*runner.addresses[0][:2])
    finally:
        await runner.cleanup()


async def test_the_e2e_file_runs_unchanged(order_bot: str, tmp_path: Path, mongo_uri: str,
                                          db: Database,
                                          action_server: ActionServer) -> None:  # noqa: F811
    report = tmp_path / "report.json"
    env = {**os.environ, "MONGODB_URI": mongo_uri, "AUDIENCE_DB_NAME": db.mongo.name}
    process = await asyncio.create_subprocess_exec(
        AUDIENCE, "simulate", str(E2E), "--target", f"rasa+{order_bot}", "--bot-id",
        action_server.bot_id, "--json", str(report), stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env=env)
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, out.decode() + err.decode()
    results = json.loads(report.read_text())["results"]
    assert [(r["scenario"], r["outcome"], r["steps_run"]) for r in results] == [
        ("a greeting and an order, step by step", "passed", 10),
        ("the order flow, by assertions", "passed", 2)]


WRONG = """
test_cases:
  - test_case: wrong utter
    steps:
      - user: hello
      - utter: utter_goodbye
  - test_case: wrong order of bot messages
    steps:
      - user: /order
      - utter: utter_ask_email
      - bot: Welcome back!
  - test_case: wrong slot value
    steps:
      - user: /order
      - slot_was_set:
          - vip: false
  - test_case: a slot that was set
    steps:
      - user: ada@example.com
      - slot_was_not_set: [email]
  - test_case: wrong flow
    steps:
      - user: /order
        assertions:
          - flow_started: refund
  - test_case: wrong action
    steps:
      - user: /order
        assertions:
          - action_executed: action_refund
  - test_case: wrong buttons
    steps:
      - user: hello
        assertions:
          - bot_uttered:
              buttons: [{title: Refund, payload: /refund}]
  - test_case: an utterance that came
    steps:
      - user: hello
        assertions:
          - bot_did_not_utter: {utter_name: utter_greet}
  - test_case: a flow not completed
    steps:
      - user: /order
        assertions:
          - flow_completed: {flow_id: order}
"""
FAILS = {"wrong utter": ("utter", 6), "wrong order of bot messages": ("bot", 11),
         "wrong slot value": ("slot_was_set", 15), "a slot that was set": ("slot_was_not_set", 20),
         "wrong flow": ("flow_started", 23), "wrong action": ("action_executed", 28),
         "wrong buttons": ("bot_uttered", 33), "an utterance that came": ("bot_did_not_utter", 39),
         "a flow not completed": ("flow_completed", 44)}


async def test_each_check_fails_when_it_should(order_bot: str, tmp_path: Path, db: Database,
                                               action_server: ActionServer) -> None:  # noqa: F811
    wrong = tmp_path / "wrong.yml"
    wrong.write_text(WRONG)
    scenarios = load_e2e(wrong, target=RasaTarget(order_bot, action_server.bot_id))
    async with Simulator(db=db) as simulator:
        suite = await simulator.run_all(scenarios, concurrency=4)
    got = {r.scenario: r for r in suite.results}
    assert set(got) == set(FAILS)
    for name, (what, line) in FAILS.items():
        failure = got[name].failure
        assert got[name].outcome is Outcome.FAILED and failure is not None, name
        assert (failure.what, failure.line) == (what, line), (name, got[name].describe_failure())


def test_unsupported_parts_are_refused_with_their_lines(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("fixtures:\n  - premium: [{vip: true}]\ntest_cases:\n  - test_case: t\n"
                   "    fixtures: [premium]\n    steps:\n      - user: hi\n        assertions:\n"
                   "          - generative_response_is_relevant: {threshold: 0.9}\n"
                   "      - intent: greet\n")
    with pytest.raises(E2eError) as caught:
        load_e2e(bad, target=RasaTarget("http://127.0.0.1:9", "b"))
    said = str(caught.value)
    for line, reason in [(1, "'fixtures' is not supported"), (5, "'fixtures' is not supported"),
                         (9, "unsupported assertion 'generative_response_is_relevant'"),
                         (10, "a step is one of: user, bot, utter")]:
        assert f"{bad}:{line}: " in said and reason in said, (line, reason, said)
    with pytest.raises(E2eError, match="run against a Rasa bot"):
        load_e2e(E2E, target=None)
