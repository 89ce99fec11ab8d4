"""CRM sync in the browser: a webhook added in the page receives signed
deliveries on a real receiver on loopback once events are captured, its
secret shown once; pausing holds deliveries back, resuming sends them; the
delivery log shows each attempt; dead-lettered deliveries are replayed one
by one and all at once. Changes need the editor role, as in the API; only an
admin sees what a receiver answered."""

from __future__ import annotations

import asyncio
import json
import re

from playwright.async_api import Page, expect

from plugin.audience import segments
from plugin.capture.store import CaptureStore
from plugin.core import events as ev
from plugin.crm import webhooks
from plugin.crm.outbox import SIGNATURE_HEADER, verify_signature
from plugin.crm.store import WebhookStore
from plugin.db.database import Database
from tests.loopback import receiving
from tests.web.conftest import WebServer, check_accessibility, new_key, screenshot, sign_in
from tests.web.seeding import new_bot_id, seed_users


async def say(db: Database, bot_id: str, user: str, text: str) -> None:
    await CaptureStore.of(db).ingest([ev.user_message(bot_id, user, text)])


async def test_a_webhook_added_in_the_page_receives_signed_deliveries_and_pauses(
        page: Page, web_server: WebServer, db: Database) -> None:
    bot_id = new_bot_id("hooks")
    await seed_users(db, bot_id, {"ana": {"first_name": "Ana"}, "ben": {}})
    await segments.create_segment(db, bot_id, {"name": "Ana only", "kind": "static",
                                               "user_ids": ["ana"]})
    async with receiving() as receiver:
        # Connecting the CRM is an editor's work.
        await sign_in(page, web_server, await new_key(db, "editor", bot_id))
        await page.goto(f"{web_server.url}/bots/{bot_id}/integrations")
        await expect(page.get_by_text("No webhook yet.")).to_be_visible()
        await page.get_by_role("button", name="Add webhook").click()
        dialog = page.get_by_role("dialog", name="Add webhook")
        await expect(dialog).to_be_visible()
        await check_accessibility(page)

        # Refused, with the field named, and nothing made.
        await dialog.get_by_label("Webhook URL").fill("http://crm:pass@127.0.0.1/hook")
        await dialog.get_by_role("button", name="Create webhook").click()
        await expect(dialog.get_by_role("alert")).to_contain_text(
            "Webhook URL: 'url' must not carry credentials")
        assert await webhooks.list_webhooks(db, bot_id) == []

        await dialog.get_by_label("Webhook URL").fill(receiver.url)
        await dialog.get_by_label("Profile created").uncheck()
        await dialog.get_by_label("Profile updated").uncheck()
        await dialog.get_by_label("Message received").check()
        await dialog.get_by_label("Audience").select_option(label="Segment Ana only")
        await dialog.get_by_role("button", name="Create webhook").click()
        await expect(dialog).to_be_hidden()
        secret = await page.get_by_label("Secret").input_value()
        assert re.fullmatch(r"[0-9a-f]{64}", secret)
        await screenshot(page, "integrations")
        row = page.get_by_role("row").filter(has_text=receiver.url)
        await expect(row).to_contain_text("Message received")
        await expect(row).to_contain_text("Segment Ana only")
        await expect(row.get_by_role("cell").nth(3)).to_have_text("Active")

        await say(db, bot_id, "ben", "not in the audience")
        await say(db, bot_id, "ana", "hello CRM")
        await receiver.wait_for(lambda: len(receiver.requests) == 1)
        first = receiver.requests[0]
        verify_signature(secret, first.headers.get(SIGNATURE_HEADER), first.body)
        assert (first.json["event"], first.json["data"]["text"]) == ("message.received",
                                                                     "hello CRM")

        await page.reload()  # the secret was shown once
        await expect(page.get_by_role("heading", name="Webhooks")).to_be_visible()
        await expect(page.get_by_label("Secret")).to_have_count(0)

        await row.get_by_role("button", name="Pause").click()
        await expect(row.get_by_role("cell").nth(3)).to_have_text("Paused")
        await say(db, bot_id, "ana", "while paused")
        await asyncio.sleep(0.6)  # the worker looks every 0.2 s
        assert len(receiver.requests) == 1
        await page.reload()
        await expect(row.get_by_role("cell").nth(4)).to_have_text("1")  # pending
        await row.get_by_role("button", name="Resume").click()
        await expect(row.get_by_role("cell").nth(3)).to_have_text("Active")
        await receiver.wait_for(lambda: len(receiver.requests) == 2)
        assert json.loads(receiver.requests[1].body)["data"]["text"] == "while paused"

        await row.get_by_role("link", name="Delivery log").click()
        deliveries = page.get_by_role("table", name="Deliveries, newest first")
        await expect(deliveries.get_by_role("row").filter(has_text="ana")).to_have_count(2)
        await expect(deliveries.get_by_role("row").filter(has_text="ben")).to_contain_text(
            "Skipped")
        await expect(deliveries.get_by_role("row").nth(1)).to_contain_text(
            "delivered, HTTP 200")
        await expect(page.get_by_role("list", name="Deliveries by state").get_by_role(
            "listitem")).to_have_text(["Pending: 0", "Delivered: 2", "Dead: 0", "Skipped: 1"])
        await check_accessibility(page)
        await screenshot(page, "delivery-log")


