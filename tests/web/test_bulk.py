"""Bulk actions from the audience list, in the browser: a broadcast to a
segment composed with buttons and quick replies, previewed per channel
(Messenger keeps three buttons, WhatsApp numbers the quick replies), confirmed
with the number of recipients (stated again when it changed before the send)
and followed on the jobs page until done; and
a property value of the wrong type refused in the dialog, naming the field,
with no job started; a workflow run for the users ticked."""

from __future__ import annotations

import re

import pytest_asyncio
from playwright.async_api import Page, expect

from plugin.audience import segments
from plugin.core import constants as c
from plugin.handover.takeover import take_over
from plugin.http.appkeys import CONNECTORS
from tests.web.conftest import WebServer, check_accessibility, screenshot, settled, sign_in
from tests.web.seeding import deploy_example_bot, new_bot_id, seed_users

PEOPLE = {"ann": ("Ann", "web"), "bob": ("Bob", "messenger"), "cem": ("Cem", "whatsapp"),
          "dan": ("Dan", "web")}


@pytest_asyncio.fixture(scope="module")
async def launch(web_server: WebServer) -> tuple[str, str]:
    """A bot deployed on the dummy channel, four users who came through it, and
    a static segment "Launch" of three of them, one held by a human agent, and
    of a test user (hidden from the list, so left out)."""
    bot_id = new_bot_id("bulk")
    await deploy_example_bot(web_server, bot_id)
    await seed_users(web_server.db, bot_id, {
        user: {"first_name": name, "channel": channel, "source": "dummy"}
        for user, (name, channel) in PEOPLE.items()})
    await seed_users(web_server.db, bot_id, {"tess": {"first_name": "Tess",
                                                      "source": "simulator"}})
    segment = await segments.create_segment(web_server.db, bot_id, {
        "name": "Launch", "kind": "static", "user_ids": ["ann", "bob", "cem", "tess"]})
    await take_over(web_server.db, web_server.app[CONNECTORS], bot_id, "cem", "kim")
    return bot_id, segment["id"]


async def test_a_broadcast_to_a_segment_is_previewed_confirmed_and_followed_to_done(
        page: Page, web_server: WebServer, launch: tuple[str, str]) -> None:
    bot_id, segment_id = launch
    await sign_in(page, web_server)
    await page.goto(f"{web_server.url}/bots/{bot_id}/audience?segment={segment_id}")
    await page.get_by_role("button", name="Broadcast").click()
    dialog = page.get_by_role("dialog", name="Broadcast a message")
    await expect(dialog.get_by_text("The members of segment “Launch”, test users left out")
                 ).to_be_visible()
    send = dialog.get_by_role("button", name="Send to 3 users")
    await expect(send).to_be_visible()
    await settled(page)  # the preview updates as the fields change, once htmx has wired them

    await dialog.get_by_label("Message").fill("We launch today")
    await dialog.get_by_label("Buttons").fill("One | ONE\nTwo\nThree\nFour | FOUR")
    await dialog.get_by_label("Quick replies").fill("Yes\nNo")
    web = dialog.get_by_role("region", name="Web")
    messenger = dialog.get_by_role("region", name="Messenger")
    whatsapp = dialog.get_by_role("region", name="WhatsApp")
    await expect(web.get_by_role("list", name="Buttons").get_by_role("listitem")).to_have_count(4)
    # Messenger: three buttons, the fourth a numbered option; its quick replies kept.
    await expect(messenger.get_by_role("list", name="Buttons").get_by_role("listitem")
                 ).to_have_text(["One", "Two", "Three"])
    await expect(messenger).to_contain_text("1. Four")
    await expect(messenger.get_by_role("list", name="Quick replies")).to_be_visible()
    # WhatsApp has no quick replies: numbered options, after the extra button.
    await expect(whatsapp).to_contain_text("2. Yes")
    await expect(whatsapp).to_contain_text("3. No")
    await expect(whatsapp.get_by_role("list", name="Quick replies")).to_have_count(0)
    await check_accessibility(page)
    await screenshot(page, "broadcast-composer")

    # Someone adds a member meanwhile: nothing is sent, the new count is stated.
    await segments.add_members(web_server.db, bot_id, segment_id, ["dan"])
    await send.click()
    await expect(dialog.get_by_role("alert")).to_contain_text("it is now 4 users")
    send = dialog.get_by_role("button", name="Send to 4 users")
    await send.click()
    await expect(page).to_have_url(re.compile(rf"/bots/{bot_id}/jobs\?started=\w+$"))
    await expect(page.get_by_role("heading", name="Jobs of Acme lead capture")).to_be_visible()
    await expect(page.get_by_role("status")).to_contain_text("Broadcast started for 4 users")
    row = page.get_by_role("row").filter(has_text="We launch today")
    await expect(row.get_by_role("cell").nth(2)).to_have_text("done", timeout=15_000)
    cells = row.get_by_role("cell")
    # Sent, skipped (the user a human holds), failed.
    await expect(cells.nth(4)).to_have_text("3")
    await expect(cells.nth(5)).to_have_text("1")
    await expect(cells.nth(6)).to_have_text("0")
    await expect(cells.nth(0)).to_have_text("admin key (admin)")
    await expect(cells.nth(1)).to_have_text("Segment “Launch”, test users left out")
    await expect(row.get_by_role("button", name="Cancel")).to_have_count(0)
    await check_accessibility(page)


async def test_a_wrong_value_is_refused_and_a_workflow_runs_for_the_ticked_users(
        page: Page, web_server: WebServer, launch: tuple[str, str]) -> None:
    bot_id, _ = launch
    await sign_in(page, web_server)
    await page.goto(f"{web_server.url}/bots/{bot_id}/audience")
    await page.get_by_label("Select Ann").check()
    await page.get_by_label("Select Dan").check()
    await page.get_by_role("button", name="Update property").click()
    dialog = page.get_by_role("dialog", name="Update a property")
    await expect(dialog.get_by_label("Property")).to_be_visible()
    await settled(page)  # htmx has wired the form it swapped in: a change now asks
    await dialog.get_by_label("Property").select_option(label="Seats (number)")
    await expect(dialog.get_by_text("A number, such as 12")).to_be_visible()
    await dialog.get_by_label("Value", exact=True).fill("many")
    await dialog.get_by_role("button", name="Update 2 users").click()
    alert = dialog.get_by_role("alert")
    await expect(alert).to_contain_text("Value: 'many' is not a number")
    await check_accessibility(page)
    assert await web_server.db[c.JOBS].count_documents(
        {"bot_id": bot_id, "kind": "bulk_update"}) == 0

    # The same two users, a module of the deployed bot started for each.
    await dialog.get_by_role("button", name="Close").click()
    await page.get_by_role("button", name="Run workflow").click()
    dialog = page.get_by_role("dialog", name="Run a workflow")
    await expect(dialog.get_by_label("Module")).to_be_visible()
    await settled(page)
    await dialog.get_by_label("Module").select_option("welcome")
    await check_accessibility(page)
    await dialog.get_by_role("button", name="Run for 2 users").click()
    row = page.get_by_role("row").filter(has_text="Module welcome")
    await expect(row.get_by_role("cell").nth(2)).to_have_text("done", timeout=15_000)
    await expect(row.get_by_role("cell").nth(1)).to_have_text("2 selected users")
    await expect(row.get_by_role("cell").nth(4)).to_have_text("2")
