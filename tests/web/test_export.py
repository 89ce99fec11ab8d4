"""The export dialog in Chromium: the count it states, a bad limit refused in
the dialog with nothing started, and a CSV and an Excel file downloaded
through the page, read back equal to the audience query of the same view
(filter or segment, sort, search), the Excel one's link also mailed to a real
SMTP server on loopback."""

from __future__ import annotations

import asyncio
import csv
import email
import email.policy
import io
import json
import re
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import openpyxl
import pytest_asyncio
from playwright.async_api import Page, expect

from plugin.audience import query as audience
from plugin.audience import segments
from plugin.core import constants as c
from plugin.db.database import Database
from plugin.http.appkeys import JOB_WORKER
from plugin.jobs.model import JobKind
from tests.conftest import Api
from tests.loopback import Inbox, smtp_server
from tests.web.conftest import (
    WebServer,
    check_accessibility,
    new_key,
    screenshot,
    settled,
    sign_in,
)
from tests.web.seeding import new_bot_id, seed_users

HAS_EMAIL = {"conditions": [{"property": "email", "operator": "is_set"}], "expression": "1"}
# The list hides test users unless asked: its view is "... and (test is false or not set)".
NOT_TEST = [{"property": "test", "operator": "is_false"},
            {"property": "test", "operator": "is_not_set"}]


@pytest_asyncio.fixture(scope="module")
async def shop(db: Database) -> str:
    """Nine users, Sam or Alex; the first six have an email and a phone; and a test user."""
    bot_id = new_bot_id("export")
    people: dict[str, dict[str, Any]] = {}
    for n in range(9):
        facts: dict[str, Any] = {"first_name": f"{'Alex' if n % 2 else 'Sam'} {'ZYXWVUTSR'[n]}"}
        if n < 6:
            facts |= {"email": f"p{n}@example.com", "phone": f"+44207946{n:04d}"}
        people[f"p{n}"] = facts
    await seed_users(db, bot_id, people)
    # A test user, hidden from the list: left out of its exports too.
    await seed_users(db, bot_id, {"tess": {"first_name": "Sam Tess", "email": "t@example.com",
                                           "source": "simulator"}})
    return bot_id


async def jobs_of(db: Database, bot_id: str) -> int:
    return await db[c.JOBS].count_documents({"bot_id": bot_id, "kind": "export"})


async def open_dialog(page: Page) -> None:
    await page.get_by_role("button", name="Export", exact=True).click()
    await expect(page.get_by_role("dialog", name="Export users")).to_be_visible()
    await settled(page)  # the form htmx swapped in is wired: typing now asks for the count


async def download(page: Page) -> tuple[bytes, str]:
    link = page.get_by_role("link", name="Download")
    await expect(link).to_be_visible()
    async with page.expect_download() as info:
        await link.click()
    got = await info.value
    return await asyncio.to_thread(Path(await got.path()).read_bytes), got.suggested_filename


def moment(text: Any) -> datetime:
    return text if isinstance(text, datetime) else datetime.fromisoformat(text)


async def test_the_dialog_counts_refuses_a_bad_limit_and_exports_csv(
        page: Page, web_server: WebServer, shop: str, api: Api, db: Database) -> None:
    await sign_in(page, web_server)
    await page.goto(f"{web_server.url}/bots/{shop}/audience?p1=email&o1=is_set"
                    "&sort=-first_name")
    await open_dialog(page)
    dialog = page.get_by_role("dialog", name="Export users")
    confirm = dialog.get_by_role("button", name="Export 6 users")
    await expect(confirm).to_be_visible()
    await expect(dialog.get_by_role("radio", name="CSV")).to_be_checked()
    await expect(dialog.get_by_label("Limit")).to_have_value("10000")
    await check_accessibility(page)
    # The whole page in the viewport, so the dialog's backdrop covers all of it.
    height = await page.evaluate("document.documentElement.scrollHeight")
    await page.set_viewport_size({"width": 1280, "height": height})
    await screenshot(page, "export-dialog")

    limit = dialog.get_by_label("Limit")
    await limit.fill("1")
    await expect(dialog.get_by_role("button", name="Export 1 user", exact=True)).to_be_visible()
    await limit.fill("0")
    await dialog.get_by_role("button", name="Export 6 users").click()
    await expect(dialog.get_by_role("alert")).to_contain_text(
        "Limit: enter a whole number of users from 1 to 100,000")
    await expect(dialog.get_by_label("Limit")).to_have_attribute("aria-invalid", "true")
    assert await jobs_of(db, shop) == 0

    await dialog.get_by_label("Limit").fill("10000")
    await dialog.get_by_role("button", name="Export 6 users").click()
    await expect(dialog.get_by_label("Export progress")).to_be_visible()
    data, filename = await download(page)
    await check_accessibility(page)  # the dialog as it ends: progress and link
    assert filename.endswith(".csv")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))

    status, found = await api.post(f"/v1/bots/{shop}/audience/query",
                                   {"filter": {"conditions": [*HAS_EMAIL["conditions"], *NOT_TEST],
                                               "expression": "1 and (2 or 3)"},
                                    "sort": "-first_name", "limit": 500})
    assert status == 200, found
    header = ["user_id", "first_name", "email", "phone", "channel", "last_message_at"]
    assert rows[0] == header
    assert [r[:5] for r in rows[1:]] == [[str(u["user_id"]), u["attributes"]["first_name"],
                                          u["attributes"]["email"], u["attributes"]["phone"],
                                          u["channel"]] for u in found["users"]]
    assert [moment(r[5]) for r in rows[1:]] == [moment(u["last_message_at"])
                                                for u in found["users"]]
    assert [r[0] for r in rows[1:]][:2] == ["p0", "p2"]  # Sam Z, Sam X: not in id order


