"""Hostile request bodies and headers at the two doors where interactions come in:
``POST /v1/bots/{bot}/events`` and the dummy channel's
``POST /v1/channels/dummy/{bot}/messages`` (which runs the reference runtime
and records through the recorder).

Each hostile request is one row of :data:`HOSTILE`: the door, the raw body
(and headers), the status expected and fragments the error message must hold
(the field path among them). A refused request must leave nothing behind: no
event, no profile, no conversation. The tests after the table check that the
edges of what is allowed still go in, that a value that cannot be stored
through a bot's question is recorded as rejected, and that no response ever
carries NaN or Infinity.
"""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import aiohttp
import pytest
import yarl
from aiohttp import web

from connectors.dummy_http import DUMMY
from plugin.core import constants as c
from plugin.core.errors import InvalidRequest
from plugin.core.events import parse_timestamp, property_rejected
from plugin.core.json_format import dumps
from plugin.core.properties import (
    InvalidValue,
    PropertyDef,
    PropertyType,
    check_property_name,
    validate_value,
)
from plugin.core.storable import MAX_DEPTH, Unreadable, check_storable, storable_form
from plugin.db.database import Database
from plugin.http.jsonio import json_response
from tests.conftest import ADMIN_KEY, Api
from tests.stored import stored_event_docs

DUMMY_USER = "hostile-user"

BOT_YAML = """
bot: {{id: {bot_id}, name: Hostile inputs}}
properties:
  arrival:
    type: date
    label: Arrival
    error_message: Please give a date.
modules:
  welcome:
    default: true
    steps:
      - say: Hi there!
  trip:
    start:
      keywords: [trip]
    steps:
      - ask: {{property: arrival, prompt: When do you arrive?, retries: 3}}
      - say: See you then.
"""


@dataclass(frozen=True)
class Hostile:
    door: str  # "events" or "dummy"
    body: bytes
    status: int
    fragments: tuple[str, ...]
    headers: Mapping[str, str] = field(default_factory=dict)


def _json(value: object) -> bytes:
    # json.dumps writes what a hostile client would: NaN, lone surrogates as
    # \ud800 escapes, integers of any size.
    return json.dumps(value).encode()


def events(*data: dict[str, Any], **event: Any) -> bytes:
    """A batch of custom events (or of the given type) with ``data``."""
    kind = event.pop("type", "custom")
    return _json({"events": [{"user_id": "u1", "type": kind, "data": d, **event} for d in data]})


def custom(**data: Any) -> bytes:
    return events({"name": "hostile", **data})


def message(**fields: Any) -> bytes:
    return _json({"user_id": DUMMY_USER, "text": "hi", **fields})


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def events_with_raw_value(raw: str) -> bytes:
    return ('{"events": [{"user_id": "u1", "type": "custom", '
            '"data": {"name": "hostile", "v": ' + raw + '}}]}').encode()


def message_with_raw_profile_value(raw: str) -> bytes:
    return ('{"user_id": "' + DUMMY_USER + '", "text": "hi", '
            '"profile": {"first_name": ' + raw + '}}').encode()


GARBAGE_GZIP = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
DIGITS_4301 = "1" * 4301

