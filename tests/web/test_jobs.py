"""The jobs page in the browser: a running broadcast's progress shows live
(the page polls while a job is active) up to done, for a viewer too, who
cannot cancel; an editor cancels a running one; who started each is shown."""

from __future__ import annotations

import json

from playwright.async_api import Page, expect

from plugin.jobs import actions as bulk
from plugin.jobs.lifecycle import get_job
from tests.web.conftest import WebServer, check_accessibility, new_key, screenshot, sign_in
from tests.web.seeding import deploy_example_bot, new_bot_id, seed_users

EVERYONE = {"filter": {"conditions": []}}
STARTER = {"key_id": "0123456789abcdef", "label": "Kim's key", "role": "editor"}


async def test_progress_shows_live_and_a_running_job_is_cancelled(
        page: Page, web_server: WebServer) -> None:
    db, bot_id = web_server.db, new_bot_id("jobs")
    await deploy_example_bot(web_server, bot_id)
    await seed_users(db, bot_id, {u: {"first_name": u.title(), "source": "dummy"}
                                  for u in ("ann", "bob", "cem")})
    await sign_in(page, web_server, await new_key(db, "viewer", bot_id))
    # Three users, one a second: running for about two seconds, while the page looks.
    paced = await bulk.broadcast(db, bot_id, {"audience": EVERYONE, "message": {
        "text": "Paced news"}, "rate_per_second": 1}, started_by=STARTER)
    await page.goto(f"{web_server.url}/bots/{bot_id}/jobs")
    row = page.get_by_role("row").filter(has_text="Paced news")
    cells = row.get_by_role("cell")
    await expect(cells.nth(0)).to_have_text("Kim's key (editor)")
    await expect(cells.nth(1)).to_have_text("Everyone")
    await expect(cells.nth(2)).to_have_text("running")
    await check_accessibility(page)
    # A viewer sees no Cancel, and a cancel sent anyway is refused.
    await expect(page.get_by_role("button", name="Cancel")).to_have_count(0)
    token = json.loads(await page.locator("body").get_attribute("hx-headers") or "{}")
    refused = await page.request.post(
        f"{web_server.url}/bots/{bot_id}/jobs/{paced['_id']}/cancel", headers=token)
    assert refused.status == 403 and "editor" in await refused.text()
    # No reload: the page asks for the table again until the job is done.
    await expect(cells.nth(2)).to_have_text("done", timeout=10_000)
    await expect(cells.nth(3)).to_contain_text("3 of 3")
    await expect(cells.nth(4)).to_have_text("3")
    assert (await get_job(db, paced["_id"]))["done"] == 3
    await screenshot(page, "jobs")

    await page.get_by_role("button", name="Sign out").click()
    await sign_in(page, web_server, await new_key(db, "editor", bot_id))
    # One user every ten seconds: still running when cancelled.
    slow = await bulk.broadcast(db, bot_id, {"audience": EVERYONE, "message": {
        "text": "Slow news"}, "rate_per_second": 0.1})
    await page.goto(f"{web_server.url}/bots/{bot_id}/jobs")
    row = page.get_by_role("row").filter(has_text="Slow news")
    await expect(row.get_by_role("cell").nth(2)).to_have_text("running")
    await expect(row.get_by_role("cell").nth(0)).to_have_text("—")  # not recorded
    await row.get_by_role("button", name="Cancel").click()
    await expect(row.get_by_role("cell").nth(2)).to_have_text("cancelled")
    await expect(row.get_by_role("button", name="Cancel")).to_have_count(0)
    cancelled = await get_job(db, slow["_id"])
    assert cancelled["status"] == "cancelled" and cancelled["done"] < 3