@pytest_asyncio.fixture
async def inbox() -> AsyncIterator[tuple[Inbox, str]]:
    async with smtp_server() as served:
        yield served


@pytest_asyncio.fixture
async def mail_configured(web_server: WebServer,
                          inbox: tuple[Inbox, str]) -> AsyncIterator[Inbox]:
    """The session server's export runner with SMTP configured, for one test: the
    same runner and job worker (a second server's worker would take other
    tests' jobs), its settings given the loopback SMTP server, then put back."""
    runner = web_server.app[JOB_WORKER].runners[JobKind.EXPORT]
    before = runner.settings  # type: ignore[attr-defined]
    runner.settings = replace(before, smtp_url=inbox[1])  # type: ignore[attr-defined]
    try:
        yield inbox[0]
    finally:
        runner.settings = before  # type: ignore[attr-defined]


async def test_a_segment_searched_and_sorted_goes_to_excel_and_by_mail(
        page: Page, web_server: WebServer, shop: str, db: Database,
        mail_configured: Inbox, api: Api) -> None:
    created = await segments.create_segment(db, shop, {
        "name": f"Contactable {new_bot_id('s')}", "kind": "dynamic", "filter": HAS_EMAIL})
    await sign_in(page, web_server)
    await page.goto(f"{web_server.url}/bots/{shop}/audience?segment={created['id']}"
                    "&sort=first_name&q=sam")
    await page.get_by_role("button", name="Export", exact=True).click()
    dialog = page.get_by_role("dialog", name=f"Export segment {created['name']}")
    await expect(dialog.get_by_role("radio", name="Excel")).to_be_visible()
    await settled(page)
    await dialog.get_by_role("radio", name="Excel").check()
    await dialog.get_by_role("radio", name=re.compile(r"^All \d+ columns$")).check()
    await dialog.get_by_label("Email the link to").fill("not an address")
    before = await jobs_of(db, shop)
    await dialog.get_by_role("button", name="Export 3 users").click()
    await expect(dialog.get_by_role("alert")).to_contain_text(
        "Email the link to: 'not an address' is not an email address")
    assert await jobs_of(db, shop) == before
    await dialog.get_by_label("Email the link to").fill("ops@example.com")
    await dialog.get_by_role("button", name="Export 3 users").click()
    data, filename = await download(page)
    assert filename.endswith(".xlsx") and await jobs_of(db, shop) == before + 1
    workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
    try:
        rows = list(workbook.active.iter_rows(values_only=True))
    finally:
        workbook.close()

    member = segments.membership_filter(created["id"])["conditions"]
    found = await audience.query_audience(
        db, shop, {"conditions": [*member, *NOT_TEST], "expression": "1 and (2 or 3)"},
        sort="first_name", limit=500, search="sam")
    header = list(rows[0])
    assert header[0] == "user_id" and {"first_name", "email", "phone", "message_count"} <= set(
        header)
    got = [dict(zip(header, r, strict=True)) for r in rows[1:]]
    assert [(g["user_id"], g["first_name"], g["email"]) for g in got] == [
        (u["user_id"], u["attributes"]["first_name"], u["attributes"]["email"])
        for u in found.users]
    assert [g["user_id"] for g in got] == ["p4", "p2", "p0"]  # Sam V, X, Z; no Alex

    await expect(dialog).to_contain_text("The link was also emailed to ops@example.com")
    assert [m.rcpt_tos for m in mail_configured.messages] == [["ops@example.com"]]
    text = email.message_from_bytes(mail_configured.messages[0].content,
                                    policy=email.policy.default).get_content()
    # The mailed link is under the server's configured address; fetched from this one.
    link = urlsplit(next(word for word in text.split() if "/download?" in word))
    async with api.session.get(f"{api.base_url}{link.path}?{link.query}") as mailed:
        assert mailed.status == 200 and await mailed.read() == data


async def test_a_viewer_may_not_export(page: Page, web_server: WebServer, shop: str,
                                       db: Database) -> None:
    """Exports carry every user's contact details out: editors only, as in the API."""
    await sign_in(page, web_server, await new_key(db, "viewer", shop))
    await page.goto(f"{web_server.url}/bots/{shop}/audience")
    await expect(page.get_by_role("status", name="Total")).to_have_text("9 users")
    await expect(page.get_by_role("button", name="Export", exact=True)).to_have_count(0)
    before = await jobs_of(db, shop)
    headers = json.loads(await page.locator("body").get_attribute("hx-headers") or "{}")
    refused = await page.request.post(f"{web_server.url}/bots/{shop}/exports",
                                      form={"format": "csv", "limit": "10"}, headers=headers)
    assert refused.status == 403 and await jobs_of(db, shop) == before
