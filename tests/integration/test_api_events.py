"""Ingest over HTTP and read back: profile, timeline, idempotency, every bad input."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import MAX_BODY_BYTES, Api


def conversation(user_id: str = "u1") -> list[dict[str, Any]]:
    return [
        {"id": "e1", "user_id": user_id, "channel": "whatsapp", "type": "user_message",
         "ts": "2026-01-02T10:00:00Z", "data": {"text": "hi"}},
        {"id": "e2", "user_id": user_id, "type": "module_entered",
         "ts": "2026-01-02T10:00:01Z", "data": {"module": "welcome", "campaign": "spring"}},
        {"id": "e3", "user_id": user_id, "type": "bot_message", "ts": "2026-01-02T10:00:02Z",
         "data": {"text": "Your email?", "quick_replies": [{"title": "Skip", "payload": "skip"}]}},
        {"id": "e4", "user_id": user_id, "type": "property_set", "ts": "2026-01-02T10:00:03Z",
         "data": {"property": "email", "value": " Ann@Example.COM "}},
        {"id": "e5", "user_id": user_id, "type": "api_call", "ts": "2026-01-02T10:00:04Z",
         "data": {"name": "crm", "method": "POST", "url": "http://crm/x", "status": 500,
                  "latency_ms": 12.5, "ok": False, "error": "status"}},
        {"id": "e6", "user_id": user_id, "type": "branch", "ts": "2026-01-02T10:00:05Z",
         "data": {"branch": "vip", "module": "welcome"}},
        {"id": "e7", "user_id": user_id, "type": "handover", "ts": "2026-01-02T10:00:06Z",
         "data": {"to": "human:ann"}},
        {"id": "e8", "user_id": user_id, "type": "custom", "ts": "2026-01-02T10:00:07Z",
         "data": {"name": "rated", "stars": 5}},
    ]


async def test_ingest_then_read_back_profile(api: Api, bot_id: str) -> None:
    status, body = await api.post(f"/v1/bots/{bot_id}/events", {"events": conversation()})
    assert (status, body) == (202, {"accepted": 8, "duplicates": 0, "rejected": []})

    status, profile = await api.get(f"/v1/bots/{bot_id}/users/u1")
    assert status == 200
    assert profile["bot_id"] == bot_id and profile["user_id"] == "u1"
    assert profile["channel"] == "whatsapp"
    assert profile["source"] == "api"
    assert profile["created_at"] == "2026-01-02T10:00:00.000Z"
    assert profile["last_message_at"] == "2026-01-02T10:00:02.000Z"
    assert profile["last_user_message"] == "hi"
    assert profile["current_message"] == "Your email?"
    assert profile["current_module"] == "welcome"
    assert profile["current_campaign"] == "spring"
    assert profile["message_count"] == 2
    assert profile["assigned_to"] == "human:ann"
    assert profile["attributes"] == {"email": "ann@example.com"}
    assert not {"rev", "last_event_at", "created_by"} & set(profile)


async def test_same_batch_twice_counts_once(api: Api, bot_id: str) -> None:
    path = f"/v1/bots/{bot_id}/events"
    assert (await api.post(path, {"events": conversation()}))[1]["accepted"] == 8
    status, body = await api.post(path, {"events": conversation()})
    assert (status, body) == (202, {"accepted": 0, "duplicates": 8, "rejected": []})
    # A batch repeating an event inside itself counts it once too.
    first = conversation()[0]
    status, body = await api.post(path, {"events": [first, first]})
    assert body == {"accepted": 0, "duplicates": 2, "rejected": []}
    _, profile = await api.get(f"/v1/bots/{bot_id}/users/u1")
    assert profile["message_count"] == 2


async def test_events_without_ids_are_each_stored(api: Api, bot_id: str) -> None:
    event = {"user_id": "u2", "type": "user_message", "data": {"text": "hello"}}
    status, body = await api.post(f"/v1/bots/{bot_id}/events", {"events": [event, event]})
    assert (status, body["accepted"]) == (202, 2)
    _, profile = await api.get(f"/v1/bots/{bot_id}/users/u2")
    assert profile["message_count"] == 2


async def test_rejected_property_value_is_recorded_not_stored(api: Api, bot_id: str) -> None:
    events = [
        {"user_id": "u1", "type": "property_set", "data": {"property": "age", "value": 31}},
        {"user_id": "u1", "type": "property_set", "data": {"property": "age", "value": "old"}},
        {"user_id": "u1", "type": "property_set", "data": {"property": "phone",
                                                          "value": "call me"}},
    ]
    status, body = await api.post(f"/v1/bots/{bot_id}/events", {"events": events})
    assert status == 202
    assert body["rejected"] == [
        {"index": 1, "user_id": "u1", "property": "age", "reason": "'old' is not a number"},
        {"index": 2, "user_id": "u1", "property": "phone",
         "reason": "'call me' is not a phone number (7 to 15 digits, optional leading +)"},
    ]
    _, profile = await api.get(f"/v1/bots/{bot_id}/users/u1")
    assert profile["attributes"] == {"age": 31}
    _, timeline = await api.get(f"/v1/bots/{bot_id}/users/u1/timeline")
    rejected = [e["data"] for e in timeline["events"] if e["data"].get("rejected")]
    assert {d["value"] for d in rejected} == {"old", "call me"}


async def test_timeline_newest_first_with_cursor(api: Api, bot_id: str) -> None:
    await api.post(f"/v1/bots/{bot_id}/events", {"events": conversation()})
    seen: list[str] = []
    path = f"/v1/bots/{bot_id}/users/u1/timeline?limit=3"
    while True:
        status, page = await api.get(path)
        assert status == 200
        seen += [e["id"] for e in page["events"]]
        if page["next"] is None:
            break
        path = f"/v1/bots/{bot_id}/users/u1/timeline?limit=3&before={page['next']}"
    assert seen == ["e8", "e7", "e6", "e5", "e4", "e3", "e2", "e1"]
    _, page = await api.get(
        f"/v1/bots/{bot_id}/users/u1/timeline?before=2026-01-02T10:00:02Z")
    assert [e["id"] for e in page["events"]] == ["e2", "e1"]
    assert page["events"][0] == {"id": "e2", "type": "module_entered",
                                 "ts": "2026-01-02T10:00:01.000Z", "channel": None,
                                 "data": {"module": "welcome", "campaign": "spring"}}


async def test_unknown_user_is_404(api: Api, bot_id: str) -> None:
    status, body = await api.get(f"/v1/bots/{bot_id}/users/nobody")
    assert status == 404 and body["error"] == "not_found"
    status, body = await api.get(f"/v1/bots/{bot_id}/users/nobody/timeline")
    assert status == 404


@pytest.mark.parametrize(
    ("body", "path", "fragment"),
    [
        ({}, "(body)", "'events' is a required property"),
        ({"events": []}, "events", "should be non-empty"),
        ({"events": [{"type": "user_message", "data": {"text": "x"}}]}, "events/0",
         "'user_id' is a required property"),
        ({"events": [{"user_id": "u", "type": "shout", "data": {}}]}, "events/0/type",
         "is not one of"),
        ({"events": [{"user_id": "u", "type": "user_message", "data": {}}]}, "events/0/data",
         "'text' is a required property"),
        ({"events": [{"user_id": "", "type": "custom", "data": {"name": "x"}}]},
         "events/0/user_id", "should be non-empty"),
        ({"events": [{"user_id": "u", "type": "custom", "data": {"name": "x"}, "extra": 1}]},
         "events/0", "Additional properties are not allowed ('extra' was unexpected)"),
        ({"events": [{"user_id": "u", "type": "handover", "data": {"to": "nobody"}}]},
         "events/0/data/to", "does not match"),
        ({"events": [{"user_id": "u", "type": "api_call",
                      "data": {"name": "a", "method": "GET", "url": "u", "ok": False,
                               "error": "exploded"}}]},
         "events/0/data/error", "is not one of"),
        ({"events": [{"user_id": "u", "type": "property_set",
                      "data": {"property": "a.$b", "value": 1}}]},
         "events/0/data/property", "does not match"),
        ({"events": [{"user_id": "u", "type": "custom", "data": {"name": "x"},
                      "ts": "yesterday"}]},
         "events/0/ts", "'yesterday' is not an ISO 8601 timestamp"),
    ],
)
async def test_invalid_events_name_the_event_and_field(
    api: Api, bot_id: str, body: object, path: str, fragment: str
) -> None:
    status, answer = await api.post(f"/v1/bots/{bot_id}/events", body)
    assert status == 400, answer
    assert answer["error"] == "invalid_request"
    paths = {e["path"]: e["message"] for e in answer["details"]["errors"]}
    assert path in paths, paths
    assert fragment in paths[path]
    assert await api.get(f"/v1/bots/{bot_id}/users/u") == (404, await_404_body(bot_id))


def await_404_body(bot_id: str) -> dict[str, str]:
    return {"error": "not_found", "message": f"user 'u' not found in bot {bot_id!r}"}


async def test_a_bad_event_rejects_the_whole_batch(api: Api, bot_id: str) -> None:
    good = {"user_id": "u", "type": "user_message", "data": {"text": "hi"}}
    bad = {"user_id": "u", "type": "user_message", "data": {"txt": "hi"}}
    status, answer = await api.post(f"/v1/bots/{bot_id}/events", {"events": [good, bad]})
    assert status == 400
    assert [e["path"] for e in answer["details"]["errors"]] == ["events/1/data"]
    assert (await api.get(f"/v1/bots/{bot_id}/users/u"))[0] == 404


async def test_body_that_is_not_json(api: Api, bot_id: str) -> None:
    status, answer = await api.post(f"/v1/bots/{bot_id}/events", raw=b"{not json")
    assert status == 400
    assert answer["message"].startswith("the request body is not valid JSON")


async def test_oversized_body_is_413(api: Api, bot_id: str) -> None:
    big = {"events": [{"user_id": "u", "type": "user_message",
                       "data": {"text": "x" * 4000}}] * (MAX_BODY_BYTES // 4000 + 1)}
    status, answer = await api.post(f"/v1/bots/{bot_id}/events", big)
    assert status == 413
    assert answer["error"] == "payload_too_large"
    assert (await api.get(f"/v1/bots/{bot_id}/users/u"))[0] == 404


async def test_too_many_events_is_413(api: Api, bot_id: str) -> None:
    events = [{"user_id": "u", "type": "custom", "data": {"name": "n"}}] * 1001
    status, answer = await api.post(f"/v1/bots/{bot_id}/events", {"events": events})
    assert status == 413
    assert "at most 1000" in answer["message"]


@pytest.mark.parametrize(
    ("query", "parameter"),
    [("limit=0", "limit"), ("limit=abc", "limit"), ("limit=501", "limit"),
     ("before=%25%25%25", "before")],
)
async def test_bad_timeline_parameters(api: Api, bot_id: str, query: str, parameter: str) -> None:
    await api.post(f"/v1/bots/{bot_id}/events", {"events": conversation()})
    status, answer = await api.get(f"/v1/bots/{bot_id}/users/u1/timeline?{query}")
    assert status == 400
    assert answer["details"] == {"parameter": parameter}


async def test_unknown_route_answers_json_404(api: Api) -> None:
    status, answer = await api.get("/v1/nothing-here")
    assert status == 404 and answer["error"] == "not_found"
