"""The audience list over HTTP: filters with expressions, totals, pages, search,
the property schema, and every way a filter can be wrong."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from plugin.audience.profile_store import ProfileStore
from plugin.audience.query import compile_audience_filter
from plugin.capture.store import CaptureStore
from plugin.core import constants as c
from plugin.core import events as ev
from plugin.db.database import Database
from plugin.db.indexes import INDEXES
from tests.conftest import Api

EMAIL = {"property": "email", "operator": "is_set"}
PHONE = {"property": "phone", "operator": "is_set"}
# System properties exist for every bot, seeded or not.
CHANNEL_SET = {"property": "channel", "operator": "is_set"}
MODULE_SET = {"property": "current_module", "operator": "is_set"}

# user: (channel, email, phone, messages)
PEOPLE: dict[str, tuple[str, str | None, str | None, int]] = {
    "ann": ("web", "ann@example.com", "+4479460001", 3),
    "bob": ("whatsapp", "bob@example.com", None, 1),
    "cy": ("whatsapp", None, "+4479460002", 5),
    "dee": ("messenger", None, None, 2),
    "eve": ("web", "eve@example.org", "+4479460003", 4),
}


async def seed(db: Database, bot_id: str) -> None:
    batch = []
    for minute, (user, (channel, email, phone, messages)) in enumerate(PEOPLE.items()):
        meta: dict[str, Any] = {"channel": channel}
        for i in range(messages):
            batch.append(ev.user_message(bot_id, user, f"hello {i}", **meta))
        batch.append(ev.module_entered(bot_id, user, "welcome" if minute % 2 else "Checkout"))
        batch.append(ev.property_set(bot_id, user, "first_name", user.title()))
        if email:
            batch.append(ev.property_set(bot_id, user, "email", email))
        if phone:
            batch.append(ev.property_set(bot_id, user, "phone", phone))
    await CaptureStore.of(db).ingest(batch)


async def query(api: Api, bot_id: str, body: dict[str, Any]) -> tuple[int, Any]:
    return await api.post(f"/v1/bots/{bot_id}/audience/query", body)


async def count(api: Api, bot_id: str, filter_: dict[str, Any]) -> int:
    status, body = await api.post(f"/v1/bots/{bot_id}/audience/count", {"filter": filter_})
    assert status == 200, body
    return int(body["total"])


async def test_and_or_expression_changes_the_total(api: Api, db: Database, bot_id: str) -> None:
    await seed(db, bot_id)
    assert await count(api, bot_id, {"conditions": [EMAIL, PHONE], "expression": "1 and 2"}) == 2
    assert await count(api, bot_id, {"conditions": [EMAIL, PHONE], "expression": "1 or 2"}) == 4
    assert await count(api, bot_id, {"conditions": [EMAIL, PHONE]}) == 2
    assert await count(api, bot_id, {"conditions": []}) == 5
    whatsapp = {"property": "channel", "operator": "equals", "value": "whatsapp"}
    many = {"property": "message_count", "operator": "gte", "value": 4}
    four = [EMAIL, PHONE, whatsapp, many]
    assert await count(api, bot_id, {"conditions": four,
                                     "expression": "(A AND (B or C)) Or (c and D)"}) == 4
    assert await count(api, bot_id, {"conditions": four, "expression": "A and B or C and D"}) == 3
    assert await count(api, bot_id, {"conditions": four, "expression": "A and (B or C) and D"}) == 1


async def all_pages(api: Api, bot_id: str, sort: str, limit: int) -> list[str]:
    seen: list[str] = []
    body: dict[str, Any] = {"filter": {"conditions": []}, "sort": sort, "limit": limit}
    while True:
        status, page = await query(api, bot_id, body)
        assert status == 200, page
        assert page["total"] == 5 and len(page["users"]) <= limit
        seen += [u["user_id"] for u in page["users"]]
        if page["next"] is None:
            return seen
        body["cursor"] = page["next"]


async def test_query_pages_through_everyone_once(api: Api, db: Database, bot_id: str) -> None:
    await seed(db, bot_id)
    assert await all_pages(api, bot_id, "message_count", 2) == ["bob", "dee", "ann", "eve", "cy"]
    assert await all_pages(api, bot_id, "-message_count", 3) == ["cy", "eve", "ann", "dee", "bob"]
    # Users without the property come first going up, last going down; ties
    # among them keep a stable order across pages.
    up = await all_pages(api, bot_id, "email", 1)
    assert sorted(up[:2]) == ["cy", "dee"] and up[2:] == ["ann", "bob", "eve"]
    down = await all_pages(api, bot_id, "-email", 2)
    assert down[:3] == ["eve", "bob", "ann"] and sorted(down[3:]) == ["cy", "dee"]
    assert await all_pages(api, bot_id, "-last_message_at", 2) == list(
        reversed(await all_pages(api, bot_id, "last_message_at", 4)))


async def test_cursor_misuse_is_a_clear_400(api: Api, db: Database, bot_id: str) -> None:
    await seed(db, bot_id)
    _, page = await query(api, bot_id, {"sort": "message_count", "limit": 2})
    status, body = await query(api, bot_id, {"sort": "-message_count", "cursor": page["next"]})
    assert status == 400 and "another sort order" in body["message"]
    status, body = await query(api, bot_id, {"cursor": "not-a-cursor"})
    assert status == 400 and body["details"] == {"field": "cursor"}
    status, body = await query(api, bot_id, {"sort": "-shoe_size"})
    assert status == 400 and body["message"] == "cannot sort by unknown property 'shoe_size'"
    status, body = await query(api, bot_id, {"limit": 501})
    assert status == 400 and body["details"]["errors"][0]["path"] == "limit"


async def test_users_in_the_answer_are_public_profiles(
    api: Api, db: Database, bot_id: str
) -> None:
    await seed(db, bot_id)
    _, page = await query(api, bot_id, {"filter": {"conditions": [
        {"property": "email", "operator": "equals", "value": "ANN@example.com"}]}})
    assert [u["user_id"] for u in page["users"]] == ["ann"]
    user = page["users"][0]
    assert user["attributes"]["first_name"] == "Ann"
    assert "_id" not in user and not {"rev", "last_event_at", "created_by"} & set(user)


@pytest.mark.parametrize(
    ("expression", "position", "token", "fragment"),
    [
        ("1 and not 2", 6, "not", "NOT"),
        ("1 and", 5, "", "ends"),
        ("(1 or 2", 0, "(", "never closed"),
        ("1 or 2)", 6, ")", ")"),
        ("1 or 3", 5, "3", "3"),
        ("1 or 2 2", 7, "2", ""),
    ],
)
async def test_malformed_expression_gives_position_and_token(
    api: Api, db: Database, bot_id: str, expression: str, position: int, token: str,
    fragment: str
) -> None:
    await seed(db, bot_id)  # a bot nobody has heard of is a 404 (tests/faults/test_bot_ids.py)
    status, body = await api.post(f"/v1/bots/{bot_id}/audience/count", {
        "filter": {"conditions": [CHANNEL_SET, MODULE_SET], "expression": expression}})
    assert status == 400, body
    assert body["error"] == "invalid_filter"
    assert body["details"]["position"] == position
    assert body["details"]["token"] == token
    assert fragment in body["message"]


async def test_empty_expression_and_unused_condition(api: Api, db: Database,
                                                     bot_id: str) -> None:
    await seed(db, bot_id)
    path = f"/v1/bots/{bot_id}/audience/count"
    status, body = await api.post(path, {"filter": {"conditions": [CHANNEL_SET, MODULE_SET],
                                                    "expression": "  "}})
    assert status == 400 and body["error"] == "invalid_filter"
    status, body = await api.post(path, {"filter": {
        "conditions": [CHANNEL_SET, MODULE_SET, CHANNEL_SET], "expression": "1 or 2"}})
    assert status == 400 and body["details"]["condition"] == 3
    assert "not used" in body["message"]


@pytest.mark.parametrize(
    ("condition", "fragment"),
    [
        ({"property": "shoe_size", "operator": "gt", "value": 3}, "unknown property 'shoe_size'"),
        ({"property": "message_count", "operator": "contains", "value": "3"},
         "operator 'contains' is not valid for number property 'message_count'"),
        ({"property": "message_count", "operator": "gt", "value": "three"}, "expected a number"),
        ({"property": "created_at", "operator": "within_last",
          "value": {"amount": 3, "unit": "weeks"}}, "unit"),
        ({"property": "email", "operator": "equals", "value": {"$where": "sleep(1000)"}},
         "expected text"),
        ({"property": "email", "operator": "in", "value": [{"$ne": None}]}, "expected text"),
    ],
)
async def test_bad_condition_names_its_number(
    api: Api, bot_id: str, condition: dict[str, Any], fragment: str
) -> None:
    await api.request("PUT", f"/v1/bots/{bot_id}/properties",
                      {"properties": [{"name": "email", "type": "email"}]})
    status, body = await api.post(f"/v1/bots/{bot_id}/audience/count",
                                  {"filter": {"conditions": [CHANNEL_SET, condition]}})
    assert status == 400, body
    assert body["details"]["condition"] == 2
    assert body["message"].startswith("condition 2: ")
    assert fragment in body["message"]


async def test_regex_metacharacters_are_data(api: Api, db: Database, bot_id: str) -> None:
    await seed(db, bot_id)
    dot_star = {"property": "email", "operator": "contains", "value": ".*"}
    assert await count(api, bot_id, {"conditions": [dot_star]}) == 0
    dot = {"property": "email", "operator": "ends_with", "value": ".org"}
    assert await count(api, bot_id, {"conditions": [dot]}) == 1


async def test_too_many_conditions(api: Api, db: Database, bot_id: str) -> None:
    await seed(db, bot_id)
    status, body = await api.post(f"/v1/bots/{bot_id}/audience/count",
                                  {"filter": {"conditions": [CHANNEL_SET] * 51}})
    assert status == 400 and "50" in body["message"]


async def test_search_by_prefix_of_id_name_email_or_phone(
    api: Api, db: Database, bot_id: str
) -> None:
    await seed(db, bot_id)

    async def search(q: str) -> list[str]:
        status, body = await api.get(f"/v1/bots/{bot_id}/users?q={q}")
        assert status == 200, body
        return sorted(u["user_id"] for u in body["users"])

    assert await search("EV") == ["eve"]
    assert await search("Bob%40EX") == ["bob"]
    assert await search("%2B44794600") == ["ann", "cy", "eve"]
    assert await search("%2B44 7946 0002") == ["cy"]
    assert await search("x") == []
    status, body = await api.get(f"/v1/bots/{bot_id}/users?q=")
    assert status == 400 and body["details"] == {"parameter": "q"}


async def test_property_schema_lists_operators_and_takes_definitions(
    api: Api, bot_id: str, make_key: Any
) -> None:
    path = f"/v1/bots/{bot_id}/properties"
    status, body = await api.request("PUT", path, {"properties": [
        {"name": "plan", "type": "choice", "choices": ["Basic", "Pro"], "label": "Plan"},
        {"name": "age", "type": "number"}]})
    assert status == 200, body
    listed = {p["name"]: p for p in body["properties"]}
    assert listed["plan"]["choices"] == ["Basic", "Pro"] and not listed["plan"]["system"]
    assert listed["age"]["operators"] == ["eq", "ne", "gt", "gte", "lt", "lte", "between",
                                          "is_set", "is_not_set"]
    assert listed["created_at"]["system"] and "within_last" in listed["created_at"]["operators"]
    assert await count(api, bot_id, {"conditions": [
        {"property": "plan", "operator": "equals", "value": "pro"}]}) == 0

    status, body = await api.request("PUT", path, {"properties": [
        {"name": "height", "type": "number"}, {"name": "channel", "type": "text"}]})
    assert status == 400 and body["details"]["errors"][0]["path"] == "properties/1"
    _, body = await api.get(path)
    assert "height" not in {p["name"] for p in body["properties"]}

    viewer = api.as_key(await make_key("viewer", bot_id))
    status, _ = await viewer.request("PUT", path, {"properties": [{"name": "x", "type": "text"}]})
    assert status == 403


@pytest.mark.parametrize(
    ("condition", "index"),
    [
        ({"property": "channel", "operator": "equals", "value": "web"},
         "bot_channel_created_at"),
        ([{"property": "channel", "operator": "equals", "value": "web"},
          {"property": "created_at", "operator": "within_last",
           "value": {"amount": 7, "unit": "days"}}], "bot_channel_created_at"),
        ({"property": "current_module", "operator": "equals", "value": "welcome"},
         "bot_current_module"),
        ({"property": "email", "operator": "equals", "value": "ann@example.com"},
         "bot_attributes.email"),
        ({"property": "phone", "operator": "in", "value": ["+4479460001", "+4479460002"]},
         "bot_attributes.phone"),
        ({"property": "created_at", "operator": "within_last",
          "value": {"amount": 7, "unit": "days"}}, "bot_created_at"),
        ({"property": "last_message_at", "operator": "after", "value": "2026-01-01"},
         "bot_last_message_at"),
    ],
)
async def test_common_filters_count_through_an_index(
    db: Database, bot_id: str, condition: dict[str, Any] | list[dict[str, Any]], index: str
) -> None:
    await seed(db, bot_id)
    conditions = condition if isinstance(condition, list) else [condition]
    query_ = await compile_audience_filter(db, bot_id, {"conditions": conditions})
    plan = await ProfileStore.of(db).explain_count(query_)
    winning = str(plan["queryPlanner"]["winningPlan"])
    assert "COLLSCAN" not in winning, winning
    assert index in winning, winning


def test_every_profile_index_serves_a_filter_above() -> None:
    """An index no filter uses only slows capture: each one of the table but
    capture's own key is the winning plan of a filter of the test above."""
    marks = test_common_filters_count_through_an_index.pytestmark  # type: ignore[attr-defined]
    proven = {index for mark in marks if mark.name == "parametrize"
              for _, index in mark.args[1]}
    assert {ix.document["name"] for ix in INDEXES[c.PROFILES]} - {"bot_user"} == proven


async def test_a_retired_index_is_dropped_at_start(mongo_uri: str) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_uri, tz_aware=True)
    try:
        db = await Database.from_client(client, f"retired_{uuid.uuid4().hex[:8]}")
        await db[c.PROFILES].create_index([("bot_id", 1), ("channel", 1)], name="bot_channel")
        await db.ensure_indexes()
        names = {ix["name"] async for ix in await db[c.PROFILES].list_indexes()}
        assert "bot_channel" not in names and "bot_channel_created_at" in names
        await client.drop_database(db.mongo.name)
    finally:
        await client.close()
