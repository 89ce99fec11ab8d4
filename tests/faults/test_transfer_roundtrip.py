"""An export imported again changes nothing: every property type (text,
number, email, phone, date, boolean, choice, list) through CSV and XLSX,
with the values a spreadsheet would take for a formula among them.

The file goes out through ``POST /v1/bots/{bot}/exports`` and its signed
link, and comes back through ``POST /v1/bots/{bot}/imports`` keyed by user
id, every exported property mapped onto itself: the import must reject no
row and find every user unchanged.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

import pytest

from plugin.audience.property_store import PropertyStore
from plugin.capture.store import CaptureStore
from plugin.core import constants as c
from plugin.core import events as ev
from plugin.core.profiles import profile_id
from plugin.core.properties import PropertyDef, custom_property, validate_value
from plugin.db.database import Database
from plugin.transfer.export import DEFAULT_COLUMNS
from tests.conftest import Api
from tests.integration.test_export import export, xlsx_rows
from tests.integration.test_import import run_import

PROPERTIES = [
    custom_property("name", "text", "Name"),
    custom_property("age", "number", "Age"),
    custom_property("email", "email", "E-mail"),
    custom_property("phone", "phone", "Phone"),
    custom_property("joined", "date", "Joined"),
    custom_property("vip", "boolean", "VIP"),
    custom_property("plan", "choice", "Plan", ("free", "pro")),
    custom_property("tags", "list", "Tags"),
]

# One user per line; values as a bot would have stored them (validated).
USERS: list[dict[str, Any]] = [
    {"name": "Zoé Durand", "age": 31, "email": "zoe@example.com", "phone": "+442079460007",
     "joined": datetime(2026, 3, 1, 12, 0, 5, 123_000, tzinfo=UTC), "vip": True,
     "plan": "pro", "tags": ["a", "b"]},
    {"name": "=HYPERLINK(\"http://x\",\"y\")", "age": -7, "email": "bob@example.com",
     "phone": "02079460008", "joined": datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC),
     "vip": False, "plan": "free", "tags": ["=cmd", "+x", "solo"]},
    {"name": "'=already quoted", "age": 0.25, "phone": "447911123456",
     "joined": datetime(2026, 1, 1, tzinfo=UTC), "tags": ["one"]},
    {"name": "-5", "age": 1e20, "email": "carol@example.com", "phone": "+15550100"},
    {"name": "@mention", "age": 2**40},
    {"name": "+ plus", "vip": True},
    {"name": "\tindented"},
    {"name": "'plain apostrophe"},
    {"name": "''=two apostrophes"},
    {"name": "a; b", "tags": ["x y", "z"]},
]


def stored(user: dict[str, Any]) -> dict[str, Any]:
    by_name = {p.name: p for p in PROPERTIES}
    return {name: validate_value(by_name[name], value) for name, value in user.items()}


async def seed(db: Database, bot_id: str) -> list[str]:
    """Each user's properties set as a bot sets them: ``property_set`` events."""
    for prop in PROPERTIES:
        await PropertyStore.of(db).define_property(bot_id, prop)
    user_ids = [f"rt{n:02d}" for n in range(len(USERS))]
    await CaptureStore.of(db).ingest([
        ev.property_set(bot_id, user_id, name, value, channel="web")
        for user_id, user in zip(user_ids, USERS, strict=True)
        for name, value in stored(user).items()])
    return user_ids


def identity_mapping(header: list[str], properties: list[PropertyDef]) -> dict[str, str]:
    """Each exported property onto itself; the system columns ignored."""
    names = {p.name for p in properties}
    return {col: col if col in names or col == "user_id" else "ignore" for col in header}


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
async def test_an_export_imported_again_rejects_nothing_and_changes_nothing(
        api: Api, db: Database, bot_id: str, fmt: str) -> None:
    user_ids = await seed(db, bot_id)
    _, data = await export(api, bot_id, {"format": fmt,
                                         "audience": {"filter": {"conditions": []}}})
    if fmt == "csv":
        header = next(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    else:
        header = [str(v) for v in xlsx_rows(io.BytesIO(data))[0]]
    assert header[:len(DEFAULT_COLUMNS)] == list(DEFAULT_COLUMNS)
    report = await run_import(api, bot_id, data, f"audience.{fmt}",
                              mapping=identity_mapping(header, PROPERTIES), key="user_id")
    assert report["rejections"] == [] and report["rejected"] == 0, report["rejections"]
    assert (report["created"], report["updated"], report["unchanged"]) == (
        0, 0, len(user_ids)), report
    for user_id, user in zip(user_ids, USERS, strict=True):
        doc = await db[c.PROFILES].find_one({"_id": profile_id(bot_id, user_id)})
        assert doc is not None and doc["attributes"] == stored(user)


async def test_a_phone_number_is_written_as_it_is_and_a_formula_is_not(
        api: Api, db: Database, bot_id: str) -> None:
    await seed(db, bot_id)
    _, data = await export(api, bot_id, {"format": "csv",
                                         "audience": {"filter": {"conditions": []}}})
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    by_user = {row["user_id"]: row for row in rows}
    assert by_user["rt00"]["phone"] == "+442079460007"
    assert by_user["rt03"]["name"] == "-5" and by_user["rt03"]["phone"] == "+15550100"
    assert by_user["rt01"]["name"] == "'=HYPERLINK(\"http://x\",\"y\")"
    assert by_user["rt01"]["tags"] == "'=cmd; +x; solo"
    assert by_user["rt04"]["name"] == "'@mention" and by_user["rt05"]["name"] == "'+ plus"
    assert by_user["rt06"]["name"] == "'\tindented"
    assert by_user["rt07"]["name"] == "'plain apostrophe"
    assert by_user["rt08"]["name"] == "'''=two apostrophes"
