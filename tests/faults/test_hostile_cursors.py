"""Paging cursors are the client's to hold, never the client's to write.

An audience or segment cursor used to be base64 JSON fed into the query: a
cursor holding ``{"$in": [{"$regularExpression": …}]}`` ran a catastrophic
regular expression over every profile, and ``$where``, ``$expr`` or
``$function`` gave a 500. Now a cursor is signed with the server's key and
bound to the bot, the sort and the filter (:mod:`plugin.audience.cursors`):
every forged, altered, borrowed or hostile cursor is a 400 that names the
field, and the cursors the server hands out still page through everyone once.
The timeline's and the delivery log's ``before`` cursors are strict already
(a time, or a number and an ObjectId); out-of-range values are a 400 too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from bson import json_util

from plugin.audience.cursors import CursorScope, decode_cursor, encode_cursor
from plugin.capture.store import CaptureStore
from plugin.core import events as ev
from plugin.core.errors import InvalidRequest
from plugin.core.properties import MAX_TEXT_LENGTH, SYSTEM_PROPERTIES, PropertyDef, PropertyType
from plugin.db.database import Database
from plugin.http.appkeys import SETTINGS
from plugin.schemas import load as load_schema
from tests.conftest import Api

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
USERS = ["ann", "bob", "cy", "dee", "eve", "fay", "gus"]
WITH_EMAIL = {"conditions": [{"property": "email", "operator": "is_set"}]}
EVERYONE = {"conditions": [{"property": "message_count", "operator": "gte", "value": 0}]}

# What an attacker put where the sort value goes, in the old cursor's format.
OPERATOR_PAYLOADS = {
    "catastrophic regex": {"$in": [{"$regularExpression": {"pattern": "^(a+)+$",
                                                           "options": ""}}]},
    "$where": {"$where": "sleep(10000) || true"},
    "$expr": {"$expr": {"$eq": [1, 1]}},
    "$function": {"$function": {"body": "function() { return true }", "args": [],
                                "lang": "js"}},
    "$ne": {"$ne": None},
}


async def seed(db: Database, bot_id: str) -> None:
    """Seven users, a message each a minute apart; every other one has an email."""
    batch = []
    for n, user in enumerate(USERS):
        batch.append(ev.user_message(bot_id, user, "a" * 30 + "!", ts=T0 + timedelta(minutes=n)))
        batch.append(ev.property_set(bot_id, user, "visits", n % 3, ts=T0))
        if n % 2 == 0:
            batch.append(ev.property_set(bot_id, user, "email", f"{user}@example.com", ts=T0))
    await CaptureStore.of(db).ingest(batch)


def query_path(bot_id: str) -> str:
    return f"/v1/bots/{bot_id}/audience/query"


async def first_cursor(api: Api, bot_id: str, body: dict[str, Any]) -> str:
    status, page = await api.post(query_path(bot_id), {**body, "limit": 2})
    assert status == 200 and page["next"], page
    return str(page["next"])


def old_format(sort: str, value: object) -> str:
    raw = json_util.dumps({"s": sort, "v": value, "i": "x"})
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def server_key(app_server: tuple[web.Application, str]) -> bytes:
    return app_server[0][SETTINGS].cursor_key()


def assert_refused(status: int, body: Any, says: str) -> None:
    assert status == 400, body
    assert body["details"] == {"field": "cursor"}, body
    assert says in body["message"], body["message"]


@pytest.mark.parametrize("payload", list(OPERATOR_PAYLOADS.values()),
                         ids=list(OPERATOR_PAYLOADS))
async def test_an_operator_in_a_cursor_never_reaches_the_query(
        api: Api, db: Database, bot_id: str, payload: object) -> None:
    await seed(db, bot_id)
    segment = await create_segment(api, bot_id, "Everyone", EVERYONE)
    for sort in ("email", "-last_message_at"):
        cursor = old_format(sort, payload)
        status, body = await api.post(query_path(bot_id), {"sort": sort, "cursor": cursor})
        assert_refused(status, body, "not a cursor this API returned")
        status, body = await api.post(f"/v1/bots/{bot_id}/segments/{segment}/query",
                                      {"sort": sort, "cursor": cursor})
        assert_refused(status, body, "not a cursor this API returned")


@pytest.mark.parametrize(("kind", "value"), [
    ("str", {"$in": [{"$regularExpression": {"pattern": "^(a+)+$", "options": ""}}]}),
    ("num", {"$where": "true"}),
    ("null", {"$ne": None}),
    ("num", [1, 2]),
    ("str", 7),
    ("date", "not a date"),
    ("$where", "true"),
])
async def test_a_signed_cursor_with_a_hostile_value_is_refused_all_the_same(
        api: Api, db: Database, bot_id: str, app_server: tuple[web.Application, str],
        kind: str, value: object) -> None:
    # Were the key to leak, the payload is still parsed strictly: a scalar of
    # the sort property's type, never a document, a list or an operator.
    await seed(db, bot_id)
    scope = CursorScope.of(bot_id, "email", None)
    payload = json.dumps([1, bot_id, "email", scope.filter_digest, kind, value, "x"]).encode()
    mac = hmac.new(server_key(app_server), payload, hashlib.sha256).digest()
    cursor = ".".join(base64.urlsafe_b64encode(p).decode().rstrip("=") for p in (payload, mac))
    status, body = await api.post(query_path(bot_id), {"sort": "email", "cursor": cursor})
    assert_refused(status, body, "does not fit 'email'")


async def test_a_forged_or_tampered_cursor_is_refused(
        api: Api, db: Database, bot_id: str) -> None:
    await seed(db, bot_id)
    good = await first_cursor(api, bot_id, {"sort": "email"})
    payload, mac = good.split(".")
    raw = bytearray(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    raw[-3] ^= 1  # one bit of the profile id
    tampered = base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=") + "." + mac
    forged = encode_cursor(b"not the server's key" * 2, CursorScope.of(bot_id, "email", None),
                           SYSTEM_PROPERTIES["user_id"], "ann", "x")
    for cursor in (tampered, forged, payload, f"{payload}.", f"{payload}.{mac[:-2]}",
                   f"{payload}.{mac}.{mac}", good.replace(".", "é"), "-" * 41, "=.="):
        status, body = await api.post(query_path(bot_id), {"sort": "email", "cursor": cursor})
        assert_refused(status, body, "not a cursor this API returned")
        assert "start again without it" in body["message"]


async def test_a_cursor_of_another_bot_sort_or_filter_is_refused(
        api: Api, db: Database, bot_id: str) -> None:
    other = bot_id + "-other"
    await seed(db, bot_id)
    await seed(db, other)
    cursor = await first_cursor(api, bot_id, {"sort": "email", "filter": WITH_EMAIL})
    cases = [
        (other, {"sort": "email", "filter": WITH_EMAIL}, "belongs to another bot"),
        (bot_id, {"sort": "-email", "filter": WITH_EMAIL}, "belongs to another sort order"),
        (bot_id, {"sort": "user_id", "filter": WITH_EMAIL}, "belongs to another sort order"),
        (bot_id, {"sort": "email"}, "belongs to another filter"),
        (bot_id, {"sort": "email", "filter": EVERYONE}, "belongs to another filter"),
    ]
    for bot, body, says in cases:
        status, answer = await api.post(query_path(bot), {**body, "cursor": cursor})
        assert_refused(status, answer, says)


async def test_a_cursor_of_another_segment_is_refused(api: Api, db: Database,
                                                      bot_id: str) -> None:
    await seed(db, bot_id)
    first = await create_segment(api, bot_id, "Everyone", EVERYONE)
    second = await create_segment(api, bot_id, "Everyone again", EVERYONE)
    path = f"/v1/bots/{bot_id}/segments/{{}}/query"
    status, page = await api.post(path.format(first), {"limit": 2})
    assert status == 200 and page["next"], page
    status, body = await api.post(path.format(second), {"cursor": page["next"]})
    assert_refused(status, body, "belongs to another filter or segment")
    # Nor does a segment's cursor page the whole audience, or the reverse.
    status, body = await api.post(query_path(bot_id), {"cursor": page["next"]})
    assert_refused(status, body, "belongs to another filter or segment")
    audience_cursor = await first_cursor(api, bot_id, {"filter": EVERYONE})
    status, body = await api.post(path.format(first), {"cursor": audience_cursor})
    assert_refused(status, body, "belongs to another filter or segment")


@pytest.mark.parametrize("sort", ["email", "-email", "last_message_at", "-last_message_at",
                                  "visits", "-visits", "user_id"])
async def test_the_cursors_handed_out_page_through_everyone_once(
        api: Api, db: Database, bot_id: str, sort: str) -> None:
    await seed(db, bot_id)
    for filter_, expected in ((None, set(USERS)), (WITH_EMAIL, set(USERS[::2]))):
        seen: list[str] = []
        body: dict[str, Any] = {"sort": sort, "limit": 2}
        if filter_:
            body["filter"] = filter_
        while True:
            status, page = await api.post(query_path(bot_id), body)
            assert status == 200, page
            seen += [u["user_id"] for u in page["users"]]
            if page["next"] is None:
                break
            body["cursor"] = page["next"]
        assert sorted(seen) == sorted(expected), (sort, filter_)


async def test_a_list_property_is_no_sort_order(api: Api, db: Database, bot_id: str) -> None:
    await seed(db, bot_id)
    status, _ = await api.request("PUT", f"/v1/bots/{bot_id}/properties",
                                  {"properties": [{"name": "tags", "type": "list"}]})
    assert status == 200
    status, body = await api.post(query_path(bot_id), {"sort": "tags"})
    assert status == 400 and body["details"] == {"field": "sort"}
    assert "cannot sort by list property 'tags'" in body["message"]


def test_the_longest_cursor_fits_the_request_schemas() -> None:
    # A text value of the most characters, each escaped in JSON as \uXXXX.
    value = "\x01" * MAX_TEXT_LENGTH
    scope = CursorScope.of("b" * 64, "-" + "p" * 64, WITH_EMAIL)
    profile_id = f"64:{'b' * 64}:256:{chr(1) * 256}"
    prop = PropertyDef("p" * 64, PropertyType.TEXT)
    cursor = encode_cursor(b"k" * 32, scope, prop, value, profile_id)
    assert decode_cursor(b"k" * 32, scope, prop, cursor) == (value, profile_id)
    for name in ("audience.query", "segment.query"):
        assert len(cursor) <= load_schema(name)["properties"]["cursor"]["maxLength"], name


def test_a_value_that_drifted_from_its_type_cannot_be_paged_past() -> None:
    prop = PropertyDef("age", PropertyType.NUMBER)
    scope = CursorScope.of("b", "age", None)
    with pytest.raises(InvalidRequest, match="holds text, not a number"):
        encode_cursor(b"k" * 32, scope, prop, "42", "x")
    assert decode_cursor(b"k" * 32, scope, prop,
                         encode_cursor(b"k" * 32, scope, prop, None, "x")) == (None, "x")


@pytest.mark.parametrize("before", [
    base64.urlsafe_b64encode(b"-99999999999999999999:" + b"0" * 24).decode(),
    base64.urlsafe_b64encode(b"99999999999999999999999:" + b"0" * 24).decode(),
    "9999-12-31T23:59:59-01:00",
    "0001-01-01T00:00:00+01:00",
    '{"$gt": ""}',
])
async def test_an_out_of_range_timeline_cursor_is_a_400(api: Api, db: Database, bot_id: str,
                                                        before: str) -> None:
    await seed(db, bot_id)
    status, body = await api.get(f"/v1/bots/{bot_id}/users/ann/timeline?before={before}")
    assert status == 400, body
    assert body["details"] == {"parameter": "before"}


async def test_a_hostile_delivery_log_cursor_is_a_400(api: Api, db: Database,
                                                      bot_id: str) -> None:
    await seed(db, bot_id)
    status, hook = await api.post(f"/v1/bots/{bot_id}/webhooks", {
        "url": "https://crm.example.com/in", "events": ["profile.created"]})
    assert status == 201, hook
    for before in ('{"$gt": ""}', "0" * 23, "é" * 12, "x" * 3000):
        status, body = await api.get(
            f"/v1/bots/{bot_id}/webhooks/{hook['id']}/deliveries?before={before}")
        assert status == 400, body
        assert body["details"] == {"field": "before"}


async def create_segment(api: Api, bot_id: str, name: str, filter_: dict[str, Any]) -> str:
    status, segment = await api.post(f"/v1/bots/{bot_id}/segments",
                                     {"name": name, "kind": "dynamic", "filter": filter_})
    assert status == 201, segment
    return str(segment["id"])