async def test_dead_deliveries_are_replayed_and_viewers_change_nothing(
        page: Page, web_server: WebServer, db: Database) -> None:
    bot_id = new_bot_id("dead")
    await seed_users(db, bot_id, {"ana": {}, "ben": {}})
    # Each delivery gives up after 4 attempts (the session server's setting):
    # the first 8 requests fail, so both deliveries end dead.
    async with receiving(lambda n, r: 500 if n < 8 else 200) as receiver:
        hook = await webhooks.create_webhook(db, bot_id, {
            "url": receiver.url, "events": ["message.received"]}, allow_private=True)
        await say(db, bot_id, "ana", "first")
        await say(db, bot_id, "ben", "second")
        for _ in range(100):
            counts = await WebhookStore.of(db).count_deliveries(hook["id"])
            if counts["dead"] == 2:
                break
            await asyncio.sleep(0.1)
        assert counts["dead"] == 2

        await sign_in(page, web_server)
        await page.goto(f"{web_server.url}/bots/{bot_id}/integrations")
        await expect(page.get_by_role("row").filter(has_text=receiver.url)
                     .get_by_role("cell").nth(5)).to_have_text("2")  # dead
        await page.get_by_role("link", name="Delivery log").click()
        log = page.get_by_role("table", name="Deliveries, newest first")
        ana = log.get_by_role("row").filter(has_text="ana")
        await expect(ana).to_contain_text("Dead")
        # Each attempt, with what the receiver answered (admins see it).
        await expect(ana.get_by_role("listitem")).to_have_count(4)
        await expect(ana.get_by_role("listitem").first).to_contain_text(
            "HTTP 500: receiver says no")
        await check_accessibility(page)

        await ana.get_by_role("button", name="Replay").click()
        await expect(page.get_by_role("status")).to_have_text("The delivery is queued again.")
        await receiver.wait_for(lambda: len(receiver.requests) == 9)
        assert json.loads(receiver.requests[8].body)["data"]["text"] == "first"
        ben = log.get_by_role("row").filter(has_text="ben")
        await expect(ben).to_contain_text("Dead")
        await page.get_by_role("button", name="Replay all dead").click()
        await expect(page.get_by_role("status")).to_have_text(
            "1 dead delivery is queued again.")
        await receiver.wait_for(lambda: len(receiver.requests) == 10)
        assert json.loads(receiver.requests[9].body)["data"]["text"] == "second"
        # The log polls while deliveries are pending, and shows them delivered.
        await expect(ana).to_contain_text("Delivered", timeout=8000)
        await expect(ben).to_contain_text("Delivered")
        await expect(page.get_by_role("button", name="Replay all dead")).to_be_disabled()

    # A viewer sees the log, no control, and is refused anyway; an editor may
    # not define properties (that is an admin's).
    await page.get_by_role("button", name="Sign out").click()
    await sign_in(page, web_server, await new_key(db, "viewer", bot_id))
    await page.goto(f"{web_server.url}/bots/{bot_id}/integrations/webhooks/{hook['id']}")
    await expect(log.get_by_role("row")).to_have_count(3)
    for name in ("Replay", "Replay all dead", "Pause"):
        await expect(page.get_by_role("button", name=name)).to_have_count(0)
    headers = json.loads(await page.locator("body").get_attribute("hx-headers") or "{}")
    refused = await page.request.post(
        f"{web_server.url}/bots/{bot_id}/integrations/webhooks/{hook['id']}/active",
        form={"active": "false"}, headers=headers, max_redirects=0)
    assert refused.status == 403 and "editor" in await refused.text()
    await page.get_by_role("button", name="Sign out").click()
    await sign_in(page, web_server, await new_key(db, "editor", bot_id))
    headers = json.loads(await page.locator("body").get_attribute("hx-headers") or "{}")
    refused = await page.request.post(f"{web_server.url}/bots/{bot_id}/properties",
                                      form={"name": "tier", "type": "text"}, headers=headers,
                                      max_redirects=0)
    assert refused.status == 403 and "admin" in await refused.text()
    assert (await webhooks.get_webhook(db, bot_id, hook["id"]))["active"]
