"""The test-bot page in the browser: a WhatsApp conversation with the example
bot whose numbered options are answered by number, the test user's timeline
updating beside the chat, the conversation saved as a scenario that the
simulator replays and passes; "Run suite" with a configured and an uploaded
file (a pass and a failure with its detail); test users hidden from the
audience list until "Show test users", and selected by the ``test`` filter."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Page, expect

from connectors.dummy_extension import EXAMPLE_BOT
from connectors.dummy_http import DUMMY, deploy
from plugin.capture.store import CaptureStore
from plugin.core import events as ev
from plugin.db.database import Database
from plugin.http.appkeys import BOT_TESTER
from runtime.loader import load_bot
from simulator.loader import load_scenarios
from simulator.runner import Simulator
from simulator.testbot import DummyBotTester
from tests.conftest import Api
from tests.web.conftest import WebServer, check_accessibility, screenshot, settled, sign_in
from tests.web.seeding import new_bot_id, seed_users

SUITE = """\
bot: {bot}
channel: whatsapp
scenarios:
  - name: hi asks for the name
    steps:
      - say: hi
        expect: {{text: "What's your name?"}}
"""
FAILING = """\
bot: {bot}
scenarios:
  - name: hi is answered with a greeting it does not give
    steps:
      - say: hi
        expect: {{text: Hello there!}}
"""


@dataclass(frozen=True)
class DeployedBot:
    id: str
    file: Path
    suites: Path


@pytest_asyncio.fixture(scope="module")
async def leads(web_server: WebServer, tmp_path_factory: pytest.TempPathFactory
                ) -> AsyncIterator[DeployedBot]:
    """The example bot under an id of its own, from a file of its own (which
    the saved and configured scenarios name), calling APIs where nothing
    listens (port 9): every call fails to connect. Its suite directory is
    configured on the session server's test channel."""
    bot_id = new_bot_id("testbot")
    root = tmp_path_factory.mktemp("testbot")
    text = EXAMPLE_BOT.read_text("utf-8").replace("id: leads", f"id: {bot_id}", 1)
    file = root / "bot.yaml"
    file.write_text(text.replace("http://127.0.0.1:8080", "http://127.0.0.1:9"), "utf-8")
    suites = root / "suites"
    suites.mkdir()
    (suites / "welcome.yaml").write_text(SUITE.format(bot="../bot.yaml"), "utf-8")
    await deploy(web_server.db, web_server.app[DUMMY].runtime, load_bot(file),
                 own_api_base=True)
    tester = web_server.app[BOT_TESTER]
    assert isinstance(tester, DummyBotTester)
    tester.scenario_dirs.append(suites)
    yield DeployedBot(bot_id, file, suites)
    tester.scenario_dirs.remove(suites)


async def say(page: Page, text: str) -> None:
    await page.get_by_label("Message").fill(text)
    await page.get_by_role("button", name="Send").click()
    await settled(page)


async def test_a_whatsapp_conversation_becomes_a_scenario_that_replays(
        page: Page, web_server: WebServer, db: Database, leads: DeployedBot,
        tmp_path: Path) -> None:
    await sign_in(page, web_server)
    await page.goto(f"{web_server.url}/bots/{leads.id}/test")
    await page.get_by_label("Channel").select_option("WhatsApp")
    await expect(page).to_have_url(re.compile(r"channel=whatsapp"))
    chat = page.locator("#chat-log")
    timeline = page.locator("#transcript")

    await say(page, "hi")
    await expect(chat).to_contain_text("What's your name?")
    await expect(timeline.get_by_text("Module entered: welcome")).to_be_visible()
    await say(page, "Ann")
    # WhatsApp has no quick replies: they are numbered options, answered by number.
    await expect(chat.locator(".msg.bot").last).to_contain_text("2. Book a demo")
    await say(page, "1")
    await expect(chat.locator(".msg.bot").last).to_have_text(
        "Which email should the quote go to?")
    # The timeline beside the chat keeps up (its live stream, after the first turn).
    await expect(timeline.get_by_text("Module entered: quote")).to_be_visible()
    await say(page, "ann@example.com")
    await expect(chat).to_contain_text("I couldn't check our customer records")
    crm = timeline.locator(".event", has_text="API call: crm_lookup")
    await expect(crm).to_contain_text("failed: connection")
    await expect(timeline.get_by_text("Property set: email = ann@example.com")).to_be_visible()
    await check_accessibility(page)
    await screenshot(page, "test-bot")

    async with page.expect_download() as download:
        await page.get_by_role("link", name="Save as scenario").click()
    saved = tmp_path / "conversation.yaml"
    await (await download.value).save_as(saved)
    text = saved.read_text("utf-8")
    assert "say: '1'" in text and "- Book a demo" in text  # the option answered by number
    assert "crm_lookup:\n        fail: refused" in text  # the API answers as it did
    assert "email: ann@example.com" in text and "failed: connection" in text
    # audience simulate's loader and runner, against the same bot file: it passes.
    scenarios = load_scenarios(saved)
    assert [s.channels for s in scenarios] == [("whatsapp",)]
    async with Simulator(db=db) as simulator:
        suite = await simulator.run_all(scenarios)
    assert [r.describe_failure() for r in suite.failed] == []
    assert suite.results[0].steps_run == 4


