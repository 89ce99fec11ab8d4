"""The import dialog in Chromium: a CRM file with good, bad and ambiguous rows
is uploaded, its proposed mapping changed, checked (a dry run that changes
nothing) and imported, and the profiles read back through the API; a file of
the wrong kind and an empty one are refused in the dialog with nothing
changed; a viewer has no "Import" and is refused anyway."""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

from playwright.async_api import Locator, Page, expect

from plugin.audience.property_store import PropertyStore
from plugin.core import constants as c
from plugin.core.properties import custom_property
from plugin.db.database import Database
from tests.conftest import Api
from tests.web.conftest import (
    WebServer,
    check_accessibility,
    new_key,
    screenshot,
    settled,
    sign_in,
)
from tests.web.seeding import new_bot_id, seed_users

# Row 2 updates Ann, row 3 creates a user, row 4's email two users share
# (ambiguous), row 5 is wrong in three columns.
CRM_FILE = (b"Email,Years,Plan,Notes\r\n"
            b"ann@example.com,31,pro,met at the fair\r\n"
            b"new@example.com,25,free,\r\n"
            b"shared@example.com,40,pro,\r\n"
            b"not-an-email,abc,gold,\r\n")


async def crm_bot(db: Database) -> str:
    bot_id = new_bot_id("import")
    for prop in (custom_property("email", "email", "E-mail"),
                 custom_property("age", "number", "Age"),
                 custom_property("plan", "choice", "Plan", ("free", "pro"))):
        await PropertyStore.of(db).define_property(bot_id, prop)
    await seed_users(db, bot_id, {
        "ann": {"first_name": "Ann", "email": "ann@example.com", "age": 20},
        "d1": {"email": "shared@example.com", "age": 20},
        "d2": {"email": "shared@example.com", "age": 20}})
    return bot_id


async def attributes(api: Api, bot_id: str) -> dict[str, dict[str, Any]]:
    """Every user of the bot and its properties, as the API reads them."""
    status, found = await api.post(f"/v1/bots/{bot_id}/audience/query", {"limit": 50})
    assert status == 200, found
    return {u["user_id"]: dict(u.get("attributes") or {}) for u in found["users"]}


async def open_dialog(page: Page, server: WebServer, bot_id: str) -> Locator:
    await page.goto(f"{server.url}/bots/{bot_id}/audience")
    await page.get_by_role("button", name="Import", exact=True).click()
    dialog = page.get_by_role("dialog", name="Import users")
    await expect(dialog).to_be_visible()
    await settled(page)  # htmx has wired what it swapped in
    return dialog


