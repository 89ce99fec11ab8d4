"""Scenarios that start mid-flow (``given``): in-process through the runtime's
start-module entry, on a running server through the dummy channel's
``POST /v1/channels/dummy/{bot_id}/start`` hook, and what the loader refuses."""

from __future__ import annotations

import uuid

import pytest
from aiohttp import web

from simulator.loader import ScenarioError, load_scenarios, parse_scenarios
from simulator.model import AudienceTarget
from simulator.runner import Outcome, Simulator
from tests.conftest import ADMIN_KEY, Api

from .conftest import EXAMPLES

MID_FLOW = EXAMPLES / "suites" / "mid_flow.yaml"
HERE = EXAMPLES / "suites" / "here.yaml"  # relative bot paths resolve from the suites


async def test_mid_flow_scenarios_pass_in_process_and_capture_the_given_properties(
        simulator: Simulator) -> None:
    suite = await simulator.run_all(load_scenarios(MID_FLOW), concurrency=2)
    assert not suite.failed, "\n".join(r.describe_failure() for r in suite.failed)
    assert [r.channel for r in suite.results] == ["whatsapp", "web"]
    assert [r.steps_run for r in suite.results] == [2, 2]  # no turns replayed


async def test_a_failed_mid_flow_run_shows_where_it_started(simulator: Simulator) -> None:
    [scenario] = parse_scenarios(
        """
bot: ../bots/leads.yaml
scenarios:
  - name: wrong first question
    given: {module: quote_details, profile: {email: ada@example.com}}
    steps:
      - say: "18"
        expect: {text: How many seats do you need?}
""", HERE)
    [result] = (await simulator.run_all([scenario])).results
    assert result.outcome is Outcome.FAILED
    report = result.describe_failure()
    assert "user: [starts mid-flow at module 'quote_details']" in report
    assert "bot:  'How many seats do you need?'" in report
    assert result.transcript[0] == {"user": {"given": "quote_details"},
                                    "bot": [{"text": "How many seats do you need?"}]}


async def test_mid_flow_scenarios_pass_on_a_running_server_through_the_start_hook(
        app_server: tuple[web.Application, str], api: Api) -> None:
    target = AudienceTarget(app_server[1], ADMIN_KEY)
    async with Simulator() as simulator:
        suite = await simulator.run_all(load_scenarios(MID_FLOW, target=target))
    assert not suite.failed, "\n".join(r.describe_failure() for r in suite.failed)
    first = suite.results[0]
    _, profile = await api.get(f"/v1/bots/{first.bot_id}/users/{first.user_id}")
    assert profile["attributes"]["email"] == "ada@example.com"
    assert profile["attributes"]["name"] == "Ada"


async def test_the_start_hook_refuses_what_the_bot_does_not_declare(api: Api) -> None:
    bot_id = f"leads-{uuid.uuid4().hex[:8]}"
    definition = (EXAMPLES / "bots" / "leads.yaml").read_text().replace(
        "id: leads", f"id: {bot_id}", 1)
    status, _ = await api.request("PUT", f"/v1/bots/{bot_id}/definition",
                                  raw=definition.encode())
    assert status == 200
    status, body = await api.post(f"/v1/channels/dummy/{bot_id}/start",
                                  {"user_id": "mid-hook", "module": "quote_details",
                                   "properties": {"seats": "many", "emial": "a@b.io"}})
    assert status == 400
    assert [e["path"] for e in body["details"]["errors"]] == ["properties/seats",
                                                             "properties/emial"]
    status, body = await api.post(f"/v1/channels/dummy/{bot_id}/start",
                                  {"user_id": "mid-hook", "module": "nowhere"})
    assert status == 404 and "no module 'nowhere'" in body["message"]
    status, body = await api.post(f"/v1/channels/dummy/{bot_id}/start",
                                  {"user_id": "mid-hook", "module": "quote_details",
                                   "properties": {"email": "ada@example.com"}})
    assert status == 200
    assert body == {"replies": [{"text": "How many seats do you need?"}],
                    "assigned_to": "bot"}


def test_the_loader_checks_the_given_state_against_the_bot() -> None:
    text = """
bot: ../bots/leads.yaml
scenarios:
  - name: bad given
    channel: web
    given:
      module: quote_detail
      channel: whatsapp
      profile: {emial: ada@example.com, seats: many}
    steps: [{say: "18"}]
  - name: webhook
    target: {webhook: {url: "http://127.0.0.1:9/hook"}}
    given: {module: quote_details}
    steps: [{say: "18"}]
"""
    with pytest.raises(ScenarioError) as refused:
        parse_scenarios(text, HERE)
    said = [(p.path, p.reason) for p in refused.value.problems]
    assert said == [
        ("scenarios/0/given/module",
         "the bot has no module 'quote_detail' (did you mean 'quote_details'?)"),
        ("scenarios/0/given/channel", "the conversation is on 'whatsapp', but the scenario "
                                      "runs on web: drop one of the two"),
        ("scenarios/0/given/profile/emial",
         "the bot has no property 'emial' (did you mean 'email'?)"),
        ("scenarios/0/given/profile/seats", "not a valid seats: 'many' is not a number"),
        ("scenarios/1/given", "'given' starts mid-flow through the reference runtime or an "
                              "Audience server's dummy channel (POST /v1/channels/dummy/"
                              "{bot_id}/start); this target has no such hook"),
    ]