HOSTILE: dict[str, Hostile] = {
    # Integers MongoDB cannot hold (int64), in values and in lists.
    "events: int beyond int64": Hostile(
        "events", custom(n=2**63), 400, ("events/0/data/n", "64-bit")),
    "events: int below int64": Hostile(
        "events", custom(n=-(2**63) - 1), 400, ("events/0/data/n", "64-bit")),
    "events: int beyond int64 in a list": Hostile(
        "events", custom(items=[1, 2, 10**30]), 400, ("events/0/data/items/2", "64-bit")),
    "events: int beyond int64 as a property value": Hostile(
        "events", events({"property": "age", "value": 10**30}, type="property_set"), 400,
        ("events/0/data/value", "64-bit")),
    "events: 4301-digit number": Hostile(
        "events", events_with_raw_value(DIGITS_4301), 400,
        ("events/0/data/v", "4301 digits")),
    "dummy: profile int beyond int64": Hostile(
        "dummy", message(profile={"first_name": 10**30}), 400,
        ("profile/first_name", "64-bit")),
    "dummy: profile int beyond int64 in a list": Hostile(
        "dummy", message(profile={"tags": ["a", -(10**20)]}), 400,
        ("profile/tags/1", "64-bit")),
    "dummy: 4301-digit number": Hostile(
        "dummy", message_with_raw_profile_value(DIGITS_4301), 400,
        ("profile/first_name", "4301 digits")),
    # Timestamps that leave the datetime range once converted to UTC.
    "events: ts before year 1 in UTC": Hostile(
        "events", events({"text": "hi"}, type="user_message", ts="0001-01-01T00:00:00+01:00"),
        400, ("events/0/ts", "out of range")),
    "events: ts after year 9999 in UTC": Hostile(
        "events", events({"text": "hi"}, type="user_message", ts="9999-12-31T23:59:59-01:00"),
        400, ("events/0/ts", "out of range")),
    # Nesting: deep enough for a RecursionError, and deep but parseable.
    "events: 1000 levels deep": Hostile(
        "events", events_with_raw_value(nested(1000)), 400, ("nested deeper than",)),
    "events: 100 levels deep": Hostile(
        "events", events_with_raw_value(nested(100)), 400,
        ("events/0/data/v/0/0", "nested deeper than")),
    "dummy: 1000 levels deep": Hostile(
        "dummy", message_with_raw_profile_value(nested(1000)), 400, ("nested deeper than",)),
    "dummy: 100 levels deep": Hostile(
        "dummy", message_with_raw_profile_value(nested(100)), 400,
        ("profile/first_name/0/0", "nested deeper than")),
    # Lone surrogates: no UTF-8 (so no BSON, and no JSON response) can hold them.
    "events: lone surrogate in a value": Hostile(
        "events", events({"text": "hi \ud800 there"}, type="user_message"), 400,
        ("events/0/data/text", "surrogate")),
    "events: lone surrogate in a key": Hostile(
        "events", custom(meta={"a\udfffb": 1}), 400, ("events/0/data/meta/", "surrogate")),
    "events: lone surrogate in the user id": Hostile(
        "events", _json({"events": [{"user_id": "u\ud800", "type": "custom",
                                     "data": {"name": "x"}}]}), 400,
        ("events/0/user_id", "surrogate")),
    "dummy: lone surrogate in the text": Hostile(
        "dummy", message(text="hi \ud800 there"), 400, ("text", "surrogate")),
    "dummy: lone surrogate in a profile value": Hostile(
        "dummy", message(profile={"first_name": "Ada \udc00"}), 400,
        ("profile/first_name", "surrogate")),
    # Keys MongoDB refuses or reads as operators and paths.
    "events: key with NUL": Hostile(
        "events", custom(meta={"a\x00b": 1}), 400, ("events/0/data/meta/", "NUL")),
    "events: key starting with $": Hostile(
        "events", custom(meta={"$where": "1"}), 400, ("events/0/data/meta/$where", "$")),
    "events: key with a dot": Hostile(
        "events", custom(**{"utm.source": "ads"}), 400, ("events/0/data/utm.source", "dot")),
    "events: $ key deep in a list": Hostile(
        "events", custom(items=[{"ok": 1}, {"$gt": 1}]), 400,
        ("events/0/data/items/1/$gt", "$")),
    "dummy: profile value with a $ key": Hostile(
        "dummy", message(profile={"meta": {"$gt": 1}}), 400, ("profile/meta/$gt", "$")),
    "dummy: profile value with a dotted key": Hostile(
        "dummy", message(profile={"meta": {"a.b": 1}}), 400, ("profile/meta/a.b", "dot")),
    # A body that claims gzip and is not.
    "events: invalid gzip": Hostile(
        "events", b"this is not gzip at all", 400, ("gzip",), GARBAGE_GZIP),
    "dummy: invalid gzip": Hostile(
        "dummy", b"\x1f\x8b\x08\x00garbage", 400, ("gzip",), GARBAGE_GZIP),
    # NaN and Infinity are not JSON.
    "events: NaN": Hostile(
        "events", custom(score=float("nan")), 400, ("events/0/data/score", "NaN")),
    "events: Infinity": Hostile(
        "events", custom(score=float("inf")), 400, ("events/0/data/score", "Infinity")),
    "events: -Infinity in a list": Hostile(
        "events", custom(scores=[1.0, float("-inf")]), 400,
        ("events/0/data/scores/1", "Infinity")),
    "events: a number too large for a float": Hostile(
        "events", events_with_raw_value("1e400"), 400, ("events/0/data/v", "finite")),
    "events: NaN as a property value": Hostile(
        "events", events({"property": "score", "value": float("nan")}, type="property_set"),
        400, ("events/0/data/value", "NaN")),
    "dummy: NaN in the profile": Hostile(
        "dummy", message(profile={"first_name": float("nan")}), 400,
        ("profile/first_name", "NaN")),
    # Property names that would become odd attribute paths.
    "events: property name with a trailing newline": Hostile(
        "events", events({"property": "age\n", "value": 3}, type="property_set"), 400,
        ("events/0/data/property", "property name")),
    "dummy: profile property name with a trailing newline": Hostile(
        "dummy", message(profile={"first_name\n": "Ada"}), 400, ("profile/", "property name")),
}