async def test_a_crm_file_is_mapped_checked_then_imported(
        page: Page, web_server: WebServer, db: Database, api: Api) -> None:
    bot_id = await crm_bot(db)
    before = await attributes(api, bot_id)
    await sign_in(page, web_server)
    dialog = await open_dialog(page, web_server, bot_id)
    await dialog.get_by_label("File (CSV or Excel)").set_input_files(
        files=[{"name": "crm.csv", "mimeType": "text/csv", "buffer": CRM_FILE}])

    # The proposed mapping: one select per column, labelled by its header.
    await expect(dialog.get_by_label("Email", exact=True)).to_have_value("email")
    await expect(dialog.get_by_label("Plan", exact=True)).to_have_value("plan")
    years = dialog.get_by_label("Years", exact=True)
    await expect(years).to_have_value("ignore")
    await expect(years.get_by_role("option")).to_have_text(
        ["Skip", "User id", "Age", "E-mail", "First name", "Plan"])
    await years.select_option(label="Age")
    await expect(dialog.get_by_label("Match users by")).to_have_value("email")
    await check_accessibility(page)
    await screenshot(page, "import-mapping")

    # A key no column is mapped to: refused in the dialog, no job.
    await dialog.get_by_label("Match users by").select_option(label="Phone")
    await dialog.get_by_role("button", name="Check file").click()
    await expect(dialog.get_by_role("alert")).to_contain_text("no column is mapped to the key")
    assert await db[c.JOBS].count_documents({"bot_id": bot_id}) == 0

    await dialog.get_by_label("Match users by").select_option(label="Email")
    await dialog.get_by_role("button", name="Check file").click()
    counts = dialog.get_by_role("table", name=re.compile("^Check of the file"))
    for name in ("Created 1", "Updated 1", "Unchanged 0", "Rejected 2"):
        await expect(counts.get_by_role("row", name=name)).to_be_visible()
    await expect(dialog.get_by_role("alert")).to_have_count(0)
    rejected = dialog.get_by_role("table", name="Rejected rows").locator("tbody tr")
    await expect(rejected).to_have_count(3)
    await expect(rejected.filter(has_text="not-an-email")).to_contain_text("Email")
    await expect(rejected.filter(has_text="abc")).to_contain_text("Years")
    await expect(rejected.filter(has_text="gold")).to_contain_text("Plan")
    ambiguous = dialog.get_by_role("table", name=re.compile("^Ambiguous rows"))
    await expect(ambiguous.locator("tbody tr")).to_have_text([re.compile(
        r"^\s*4\s*shared@example\.com\s*d1, d2\s*$")])
    await expect(ambiguous.get_by_role("link", name="d2")).to_have_attribute(
        "href", f"/bots/{bot_id}/users/d2")
    async with page.expect_download() as download_info:
        await dialog.get_by_role("link", name="Download the rejected rows (CSV)").click()
    download = await download_info.value
    text = (await download.path()).read_text(encoding="utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["row", "column", "value", "reason"]
    assert {(r[0], r[1], r[2]) for r in rows[1:]} == {
        ("4", "Email", "shared@example.com"), ("5", "Email", "not-an-email"),
        ("5", "Years", "abc"), ("5", "Plan", "gold")}
    assert await attributes(api, bot_id) == before  # a check changes nothing

    await dialog.get_by_role("button", name="Import", exact=True).click()
    progress = dialog.get_by_role("progressbar", name="Import done: 4 rows read")
    await expect(progress).to_have_attribute("value", "4")
    done = dialog.get_by_role("table", name="Import done")
    for name in ("Created 1", "Updated 1", "Unchanged 0", "Rejected 2"):
        await expect(done.get_by_role("row", name=name)).to_be_visible()
    after = await attributes(api, bot_id)
    assert after.pop("ann") == {**before["ann"], "age": 31, "plan": "pro"}
    assert after.pop("d1") == before["d1"] and after.pop("d2") == before["d2"]
    [created] = after.values()
    assert created == {"email": "new@example.com", "age": 25, "plan": "free"}


async def test_bad_files_are_refused_in_the_dialog_and_viewers_cannot_import(
        page: Page, web_server: WebServer, db: Database, api: Api) -> None:
    bot_id = new_bot_id("import-bad")
    await seed_users(db, bot_id, {"u1": {"first_name": "Una"}})
    before = await attributes(api, bot_id)

    viewer = await new_key(db, "viewer", bot_id)
    await sign_in(page, web_server, viewer)
    await page.goto(f"{web_server.url}/bots/{bot_id}/audience")
    await expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    await expect(page.get_by_role("button", name="Import", exact=True)).to_have_count(0)
    headers = json.loads(await page.locator("body").get_attribute("hx-headers") or "{}")
    refused = await page.request.post(
        f"{web_server.url}/bots/{bot_id}/imports", headers=headers, multipart={
            "file": {"name": "crm.csv", "mimeType": "text/csv", "buffer": CRM_FILE},
            "column-0": "Email", "map-0": "user_id", "mode": "apply"})
    assert refused.status == 403
    await page.get_by_role("button", name="Sign out").click()

    await sign_in(page, web_server)
    dialog = await open_dialog(page, web_server, bot_id)
    picture = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(32)
    await dialog.get_by_label("File (CSV or Excel)").set_input_files(
        files=[{"name": "photo.png", "mimeType": "image/png", "buffer": picture}])
    alert = dialog.get_by_role("alert")
    await expect(alert).to_contain_text("“photo.png” is not a CSV or Excel file")
    await expect(alert).to_contain_text("Nothing was changed.")
    await expect(dialog.get_by_role("table")).to_have_count(0)
    await expect(dialog.get_by_role("button", name="Check file")).to_have_count(0)

    # A good file shows its mapping; an empty one then takes it away.
    await dialog.get_by_label("File (CSV or Excel)").set_input_files(
        files=[{"name": "crm.csv", "mimeType": "text/csv", "buffer": CRM_FILE}])
    await expect(dialog.get_by_role("button", name="Check file")).to_be_visible()
    await expect(alert).to_have_count(0)
    await dialog.get_by_label("File (CSV or Excel)").set_input_files(
        files=[{"name": "empty.csv", "mimeType": "text/csv", "buffer": b""}])
    await expect(alert).to_contain_text("header")
    await expect(dialog.get_by_role("button", name="Check file")).to_have_count(0)
    await check_accessibility(page)
    assert await db[c.JOBS].count_documents({"bot_id": bot_id}) == 0
    assert await attributes(api, bot_id) == before
