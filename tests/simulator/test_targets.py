"""The other targets: a running Audience server over HTTP (the session's
``app_server``), and a generic JSON webhook bot."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest_asyncio
from aiohttp import web

from runtime import load_bot, parse_bot
from simulator.loader import load_scenarios, parse_scenarios
from simulator.model import AudienceTarget, Scenario, ScenarioRun
from simulator.runner import Outcome, Simulator
from simulator.targets import AudienceServer
from tests.conftest import ADMIN_KEY, Api
from tests.loopback import serving

from .conftest import EXAMPLES, SCENARIOS


async def test_the_same_scenarios_pass_on_a_running_audience_server(
        app_server: tuple[web.Application, str], api: Api) -> None:
    target = AudienceTarget(app_server[1], ADMIN_KEY)
    scenarios = load_scenarios(SCENARIOS / "right.yaml", target=target)
    wrong = [s for s in load_scenarios(SCENARIOS / "wrong.yaml", target=target)
             if s.name in ("wrong api failure reason", "wrong options")]
    async with Simulator() as simulator:
        suite = await simulator.run_all([*scenarios, *wrong], concurrency=4)
    outcomes = [(r.scenario, r.outcome) for r in suite.results]
    assert outcomes == [("every kind holds", Outcome.PASSED)] * 2 + [
        ("wrong options", Outcome.FAILED), ("wrong api failure reason", Outcome.FAILED)], (
        "\n".join(r.describe_failure() for r in suite.failed))
    assert {r.target for r in suite.results} == {"audience"}
    assert simulator.db is None  # nothing ran in-process
    # Each run has its own deployment, and its timeline is on the server.
    first = suite.results[0]
    assert first.bot_id is not None and first.bot_id.startswith("leads-sim-")
    status, timeline = await api.get(f"/v1/bots/{first.bot_id}/users/{first.user_id}/timeline")
    assert status == 200 and timeline["events"][-1]["data"]["name"] == "simulation"
    _, profile = await api.get(f"/v1/bots/{first.bot_id}/users/{first.user_id}")
    assert profile["test"] is True and profile["source"] == "simulator"


async def test_an_unreachable_server_is_a_scenario_error() -> None:
    target = AudienceTarget("http://127.0.0.1:9", "key")
    scenarios = load_scenarios(SCENARIOS / "right.yaml", target=target, channels=("web",))
    async with Simulator() as simulator:
        (result,) = (await simulator.run_all(scenarios)).results
    assert result.outcome is Outcome.ERROR and result.failure is not None
    assert "cannot reach the Audience server" in result.failure.actual


async def test_deploying_to_an_audience_server_reads_the_bot_file_as_the_runtime_does() -> None:
    # signup.yaml has flow mappings such as ``{prompt: How old are you?, retries: 3}``,
    # which the pure-Python YAML loader rejects and the runtime's loader reads.
    deployed: dict[str, str] = {}

    async def definition(request: web.Request) -> web.Response:
        deployed[request.match_info["bot_id"]] = await request.text()
        return web.json_response({})

    async def events(request: web.Request) -> web.Response:
        return web.json_response({"accepted": 1})

    app = web.Application()
    app.router.add_put("/v1/bots/{bot_id}/definition", definition)
    app.router.add_post("/v1/bots/{bot_id}/events", events)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    bot_file = EXAMPLES / "bots" / "signup.yaml"
    bot = load_bot(bot_file)
    target = AudienceTarget(f"http://{host}:{port}", "key")
    scenario = Scenario(name="deploy", source="test", line=1, bot_file=bot_file, target=target,
                        channels=("web",), steps=())
    run = ScenarioRun(scenario, "web")
    try:
        async with aiohttp.ClientSession() as session:
            conversation = await AudienceServer(target, session).open(run, bot, "http://stubs/1")
    finally:
        await runner.cleanup()
    ((bot_id, text),) = deployed.items()
    assert bot_id == conversation.bot_id == f"signup-sim-{run.run_id}"
    redeployed = parse_bot(text, "deployed")
    assert (redeployed.id, redeployed.api_base) == (bot_id, "http://stubs/1")
    assert redeployed.modules == bot.modules and redeployed.properties == bot.properties


@pytest_asyncio.fixture
async def webhook_bot() -> AsyncIterator[str]:
    """A bot of another runtime: Rasa's REST shape (sender/message in, a list out)."""

    async def hook(request: web.Request) -> web.Response:
        body: dict[str, Any] = await request.json()
        said = body["message"]
        if said == "/menu":
            return web.json_response([{"recipient_id": body["sender"], "text": "Menu picked"}])
        return web.json_response([
            {"recipient_id": body["sender"], "text": f"You said {said}"},
            {"recipient_id": body["sender"], "text": "Pick one",
             "buttons": [{"title": "Menu", "payload": "/menu"}]},
        ])

    async with serving("/webhooks/rest/webhook", hook) as url:
        yield url


async def test_a_json_webhook_bot_is_driven_through_its_mapping(webhook_bot: str) -> None:
    text = f"""
target:
  webhook:
    url: "{webhook_bot}"
    request: {{user_id: "$.sender", text: "$.message", payload: "$.message"}}
    reply: {{messages: "$[*]"}}
scenarios:
  - name: rasa-like
    steps:
      - say: hello
        expect: {{text: You said hello, messages: 2, buttons: [{{title: Menu, payload: /menu}}]}}
      - tap: Menu
        expect: {{text: Menu picked}}
    ends_with_cta: true
"""
    scenarios = parse_scenarios(text, Path("webhook.yaml"))
    async with Simulator() as simulator:
        (result,) = (await simulator.run_all(scenarios)).results
    assert result.outcome is Outcome.FAILED and result.failure is not None
    # The last message has no call to action: the check is on replies alone.
    assert result.failure.what == "ends_with_cta" and result.steps_run == 2