async def send(api: Api, bot_id: str, case: Hostile) -> tuple[int, Any]:
    path = (f"/v1/bots/{bot_id}/events" if case.door == "events"
            else f"/v1/channels/dummy/{bot_id}/messages?wait=true")
    headers = {"Content-Type": "application/json", **case.headers}
    return await api.post(path, raw=case.body, headers=headers)


async def deploy(api: Api, bot_id: str) -> None:
    status, body = await api.request("PUT", f"/v1/bots/{bot_id}/definition",
                                     raw=BOT_YAML.format(bot_id=bot_id).encode())
    assert status == 200, body


async def stored(db: Database, app: web.Application, bot_id: str) -> tuple[int, int]:
    """Events and profiles of ``bot_id`` once everything recorded is written."""
    recorder = app[DUMMY].recorder
    assert recorder is not None
    await recorder.flush()
    return (len(await stored_event_docs(db, {"bot_id": bot_id})),
            await db[c.PROFILES].count_documents({"bot_id": bot_id}))


@pytest.mark.parametrize("case", list(HOSTILE.values()), ids=list(HOSTILE))
async def test_hostile_request_is_refused_and_changes_nothing(
    api: Api, db: Database, app_server: tuple[web.Application, str], bot_id: str,
    case: Hostile,
) -> None:
    app = app_server[0]
    if case.door == "dummy":
        await deploy(api, bot_id)
    status, body = await send(api, bot_id, case)
    assert status == case.status, body
    assert isinstance(body, dict) and body["error"] == "invalid_request", body
    for fragment in case.fragments:
        assert fragment in body["message"], (fragment, body["message"])
    assert await stored(db, app, bot_id) == (0, 0)
    if case.door == "dummy":
        assert app[DUMMY].runtime.conversation(bot_id, DUMMY_USER) is None


async def test_the_edges_of_what_is_allowed_still_go_in(api: Api, bot_id: str) -> None:
    data = {"name": "edges", "max": 2**63 - 1, "min": -(2**63), "big_float": 1e300,
            "café": "naïve ☃ \U0001f600", "dash-key": [[[[{"deep": True}]]]],
            "nul in a value": "a\x00b"}
    batch = {"events": [
        {"id": "e1", "user_id": "u1", "type": "custom", "data": data,
         "ts": "0001-01-01T00:00:00Z"},
        {"id": "e2", "user_id": "u1", "type": "user_message", "data": {"text": "hi"},
         "ts": "9999-12-31T23:59:59+00:00"},
        {"id": "e3", "user_id": "u1", "type": "property_set",
         "data": {"property": "big", "value": 2**63 - 1}},
    ]}
    status, body = await api.post(f"/v1/bots/{bot_id}/events", batch)
    assert (status, body) == (202, {"accepted": 3, "duplicates": 0, "rejected": []})
    status, timeline = await api.get(f"/v1/bots/{bot_id}/users/u1/timeline")
    assert status == 200, timeline
    by_id = {e["id"]: e for e in timeline["events"]}
    assert by_id["e1"]["data"] == data
    assert by_id["e1"]["ts"] == "0001-01-01T00:00:00.000Z"
    assert by_id["e2"]["ts"] == "9999-12-31T23:59:59.000Z"
    _, profile = await api.get(f"/v1/bots/{bot_id}/users/u1")
    assert profile["attributes"] == {"big": 2**63 - 1}


