"""A user's profile in the browser: details, properties with types, the
conversation with buttons, quick replies and the backend actions between the
bubbles (shown or hidden), older events on scroll; and human takeover —
Start Chat, Message and Send, live updates on every open page, Assign to Bot."""

from __future__ import annotations

import uuid
from dataclasses import replace

import pytest_asyncio
from playwright.async_api import Browser, Page, expect

from connectors.dummy_extension import EXAMPLE_BOT
from connectors.dummy_http import DUMMY, deploy
from plugin.capture.store import CaptureStore
from plugin.core import events as ev
from plugin.db.database import Database
from runtime.loader import load_bot
from tests.web.conftest import (
    WebServer,
    check_accessibility,
    new_key,
    screenshot,
    settled,
    sign_in,
)

# The example bot under an id of its own: the session server is shared, and
# another test may run "leads" there with its own stubs.
LEADS = f"web-leads-{uuid.uuid4().hex[:6]}"


@pytest_asyncio.fixture(scope="module")
async def talked(web_server: WebServer) -> str:
    """A user who asked the example bot for a quote; its CRM and pricing APIs
    do not answer (nothing listens on port 9), so the calls fail."""
    channel = web_server.app[DUMMY]
    bot = replace(load_bot(EXAMPLE_BOT), id=LEADS, api_base="http://127.0.0.1:9")
    await deploy(web_server.db, channel.runtime, bot, own_api_base=True)
    user = f"ann-{uuid.uuid4().hex[:6]}"
    for message in ({"text": "hi", "profile": {"first_name": "Ann"}}, {"text": "Ann"},
                    {"payload": "QUOTE"},
                    {"text": "ann@example.com"}, {"text": "many"}, {"text": "12"},
                    {"payload": "business"}):
        await channel.receive(LEADS, user, channel="web", **message)
    if channel.recorder is not None:
        await channel.recorder.flush()
    return user


async def test_the_profile_shows_details_and_the_whole_conversation(
        page: Page, web_server: WebServer, talked: str) -> None:
    await sign_in(page, web_server)
    await page.goto(f"{web_server.url}/bots/{LEADS}/users/{talked}")
    await expect(page.get_by_role("heading", name=f"Ann ({talked})")).to_be_visible()
    details = page.get_by_role("complementary", name="Details")
    await expect(details).to_contain_text("ann@example.com")
    await expect(details.get_by_role("row", name="seats number 12")).to_be_visible()
    transcript = page.locator("#transcript")
    said = transcript.locator(".event.user").filter(has_text="ann@example.com")
    await expect(said).to_be_visible()
    # The buttons and quick replies the bot showed.
    await expect(transcript.locator(".choices li", has_text="Get a quote").first).to_be_visible()
    await expect(transcript.locator(".choices li", has_text="Business")).to_be_visible()
    # The backend actions between the bubbles.
    await expect(transcript.get_by_text("Module entered: quote", exact=True)).to_be_visible()
    await expect(transcript.get_by_text("Property set: email = ann@example.com")).to_be_visible()
    refused = transcript.locator(".event.problem", has_text="Value refused for seats: 'many'")
    await expect(refused).to_be_visible()
    await expect(refused.locator(".why")).not_to_be_empty()
    crm = transcript.locator(".event", has_text="API call: crm_lookup")
    await expect(crm).to_contain_text("failed: connection")
    await expect(crm).to_contain_text("Latency")
    await check_accessibility(page)
    await screenshot(page, "profile")

    backend = transcript.locator(".backend")
    toggle = page.get_by_label("Show backend actions")
    await toggle.uncheck()
    await expect(backend.first).to_be_hidden()
    await expect(transcript.locator(".event.user").first).to_be_visible()
    await toggle.check()
    await expect(backend.first).to_be_visible()


async def test_older_events_load_as_the_page_scrolls(page: Page, web_server: WebServer,
                                                     db: Database) -> None:
    bot_id, user = f"web-scroll-{uuid.uuid4().hex[:6]}", "chatty"
    await CaptureStore.of(db).ingest([ev.user_message(bot_id, user, f"message {i:03d}")
                                      for i in range(120)])
    await sign_in(page, web_server)
    await page.goto(f"{web_server.url}/bots/{bot_id}/users/{user}")
    bubbles = page.locator("#transcript .event")
    await expect(bubbles).to_have_count(50)
    for shown in (100, 120):
        await page.locator("#older").scroll_into_view_if_needed()
        await expect(bubbles).to_have_count(shown)
    await expect(page.get_by_text("The start of the conversation.")).to_be_visible()
    texts = await page.locator("#transcript .event .title").all_inner_texts()
    assert texts == [f"message {i:03d}" for i in reversed(range(120))]


async def test_take_over_send_see_it_live_and_assign_back(
        page: Page, browser: Browser, web_server: WebServer, db: Database, talked: str) -> None:
    channel = web_server.app[DUMMY]
    await sign_in(page, web_server)
    profile_url = f"{web_server.url}/bots/{LEADS}/users/{talked}"
    await page.goto(profile_url)
    # A second agent, with a key of their own, has the same user open.
    other_context = await browser.new_context()
    other = await other_context.new_page()
    try:
        await sign_in(other, web_server, await new_key(db, "editor", LEADS))
        await other.goto(profile_url)

        await page.get_by_label("Your name").fill("Alice")
        await page.get_by_role("button", name="Start Chat").click()
        await expect(page.locator("#holder")).to_have_text("Alice")
        await expect(other.locator("#holder")).to_have_text("Alice")  # live
        await page.get_by_label("Message").fill("Hello, Alice here")
        await page.get_by_role("button", name="Send").click()
        for seen_by in (page, other):
            await expect(seen_by.locator("#transcript .event.agent").first).to_contain_text(
                "Hello, Alice here")
        await expect(page.get_by_label("Message")).to_have_value("")

        # The user writes back: the bot stays silent, both agents see it at once.
        replies = await channel.receive(LEADS, talked, channel="web", text="thanks Alice")
        assert replies == []
        for seen_by in (page, other):
            await expect(seen_by.locator("#transcript .event.user .title").first).to_have_text(
                "thanks Alice", timeout=10_000)
        await check_accessibility(page)
        await screenshot(page, "takeover")

        await page.get_by_role("button", name="Assign to Bot").click()
        await expect(page.locator("#holder")).to_have_text("the bot")
        await expect(page.get_by_role("button", name="Start Chat")).to_be_visible()
        await settled(page)
        replies = await channel.receive(LEADS, talked, channel="web", text="hi")
        assert replies  # the bot answers again
    finally:
        await other_context.close()


async def test_a_viewer_cannot_take_over(page: Page, web_server: WebServer, db: Database,
                                         talked: str) -> None:
    await sign_in(page, web_server, await new_key(db, "viewer", LEADS))
    await page.goto(f"{web_server.url}/bots/{LEADS}/users/{talked}")
    await expect(page.get_by_role("heading", name="Conversation held by")).to_be_visible()
    for name in ("Start Chat", "Send", "Assign to Bot"):
        await expect(page.get_by_role("button", name=name)).to_have_count(0)
    csrf = await page.evaluate("JSON.parse(document.body.getAttribute('hx-headers'))")
    refused = await page.request.post(
        f"{web_server.url}/bots/{LEADS}/users/{talked}/takeover", form={"agent": "Mallory"},
        headers=csrf, max_redirects=0)
    assert refused.status == 403
    await page.reload()
    await expect(page.locator("#holder")).to_have_text("the bot")