async def test_quick_replies_and_buttons_are_tapped_in_the_chat(
        page: Page, web_server: WebServer, leads: DeployedBot) -> None:
    await sign_in(page, web_server)
    await page.goto(f"{web_server.url}/bots/{leads.id}/test?channel=messenger")
    await expect(page.get_by_label("Channel")).to_have_value("messenger")
    await say(page, "hi")
    await say(page, "Ann")
    chat = page.locator("#chat-log")
    await chat.get_by_role("button", name="Book a demo").click()
    await settled(page)
    await expect(chat.locator(".msg.user").last).to_have_text("Book a demo")
    await expect(chat.locator(".msg.bot").last).to_have_text(
        "Which phone number should we call to book your demo?")
    # Only the latest replies can be answered, as on the channel.
    await expect(chat.get_by_role("button", name="Talk to sales")).to_be_disabled()
    await say(page, "+44 20 7946 0000")
    await chat.get_by_role("list", name="Buttons").last.get_by_role(
        "button", name="Get a quote").click()
    await expect(chat.locator(".msg.bot").last).to_have_text(
        "Which email should the quote go to?")
    # "New test user" starts over: another user, on the same channel, an empty chat.
    first_user = page.url
    await page.get_by_role("button", name="New test user").click()
    await expect(page.locator("#chat-log .msg")).to_have_count(0)
    assert page.url != first_user and "channel=messenger" in page.url
    await expect(page.get_by_role("link", name="Save as scenario")).to_have_count(0)


async def test_run_suite_shows_a_pass_and_a_failure_with_its_detail(
        page: Page, web_server: WebServer, leads: DeployedBot, tmp_path: Path) -> None:
    upload = tmp_path / "greeting.yaml"
    upload.write_text(FAILING.format(bot=leads.file), "utf-8")
    await sign_in(page, web_server)
    await page.goto(f"{web_server.url}/bots/{leads.id}/test")
    await expect(page.get_by_text(str(leads.suites / "welcome.yaml"))).to_be_visible()
    # A file that is no scenario file is refused with its problems, and nothing runs.
    bad = tmp_path / "bad.yaml"
    bad.write_text("scenarios:\n  - name: nothing to do\n    steps: []\n", "utf-8")
    await page.get_by_label("Scenario file").set_input_files(bad)
    await page.get_by_role("button", name="Run suite").click()
    await expect(page.get_by_role("alert")).to_contain_text("bad.yaml:3: scenarios/0/steps")
    await expect(page.locator("#suite")).to_have_count(0)
    await page.get_by_label("Scenario file").set_input_files(upload)
    await page.get_by_role("button", name="Run suite").click()
    results = page.get_by_role("table", name="Scenario results")
    await expect(page.get_by_text("Suite done: 1 passed, 1 failed, of 2.")).to_be_visible()
    passed = results.get_by_role("row").filter(has_text="hi asks for the name")
    await expect(passed).to_contain_text("Passed")
    failed = results.get_by_role("row").filter(has_text="a greeting it does not give")
    await expect(failed).to_contain_text("Failed")
    await expect(failed.locator(".detail")).to_contain_text("expected: a reply 'Hello there!'")
    await check_accessibility(page)
    await failed.get_by_role("link").click()
    await expect(page.get_by_role("heading", name=re.compile(r"\(sim-"))).to_be_visible()
    await expect(page.locator("#transcript")).to_contain_text("What's your name?")


async def test_test_users_are_hidden_until_asked_for_and_filter_by_test(
        page: Page, web_server: WebServer, db: Database, api: Api) -> None:
    bot_id = new_bot_id("testusers")
    await seed_users(db, bot_id, {"real": {"first_name": "Rita"}})
    await CaptureStore.of(db).ingest([ev.user_message(bot_id, "sim-1", "hi",
                                                      source="simulator")])
    status, body = await api.post(f"/v1/bots/{bot_id}/audience/query", {
        "filter": {"conditions": [{"property": "test", "operator": "is_true"}]}})
    assert status == 200, body
    assert [u["user_id"] for u in body["users"]] == ["sim-1"]
    await sign_in(page, web_server)
    await page.goto(f"{web_server.url}/bots/{bot_id}/audience")
    total = page.get_by_role("status", name="Total")
    await expect(total).to_have_text("1 user")
    await expect(page.get_by_role("link", name="Rita")).to_be_visible()
    await page.get_by_label("Show test users").check()
    await expect(total).to_have_text("2 users")
    await expect(page.get_by_role("link", name="sim-1")).to_be_visible()
    await expect(page).to_have_url(re.compile(r"test_users=1"))
