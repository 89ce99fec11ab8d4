"""Slow backends: a step's own ``timeout`` wins over the scenario's and the
failure names the step; messages a bot sends after its answer are collected
until it has been quiet for the quiet period (in-process, on a server through
the dummy channel's WebSocket, from a webhook bot through its callback)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest_asyncio
from aiohttp import web

from connectors.dummy_http import DUMMY
from simulator.late import LateInbox
from simulator.loader import parse_scenarios
from simulator.model import AudienceTarget, ScenarioRun
from simulator.runner import Outcome, Simulator
from tests.conftest import ADMIN_KEY
from tests.loopback import serving

from .conftest import EXAMPLES

HERE = EXAMPLES / "suites" / "here.yaml"  # relative bot paths resolve from the suites

SLOW_CRM = """
bot: ../bots/leads.yaml
timeout: 10
apis:
  crm_lookup: {delay: 1.0, body: {known: false, plan: ""}}
scenarios:
  - name: the CRM is slower than the step allows
    steps:
      - say: quote
      - say: ada@example.com
        timeout: 0.3
"""

LATE = """
bot: ../bots/leads.yaml
quiet: 0.8
scenarios:
  - name: the bot goes on talking after its answer
    steps:
      - say: hi
        expect: {messages: 4, text: and a second one}
"""


async def test_a_step_timeout_wins_and_the_failure_names_the_step(
        simulator: Simulator) -> None:
    [scenario] = parse_scenarios(SLOW_CRM, HERE)
    assert scenario.steps[1].timeout == 0.3 and scenario.timeout == 10
    [result] = (await simulator.run_all([scenario])).results
    assert result.outcome is Outcome.FAILED and result.failure is not None
    assert result.failure.step == 2
    assert result.failure.expected == (
        "step 2 (say 'ada@example.com') to finish within 0.3s (the step's 'timeout', line 10)")
    assert "raise the step's 'timeout'" in result.failure.actual
    assert result.seconds < 3  # not the scenario's 10 s, nor the CRM's whole delay


async def _speak_late(deliver: Any, bot_id: str, user_id: str) -> None:
    await asyncio.sleep(0.2)
    await deliver(bot_id, user_id, None, {"text": "one more thing"})
    await asyncio.sleep(0.4)  # under the quiet period: still the same step
    await deliver(bot_id, user_id, None, {"text": "and a second one"})


async def test_late_messages_are_collected_until_the_bot_is_quiet_in_process(
        simulator: Simulator) -> None:
    [scenario] = parse_scenarios(LATE, HERE)
    live = await simulator.open(ScenarioRun(scenario, "web"))
    try:
        answer = await live.say("hi")
        assert len(answer) == 2
        channel = live.conversation.dummy_channel  # type: ignore[attr-defined]
        speaker = asyncio.create_task(_speak_late(channel.deliver, live.bot_id, live.user_id))
        late = await live.collect_late()
        await speaker
    finally:
        await live.close()
    assert [m["text"] for m in late] == ["one more thing", "and a second one"]
    assert [m["text"] for m in live.replies][2:] == ["one more thing", "and a second one"]
    assert live.transcript[-1]["bot"][-1] == {"text": "and a second one"}


async def test_late_messages_reach_the_step_on_a_running_server(
        app_server: tuple[web.Application, str]) -> None:
    app, url = app_server
    [scenario] = parse_scenarios(LATE, HERE, target=AudienceTarget(url, ADMIN_KEY))
    run = ScenarioRun(scenario, "web")
    bot_id = f"leads-sim-{run.run_id}"
    channel = app[DUMMY]

    def answered() -> bool:
        state = channel.runtime.conversation(bot_id, run.user_id)
        return state is not None and state.user_turns > 0

    async def once_answered() -> None:
        while not answered():  # noqa: ASYNC110 (the server runs the turn, not this test)
            await asyncio.sleep(0.01)
        await _speak_late(channel.deliver, bot_id, run.user_id)

    async with Simulator() as simulator:
        speaker = asyncio.create_task(once_answered())
        result = await simulator.run(run)
        await speaker
    assert result.outcome is Outcome.PASSED, result.describe_failure()


async def test_without_a_quiet_period_the_answer_is_all() -> None:
    inbox = LateInbox()
    assert await inbox.collect(0) == []
    inbox.put({"text": "already here"})
    assert await inbox.collect(0) == [{"text": "already here"}]


@pytest_asyncio.fixture
async def slow_webhook_bot() -> AsyncIterator[str]:
    """A bot of another runtime that answers at once, then twice more later,
    posting to the callback URL each request carries."""
    later: set[asyncio.Task[None]] = set()

    async def follow_up(callback: str) -> None:
        async with aiohttp.ClientSession() as session:
            for delay, text in ((0.2, "Still looking…"), (0.3, "Found 3 flights")):
                await asyncio.sleep(delay)
                async with session.post(callback, json={"replies": [{"text": text}]}) as done:
                    assert done.status == 200

    async def hook(request: web.Request) -> web.Response:
        body = await request.json()
        task = asyncio.create_task(follow_up(body["callback_url"]))
        later.add(task)
        task.add_done_callback(later.discard)
        return web.json_response({"replies": [{"text": "One moment…"}]})

    async with serving("/hook", hook) as url:
        yield url
        await asyncio.gather(*later, return_exceptions=True)


async def test_a_webhook_bot_that_answers_over_time_is_heard_out(slow_webhook_bot: str) -> None:
    text = f"""
target:
  webhook: {{url: "{slow_webhook_bot}", request: {{callback: "$.callback_url"}}}}
scenarios:
  - name: heard out
    quiet: 0.6
    steps:
      - say: flights to Oslo
        expect: {{messages: 3, text: Found 3 flights}}
  - name: cut at the answer
    steps:
      - say: flights to Oslo
        expect: {{messages: 3}}
"""
    scenarios = parse_scenarios(text, HERE)
    async with Simulator() as simulator:
        heard, cut = (await simulator.run_all(scenarios)).results
    assert heard.outcome is Outcome.PASSED, heard.describe_failure()
    assert cut.outcome is Outcome.FAILED and cut.failure is not None
    assert cut.failure.actual.startswith("1:")  # without a quiet period, the answer alone