async def test_a_gzip_body_is_read(api: Api, bot_id: str) -> None:
    body = gzip.compress(custom(ok=1))
    status, answer = await api.post(
        f"/v1/bots/{bot_id}/events", raw=body,
        headers={"Content-Encoding": "gzip", "Content-Type": "application/json"})
    assert (status, answer["accepted"]) == (202, 1), answer


async def test_a_date_out_of_range_is_a_rejected_property_value(
    api: Api, db: Database, app_server: tuple[web.Application, str], bot_id: str,
) -> None:
    """Stored safely: a valid timestamp text whose UTC time is out of range
    is a rejected value (recorded, not set), through both doors."""
    status, answer = await api.request("PUT", f"/v1/bots/{bot_id}/properties", {
        "properties": [{"name": "arrival", "type": "date"}]})
    assert status == 200, answer
    hostile = "0001-01-01T00:00:00+01:00"
    status, answer = await api.post(f"/v1/bots/{bot_id}/events", {"events": [
        {"id": "p1", "user_id": "u1", "type": "property_set",
         "data": {"property": "arrival", "value": hostile}}]})
    assert status == 202, answer
    assert [(r["index"], r["property"]) for r in answer["rejected"]] == [(0, "arrival")]
    assert "out of range" in answer["rejected"][0]["reason"]

    await deploy(api, bot_id)
    path = f"/v1/channels/dummy/{bot_id}/messages?wait=true"
    status, answer = await api.post(path, {"user_id": "u2", "text": "trip"})
    assert status == 200, answer
    assert answer["replies"][-1]["text"] == "When do you arrive?"
    status, answer = await api.post(path, {"user_id": "u2", "text": "9999-12-31T23:59:59-01:00"})
    assert status == 200, answer
    assert answer["replies"][0]["text"] == "Please give a date."
    status, timeline = await api.get(f"/v1/bots/{bot_id}/users/u2/timeline")
    assert status == 200, timeline
    sets = [e["data"] for e in timeline["events"] if e["type"] == "property_set"]
    assert [(d["property"], d.get("rejected")) for d in sets] == [("arrival", True)]
    for user in ("u1", "u2"):
        _, profile = await api.get(f"/v1/bots/{bot_id}/users/{user}")
        assert "arrival" not in profile.get("attributes", {})


def _strict_json(text: str) -> Any:
    def refuse(constant: str) -> Any:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


async def test_no_response_carries_nan_or_infinity(
    api: Api, db: Database, bot_id: str,
) -> None:
    """A value stored before the doors were shut (or written by another
    program) is sent as null: the response stays JSON."""
    status, answer = await api.post(f"/v1/bots/{bot_id}/events", {"events": [
        {"id": "e1", "user_id": "u1", "type": "custom", "data": {"name": "scored"}}]})
    assert status == 202, answer
    result = await db[c.EVENTS].update_one(
        {"bot_id": bot_id, "events.eid": "e1"},
        {"$set": {"events.0.data.score": float("nan"),
                  "events.0.data.range": [float("inf"), -float("inf"), 1.5]}})
    assert result.modified_count == 1
    async with aiohttp.ClientSession() as session, session.get(
        f"{api.base_url}/v1/bots/{bot_id}/users/u1/timeline",
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
    ) as response:
        assert response.status == 200
        body = _strict_json(await response.text())
    assert body["events"][0]["data"] == {"name": "scored", "score": None,
                                         "range": [None, None, 1.5]}


