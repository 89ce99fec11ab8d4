"""The property schema in the browser: system and custom properties with their
types, choices and operators; an admin adds a property and changes a label
and choices; a bad choice list or type is refused with the field named, and
nothing changes."""

from __future__ import annotations

import json

from playwright.async_api import Locator, Page, expect

from plugin.audience import query as audience
from plugin.core.properties import PropertyType
from plugin.db.database import Database
from tests.web.conftest import WebServer, check_accessibility, screenshot, sign_in
from tests.web.seeding import new_bot_id, seed_users


def row(table: Locator, name: str) -> Locator:
    return table.get_by_role("row").filter(
        has=table.page.get_by_role("rowheader", name=name, exact=True))


async def test_an_admin_defines_and_changes_properties_and_bad_ones_change_nothing(
        page: Page, web_server: WebServer, db: Database) -> None:
    bot_id = new_bot_id("props")
    await seed_users(db, bot_id, {"ana": {"first_name": "Ana", "age": 31}})
    await sign_in(page, web_server)
    await page.goto(f"{web_server.url}/bots/{bot_id}/properties")
    schema = page.get_by_role("table", name="The bot's properties, system ones first")
    channel = row(schema, "channel")
    await expect(channel.get_by_role("cell").nth(0)).to_have_text("Channel")
    await expect(channel.get_by_role("cell").nth(3)).to_have_text("System")
    await expect(channel.get_by_role("cell").nth(4)).to_contain_text("equals")
    await expect(channel.get_by_role("button", name="Change")).to_have_count(0)
    age = row(schema, "age")
    await expect(age.get_by_role("cell").nth(3)).to_have_text("Custom")
    await expect(age.get_by_role("cell").nth(1)).to_have_text("Number")
    await expect(age).to_contain_text("between")

    await page.get_by_role("button", name="Add property").click()
    add = page.get_by_role("dialog", name="Add property")
    await add.get_by_label("Name").fill("tier")
    await add.get_by_label("Label").fill("Tier")
    await add.get_by_label("Type").select_option(label="Choice")
    await check_accessibility(page)
    await add.get_by_role("button", name="Save").click()
    await expect(add.get_by_role("alert")).to_have_text(
        "Choices: a choice property needs at least one choice")
    assert "tier" not in await audience.catalog(db, bot_id)

    await add.get_by_label("Choices").fill("Gold\n\nSilver\n")
    await add.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("status")).to_have_text("Property tier added.")
    tier = row(schema, "tier")
    await expect(tier.get_by_role("cell").nth(0)).to_have_text("Tier")
    await expect(tier.get_by_role("cell").nth(2).get_by_role("listitem")).to_have_text(
        ["Gold", "Silver"])

    await tier.get_by_role("button", name="Change").click()
    change = page.get_by_role("dialog", name="Change tier")
    await check_accessibility(page)
    await change.get_by_label("Label").fill("Customer tier")
    await change.get_by_label("Choices").fill("Gold\n" + "S" * 201)
    await change.get_by_role("button", name="Save").click()
    await expect(change.get_by_role("alert")).to_contain_text("Choices: ")
    await expect(change.get_by_role("alert")).to_contain_text("is too long")
    unchanged = (await audience.catalog(db, bot_id))["tier"]
    assert (unchanged.label, unchanged.choices) == ("Tier", ("Gold", "Silver"))

    await change.get_by_label("Choices").fill("Gold\nSilver\nBronze")
    await change.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("status")).to_have_text("Property tier changed.")
    await expect(tier.get_by_role("cell").nth(0)).to_have_text("Customer tier")
    changed = (await audience.catalog(db, bot_id))["tier"]
    assert (changed.label, changed.type, changed.choices) == (
        "Customer tier", PropertyType.CHOICE, ("Gold", "Silver", "Bronze"))
    await check_accessibility(page)
    await screenshot(page, "properties")

    # A type the form does not offer, and a name already taken: refused by name.
    headers = json.loads(await page.locator("body").get_attribute("hx-headers") or "{}")
    for form, field in (({"name": "colour", "type": "colour"}, "Type: "),
                        ({"name": "age", "type": "text"}, "Name: ")):
        refused = await page.request.post(f"{web_server.url}/bots/{bot_id}/properties",
                                          form=form, headers=headers, max_redirects=0)
        assert refused.status == 400
        assert field in await refused.text()
    after = await audience.catalog(db, bot_id)
    assert "colour" not in after and after["age"].type is PropertyType.NUMBER
