"""Segments beside the list: save the filter as a segment, star favourites,
select users and add them to a static segment, open a segment; and a
viewer, who sees none of the controls and whose requests are refused."""

from __future__ import annotations

import json
from typing import Any

import pytest_asyncio
from playwright.async_api import Page, expect

from plugin.audience import segments
from plugin.db.database import Database
from tests.web.conftest import WebServer, check_accessibility, new_key, screenshot, sign_in
from tests.web.seeding import new_bot_id, seed_users


@pytest_asyncio.fixture(scope="module")
async def shop(db: Database) -> str:
    bot_id = new_bot_id("segments")
    people: dict[str, dict[str, Any]] = {}
    for n in range(12):
        facts: dict[str, Any] = {"first_name": f"Person{n:02d}"}
        if n % 2 == 0:
            facts["email"] = f"p{n}@example.com"
        people[f"p{n:02d}"] = facts
    await seed_users(db, bot_id, people)
    return bot_id


async def test_save_the_filter_as_a_segment_and_star_it(page: Page, web_server: WebServer,
                                                        shop: str) -> None:
    await sign_in(page, web_server)
    await page.goto(f"{web_server.url}/bots/{shop}/audience?p1=email&o1=is_set")
    await page.get_by_label("Segment name").fill("Has email")
    await page.get_by_role("button", name="Save as segment").click()
    await expect(page.get_by_role("heading", name="Segment Has email (dynamic)")).to_be_visible()
    await expect(page.get_by_role("status", name="Total")).to_have_text("6 users")
    await page.goto(f"{web_server.url}/bots/{shop}/audience")
    await page.get_by_label("Segment name").fill("A to Z")
    await page.get_by_role("button", name="Save as segment").click()
    await expect(page.get_by_role("status", name="Total")).to_have_text("12 users")

    listed = page.get_by_role("navigation", name="Segments").get_by_role("listitem")
    await expect(listed).to_have_count(2)
    await expect(listed.first).to_contain_text("A to Z")
    star = page.get_by_role("button", name="Star Has email")
    await expect(star).to_have_attribute("aria-pressed", "false")
    await star.click()
    unstar = page.get_by_role("button", name="Unstar Has email")
    await expect(unstar).to_have_attribute("aria-pressed", "true")
    # Favourites first, each with its count.
    await expect(listed.first).to_contain_text("Has email")
    await expect(listed.first).to_contain_text("6")
    await check_accessibility(page)
    await screenshot(page, "segments")
    await unstar.click()
    await expect(page.get_by_role("button", name="Star Has email")).to_be_visible()
    await expect(listed.first).to_contain_text("A to Z")


async def test_selected_users_and_all_matching_go_to_a_static_segment(
        page: Page, web_server: WebServer, shop: str) -> None:
    await sign_in(page, web_server)
    await page.goto(f"{web_server.url}/bots/{shop}/audience")
    await page.get_by_label("Select Person03").check()
    await page.get_by_label("Select Person05").check()
    await page.get_by_label("Static segment").select_option(label="New segment…")
    await page.get_by_label("Name of the new segment").fill("Follow up")
    await page.get_by_role("button", name="Add to segment").click()
    await expect(page.get_by_role("heading", name="Segment Follow up (static)")).to_be_visible()
    await expect(page.get_by_role("status", name="Total")).to_have_text("2 users")

    # Everyone without email, all of them, into the same segment.
    await page.goto(f"{web_server.url}/bots/{shop}/audience?p1=email&o1=is_not_set&limit=10")
    await expect(page.get_by_role("button", name="Select all 6 matching")).to_be_hidden()
    await page.get_by_label("Select all on this page").check()
    matching = page.get_by_role("button", name="Select all 6 matching")
    await matching.click()
    await expect(matching).to_have_attribute("aria-pressed", "true")
    await page.get_by_label("Static segment").select_option(label="Follow up")
    await page.get_by_role("button", name="Add to segment").click()
    await expect(page.get_by_role("status", name="Total")).to_have_text("6 users")
    assert "segment=" in page.url
    # Filtering within an open segment narrows its members.
    await page.goto(page.url + "&p1=first_name&o1=equals&v1=Person03")
    await expect(page.get_by_role("status", name="Total")).to_have_text("1 user")


async def test_a_viewer_sees_no_write_control_and_is_refused_anyway(
        page: Page, web_server: WebServer, db: Database, shop: str) -> None:
    created = await segments.create_segment(db, shop, {
        "name": "Viewer sees", "kind": "dynamic", "filter": {"conditions": []}})
    key = await new_key(db, "viewer", shop)
    await sign_in(page, web_server, key)
    await page.goto(f"{web_server.url}/bots/{shop}/audience")
    await expect(page.get_by_role("link", name="Viewer sees")).to_be_visible()
    for name in ("Save as segment", "Add to segment", "Star Viewer sees"):
        await expect(page.get_by_role("button", name=name)).to_have_count(0)
    await expect(page.get_by_role("checkbox", name="Select all on this page")).to_have_count(0)
    await expect(page.locator("input.select-user")).to_have_count(0)
    await check_accessibility(page)
    await screenshot(page, "viewer")
    # With its own valid CSRF token, the viewer's request is still refused.
    headers = json.loads(await page.locator("body").get_attribute("hx-headers") or "{}")
    refused = await page.request.post(
        f"{web_server.url}/bots/{shop}/segments/{created['id']}/star",
        form={"favourite": "true"}, headers=headers, max_redirects=0)
    assert refused.status == 403
    assert "editor" in await refused.text()
    assert not (await segments.get_segment(db, shop, created["id"]))["favourite"]
