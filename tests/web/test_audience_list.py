"""The audience list in the browser: columns, sort, keyset pages, rows per
page, search, the Total status, and user text shown as text."""

from __future__ import annotations

import pytest_asyncio
from playwright.async_api import Page, expect

from plugin.db.database import Database
from tests.web.conftest import WebServer, check_accessibility, screenshot, sign_in
from tests.web.seeding import XSS_NAME, new_bot_id, seed_users

NAMES = ["Ada", "Bo", "Chen", "Dara", "Eli", "Fatima", "Gus", "Hana", "Ivo", "Jun", "Kai", "Lea"]


@pytest_asyncio.fixture(scope="module")
async def shop(db: Database) -> str:
    bot_id = new_bot_id("list")
    people = {}
    for n in range(23):
        facts = {"channel": ["web", "whatsapp", "messenger"][n % 3], "messages": 1 + n % 4,
                 "first_name": NAMES[n % len(NAMES)]}
        if n % 2 == 0:
            facts["email"] = f"{NAMES[n % len(NAMES)].lower()}{n}@example.com"
        if n % 3 == 0:
            facts["phone"] = f"+447946000{n:03d}"
        people[f"user-{n:02d}"] = facts
    people["mallory"] = {"first_name": XSS_NAME, "email": "mallory@evil.example"}
    await seed_users(db, bot_id, people)
    return bot_id


async def user_ids(page: Page) -> list[str]:
    links = page.locator("table.audience tbody tr a")
    return [(await links.nth(i).get_attribute("href") or "").rsplit("/", 1)[-1]
            for i in range(await links.count())]


async def test_the_list_shows_the_default_columns_and_the_total(
        page: Page, web_server: WebServer, shop: str) -> None:
    dialogs: list[str] = []
    page.on("dialog", lambda d: dialogs.append(d.message))
    await sign_in(page, web_server)
    await page.goto(f"{web_server.url}/bots/{shop}/audience")
    headers = page.get_by_role("columnheader")
    # An editor's list starts with the selection column.
    await expect(headers).to_have_text(["Selected", "Name", "Email", "Phone", "Channel",
                                        "Last message time"])
    await expect(page.get_by_role("status", name="Total")).to_have_text("24 users")
    await expect(page.get_by_role("row")).to_have_count(1 + 24)
    # Whatever a user typed is text: the name is shown, no image is made, nothing runs.
    await expect(page.get_by_role("link", name=XSS_NAME)).to_be_visible()
    assert await page.locator("table img").count() == 0 and dialogs == []
    await check_accessibility(page)
    await screenshot(page, "audience-list")
    # And on the user's own page.
    await page.get_by_role("link", name=XSS_NAME).click()
    await expect(page.get_by_role("heading", name=f"{XSS_NAME} (mallory)")).to_be_visible()
    assert await page.locator("main img").count() == 0 and dialogs == []


async def test_keyset_pages_forward_and_back(page: Page, web_server: WebServer,
                                            shop: str) -> None:
    await sign_in(page, web_server)
    await page.goto(f"{web_server.url}/bots/{shop}/audience")
    await page.get_by_label("Rows per page").select_option("10")
    await expect(page.get_by_role("row")).to_have_count(11)
    first = await user_ids(page)
    await expect(page.get_by_role("link", name="Previous page")).to_have_count(0)
    await page.get_by_role("link", name="Next page").click()
    await expect(page.get_by_role("link", name="Previous page")).to_be_visible()
    second = await user_ids(page)
    assert len(second) == 10 and not set(first) & set(second)
    await page.get_by_role("link", name="Next page").click()
    await expect(page.get_by_role("link", name="Next page")).to_have_count(0)
    third = await user_ids(page)
    assert len(third) == 4 and not set(third) & (set(first) | set(second))
    await page.get_by_role("link", name="Previous page").click()
    await expect(page.get_by_role("link", name="Next page")).to_be_visible()
    assert await user_ids(page) == second
    await page.get_by_role("link", name="Previous page").click()
    await expect(page.get_by_role("link", name="Previous page")).to_have_count(0)
    assert await user_ids(page) == first
    await expect(page.get_by_role("status", name="Total")).to_have_text("24 users")


async def test_sorting_by_a_column(page: Page, web_server: WebServer, shop: str) -> None:
    await sign_in(page, web_server)
    await page.goto(f"{web_server.url}/bots/{shop}/audience")
    await page.get_by_role("link", name="Email").click()
    email_header = page.get_by_role("columnheader", name="Email")
    await expect(email_header).to_have_attribute("aria-sort", "ascending")
    cells = page.locator("table.audience tbody tr td:nth-child(3)")
    shown = [t for t in await cells.all_inner_texts() if t != "—"]
    assert shown == sorted(shown) and len(shown) == 13
    await page.get_by_role("link", name="Email").click()
    await expect(email_header).to_have_attribute("aria-sort", "descending")
    shown = [t for t in await cells.all_inner_texts() if t != "—"]
    assert shown == sorted(shown, reverse=True)


async def test_search_narrows_the_list_and_the_total(page: Page, web_server: WebServer,
                                                    shop: str) -> None:
    await sign_in(page, web_server)
    await page.goto(f"{web_server.url}/bots/{shop}/audience")
    await page.get_by_label("Search users").fill("ada")
    # Ada is users 0 and 12; 0 has an email ada0@…, 12 has ada12@…: both found by name.
    await expect(page.get_by_role("status", name="Total")).to_have_text("2 users")
    assert sorted(await user_ids(page)) == ["user-00", "user-12"]
    await page.get_by_label("Search users").fill("+44794600000")
    await expect(page.get_by_role("status", name="Total")).to_have_text("4 users")
    assert "q=%2B44794600000" in page.url


async def test_the_columns_control_chooses_columns(page: Page, web_server: WebServer,
                                                  shop: str) -> None:
    await sign_in(page, web_server)
    await page.goto(f"{web_server.url}/bots/{shop}/audience")
    await page.get_by_text("Columns", exact=True).first.click()
    columns = page.get_by_role("group", name="Columns")
    await columns.get_by_label("Phone").uncheck()
    await expect(page.get_by_role("columnheader", name="Phone")).to_have_count(0)
    await page.get_by_text("Columns", exact=True).first.click()
    await page.get_by_role("group", name="Columns").get_by_label("Message count").check()
    await expect(page.get_by_role("columnheader", name="Message count")).to_be_visible()
    # The choice is in the URL: a reload keeps it.
    await page.reload()
    await expect(page.get_by_role("columnheader")).to_have_text(
        ["Selected", "Name", "Email", "Channel", "Last message time", "Message count"])