async def raw_request(base_url: str, head: bytes, body: bytes) -> tuple[int, Any]:
    """One HTTP/1.1 request written byte for byte (a client library would
    refuse or re-encode what is sent here); returns the status and JSON body."""
    url = yarl.URL(base_url)
    assert url.host is not None and url.port is not None
    reader, writer = await asyncio.open_connection(url.host, url.port)
    try:
        writer.write(head + b"\r\nHost: " + url.host.encode() + b"\r\nConnection: close"
                     + b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        await writer.drain()
        response = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    status_line, _, rest = response.partition(b"\r\n")
    _, _, payload = rest.partition(b"\r\n\r\n")
    return int(status_line.split()[1]), _strict_json(payload.decode())


@pytest.mark.parametrize("key", [
    "éééé".encode(),  # UTF-8
    "éééé".encode("latin-1"),  # not UTF-8: aiohttp reads it as lone surrogates
    "\u2603".encode(),
    b"key\x80\xff",
])
async def test_a_non_ascii_bearer_key_is_unauthorized(
    api: Api, db: Database, bot_id: str, key: bytes,
) -> None:
    head = (b"POST /v1/bots/" + bot_id.encode() + b"/events HTTP/1.1"
            b"\r\nContent-Type: application/json\r\nAuthorization: Bearer " + key)
    status, body = await raw_request(api.base_url, head, custom(ok=1))
    assert status == 401, body
    assert body["error"] == "unauthorized" and "Authorization" in body["message"], body
    assert await stored_event_docs(db, {"bot_id": bot_id}) == []


# -- the shared validator and the value checks, without a server ---------------------

DEEPEST_ALLOWED: Any = 0
for _ in range(MAX_DEPTH):
    DEEPEST_ALLOWED = [DEEPEST_ALLOWED]


@pytest.mark.parametrize(("value", "field_names", "path", "fragment"), [
    ({"n": 2**63}, True, "d/n", "64-bit"),
    ([1, [2, -(2**63) - 1]], True, "d/1/1", "64-bit"),
    ((1, float("nan")), True, "d/1", "NaN"),
    ({"x": float("-inf")}, True, "d/x", "Infinity"),
    ({"a": "ok", "b": "x\udcff"}, True, "d/b", "lone surrogate (U+DCFF at character 1)"),
    ({"k\ud800": 1}, False, "d/k\\ud800", "lone surrogate"),
    ({"a": {"": 1}}, True, "d/a/", "empty key"),
    ({"a\x00": 1}, True, "d/a\x00", "NUL"),
    ({"$set": 1}, True, "d/$set", "operator"),
    ({"a.b": 1}, True, "d/a.b", "path"),
    ({"v": {1, 2}}, True, "d/v", "a set is not a JSON value"),
    ({"v": Unreadable("an integer of 4301 digits")}, True, "d/v", "4301 digits"),
    ([DEEPEST_ALLOWED], True, "d" + "/0" * MAX_DEPTH, f"deeper than {MAX_DEPTH}"),
    # The first offending place in document order is the one named.
    ({"a": [1, {"$x": 1}], "b": 2**64}, True, "d/a/1/$x", "operator"),
])
def test_check_storable_names_the_first_offending_place(
    value: object, field_names: bool, path: str, fragment: str,
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        check_storable(value, "d", field_names=field_names)
    assert caught.value.message.startswith(f"{path}: "), caught.value.message
    assert fragment in caught.value.message
    assert caught.value.details["errors"] == [
        {"path": path, "message": caught.value.message.removeprefix(f"{path}: ")}]
    # The error itself can always be sent: its text is valid UTF-8.
    caught.value.message.encode("utf-8")


@pytest.mark.parametrize("value", [
    None, True, 0, 2**63 - 1, -(2**63), 1e308, "naïve ☃ \U0001f600", "a\x00b",
    datetime(2026, 1, 2, tzinfo=UTC), {"a-b": [1, (2, 3)], "é": {"x_y": None}},
    DEEPEST_ALLOWED,
])
def test_check_storable_passes_what_mongodb_holds(value: object) -> None:
    check_storable(value, "d")


def test_field_name_rules_apply_only_when_keys_are_stored() -> None:
    check_storable({"a.b": {"$c": {"": 1}}}, field_names=False)


def test_storable_form_keeps_what_was_tried_as_text() -> None:
    assert storable_form({"ok": [1, "two"]}) == {"ok": [1, "two"]}
    assert storable_form(10**30) == str(10**30)
    assert storable_form("a\ud800") == "a\\ud800"
    assert storable_form({"$gt": float("nan")}) == "{'$gt': nan}"


def test_a_rejected_value_that_cannot_be_stored_is_recorded_as_text() -> None:
    event = property_rejected("b", "u", "age", {"$gt": 10**30}, "expected a number")
    check_storable(event.data, "data")
    assert event.data["value"] == repr({"$gt": 10**30})
    assert event.data["rejected"] is True


@pytest.mark.parametrize("name", ["age\n", "age\r\n", " age", "age ", "a\tb", "a\x00", "a.b",
                                  "$age", "a\u00e9", ""])
def test_a_property_name_is_letters_digits_and_underscores_only(name: str) -> None:
    with pytest.raises(InvalidValue):
        check_property_name(name)


NUMBER = PropertyDef("n", PropertyType.NUMBER)
TEXT = PropertyDef("t", PropertyType.TEXT)
LIST = PropertyDef("l", PropertyType.LIST)
DATE = PropertyDef("d", PropertyType.DATE)


@pytest.mark.parametrize(("prop", "value", "stored"), [
    # Beyond 64 bits a number is kept as the float it is close to, as "1e30" is.
    pytest.param(NUMBER, 10**30, 1e30, id="number 10**30"),
    pytest.param(NUMBER, -(2**63) - 1, float(-(2**63) - 1), id="number below int64"),
    pytest.param(NUMBER, 2**63 - 1, 2**63 - 1, id="number int64 max"),
    pytest.param(LIST, ["a", 10**30, 2.0], ["a", 1e30, 2], id="list with 10**30"),
])
def test_numbers_are_stored_in_a_form_mongodb_holds(
    prop: PropertyDef, value: object, stored: object,
) -> None:
    result = validate_value(prop, value)
    assert result == stored and type(result) is type(stored)
    check_storable(result)


@pytest.mark.parametrize(("prop", "value", "fragment"), [
    pytest.param(NUMBER, 10**400, "too large", id="number 10**400"),
    pytest.param(LIST, [1, float("nan")], "list item 1", id="list with NaN"),
    pytest.param(LIST, ["ok", "x\ud800"], "list item 1 holds a lone surrogate",
                 id="list with a lone surrogate"),
    pytest.param(TEXT, "hi \ud800 there", "lone surrogate", id="text with a lone surrogate"),
    pytest.param(DATE, "0001-01-01T00:00:00+01:00", "out of range", id="date before year 1"),
    pytest.param(DATE, "9999-12-31T23:59:59-01:00", "out of range", id="date after 9999"),
    pytest.param(DATE, datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1))), "out of range",
                 id="datetime before year 1"),
])
def test_values_mongodb_cannot_hold_are_invalid(
    prop: PropertyDef, value: object, fragment: str,
) -> None:
    with pytest.raises(InvalidValue) as caught:
        validate_value(prop, value)
    assert fragment in caught.value.reason
    caught.value.reason.encode("utf-8")


@pytest.mark.parametrize("text", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_a_timestamp_out_of_range_in_utc_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError, match="out of range once in UTC"):
        parse_timestamp(text)


def test_json_out_is_always_json() -> None:
    assert dumps({"a": [float("nan"), float("inf"), 1.5], "b": float("-inf")}) == (
        '{"a": [null, null, 1.5], "b": null}')
    response = json_response({"text": "a\ud800b", "n": float("nan")})
    assert isinstance(response.body, bytes)
    assert _strict_json(response.body.decode("utf-8")) == {"text": "a\ud800b", "n": None}
