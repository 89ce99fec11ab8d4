"""The filter builder in the browser: numbered conditions with operators of
their type, per-condition match counts, the expression, its errors, the
filter in the URL, and all of it with the keyboard alone."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest_asyncio
from playwright.async_api import Page, expect

from plugin.db.database import Database
from tests.web.conftest import (
    WEB_ADMIN_KEY,
    WebServer,
    check_accessibility,
    rebuilding,
    screenshot,
    settled,
    sign_in,
)
from tests.web.seeding import new_bot_id, seed_users


@pytest_asyncio.fixture(scope="module")
async def shop(db: Database) -> str:
    bot_id = new_bot_id("filter")
    people: dict[str, dict[str, Any]] = {}
    for n in range(30):
        facts: dict[str, Any] = {"channel": ["web", "whatsapp", "messenger"][n % 3],
                                 "messages": 1 + n % 5}
        if n % 2 == 0:
            facts["email"] = f"u{n}@example.com"
        if n % 3 == 0:
            facts["phone"] = f"+447946001{n:03d}"
        people[f"u{n:02d}"] = facts
    await seed_users(db, bot_id, people)
    return bot_id


async def api_count(server: WebServer, bot_id: str, filter_: dict[str, Any]) -> int:
    async with aiohttp.ClientSession() as session, session.post(
            f"{server.url}/v1/bots/{bot_id}/audience/count", json={"filter": filter_},
            headers={"Authorization": f"Bearer {WEB_ADMIN_KEY}"}) as response:
        assert response.status == 200
        return int((await response.json())["total"])


async def add_condition(page: Page, n: int, prop: str, operator: str,
                        value: str | None = None) -> None:
    await page.get_by_role("button", name="Add condition").click()
    await expect(page.get_by_label(f"Condition {n} property")).to_be_visible()
    await settled(page)  # htmx has bound the new row's controls
    async with rebuilding(page):
        await page.get_by_label(f"Condition {n} property").select_option(label=prop)
    if await page.get_by_label(f"Condition {n} operator").input_value() != operator:
        async with rebuilding(page):
            await page.get_by_label(f"Condition {n} operator").select_option(operator)
    await expect(page.get_by_label(f"Condition {n} property")).to_have_value(
        prop.lower().replace(" ", "_"))
    await expect(page.get_by_label(f"Condition {n} operator")).to_have_value(operator)
    if value is not None:
        await page.get_by_label(f"Condition {n} value").fill(value)
        await page.get_by_label(f"Condition {n} value").press("Enter")
        await settled(page)


async def test_1_and_2_or_3_matches_the_api_and_each_row_counts_alone(
        page: Page, web_server: WebServer, shop: str) -> None:
    await sign_in(page, web_server)
    await page.goto(f"{web_server.url}/bots/{shop}/audience")
    total = page.get_by_role("status", name="Total")
    await expect(total).to_have_text("30 users")
    await add_condition(page, 1, "Email", "is_set")
    await add_condition(page, 2, "Phone", "is_set")
    await expect(page.get_by_label("Filter expression")).to_have_value("1 and 2")
    await expect(total).to_have_text("5 users")  # n divisible by 6
    # Only the operators of the property's type are offered.
    operators = page.get_by_label("Condition 2 operator").locator("option")
    assert "between" not in await operators.all_inner_texts()
    await add_condition(page, 3, "Channel", "equals", "whatsapp")
    await page.get_by_label("Filter expression").fill("(1 and 2) or 3")
    await page.get_by_label("Filter expression").press("Enter")
    conditions = [{"property": "email", "operator": "is_set"},
                  {"property": "phone", "operator": "is_set"},
                  {"property": "channel", "operator": "equals", "value": "whatsapp"}]
    expected = await api_count(web_server, shop, {"conditions": conditions,
                                                  "expression": "(1 and 2) or 3"})
    assert expected == 15
    await expect(total).to_have_text(f"{expected} users")
    for n, alone in ((1, 15), (2, 10), (3, 10)):
        await expect(page.get_by_label(f"Condition {n} matches")).to_have_text(f"{alone} users")
    await check_accessibility(page)
    await screenshot(page, "filter-builder")

    # The filter lives in the URL: opened afresh, the view is the same.
    shared = page.url
    assert "expr=%281+and+2%29+or+3" in shared
    other = await page.context.new_page()
    await other.goto(shared)
    await expect(other.get_by_role("status", name="Total")).to_have_text(f"{expected} users")
    await expect(other.get_by_label("Filter expression")).to_have_value("(1 and 2) or 3")
    await expect(other.get_by_label("Condition 3 value")).to_have_value("whatsapp")

    # A number property gets a number field, and between two of them.
    await page.get_by_role("button", name="Remove condition 3").click()
    await expect(page.get_by_label("Condition 3 property")).to_have_count(0)
    await page.get_by_label("Filter expression").fill("1 and 2")
    await page.get_by_label("Filter expression").press("Enter")
    await settled(page)
    await add_condition(page, 3, "Message count", "between")
    await expect(page.get_by_label("Condition 3 value from")).to_have_attribute("type", "number")
    await page.get_by_label("Condition 3 value from").fill("4")
    await settled(page)
    await page.get_by_label("Condition 3 to").fill("5")
    await page.get_by_label("Condition 3 to").press("Enter")
    await expect(page.get_by_label("Condition 3 matches")).to_have_text("12 users")


async def test_a_bad_expression_is_an_alert_with_position_and_token_and_nothing_else_changes(
        page: Page, web_server: WebServer, shop: str) -> None:
    await sign_in(page, web_server)
    await page.goto(f"{web_server.url}/bots/{shop}/audience?p1=email&o1=is_set"
                    "&p2=phone&o2=is_set&expr=1+or+2")
    total = page.get_by_role("status", name="Total")
    await expect(total).to_have_text("20 users")
    before_url = page.url
    rows_before = await page.locator("table.audience tbody tr").count()
    await page.get_by_label("Filter expression").fill("1 or (2")
    await page.get_by_label("Filter expression").press("Enter")
    alert = page.get_by_role("alert")
    # Where the engine says: the bracket at position 5 is never closed.
    await expect(alert).to_contain_text("At position 5, token (")
    await expect(total).to_have_text("20 users")
    assert page.url == before_url
    assert await page.locator("table.audience tbody tr").count() == rows_before
    # Fixed, the alert goes and the total follows.
    await page.get_by_label("Filter expression").fill("1 and 2")
    await page.get_by_label("Filter expression").press("Enter")
    await expect(total).to_have_text("5 users")
    await expect(page.get_by_role("alert")).to_have_count(0)
    # Opened from a URL, the same mistake shows the alert instead of a list.
    response = await page.goto(f"{web_server.url}/bots/{shop}/audience?p1=email&o1=is_set"
                               "&expr=1+and+%3F")
    assert response is not None and response.status == 200
    await expect(page.get_by_role("alert")).to_contain_text("'?'")
    await check_accessibility(page)


async def test_the_builder_works_with_the_keyboard_alone(page: Page, web_server: WebServer,
                                                        shop: str) -> None:
    await sign_in(page, web_server)
    await page.goto(f"{web_server.url}/bots/{shop}/audience")
    keyboard = page.keyboard

    async def focused() -> str:
        return str(await page.evaluate("document.activeElement.id"))

    await page.get_by_label("Search users").focus()
    # Tab on to "Add condition" and press it.
    for _ in range(10):
        if await focused() == "add-condition":
            break
        await keyboard.press("Tab")
    assert await focused() == "add-condition"
    await keyboard.press("Enter")
    await expect(page.get_by_label("Condition 1 property")).to_be_visible()
    assert await focused() == "add-condition"  # focus survives the update
    # Back to the row: its property, then its operator, chosen by typing.
    while await focused() != "p1":
        await keyboard.press("Shift+Tab")
    async with rebuilding(page):
        await keyboard.type("Email")
    await expect(page.get_by_label("Condition 1 property")).to_have_value("email")
    await expect(page.get_by_label("Condition 1 matches")).to_have_text("15 users")
    await keyboard.press("Tab")
    assert await focused() == "o1"
    async with rebuilding(page):
        await keyboard.type("is not")
    await expect(page.get_by_label("Condition 1 operator")).to_have_value("is_not_set")
    await expect(page.get_by_role("status", name="Total")).to_have_text("15 users")
