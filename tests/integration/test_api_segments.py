"""Segments over HTTP: create, list, read, change and delete them; static
membership by hand, dynamic membership computed when asked; segments as
filter conditions; and every way a request can be wrong (changing nothing)."""

from __future__ import annotations

from typing import Any

from plugin.audience.profile_store import ProfileStore
from plugin.capture.store import CaptureStore
from plugin.core import events as ev
from plugin.db.database import Database
from tests.conftest import Api
from tests.integration.test_api_audience import seed

EMAIL = {"property": "email", "operator": "is_set"}
WHATSAPP = {"property": "channel", "operator": "equals", "value": "whatsapp"}


def base(bot_id: str) -> str:
    return f"/v1/bots/{bot_id}/segments"


async def create(api: Api, bot_id: str, body: dict[str, Any]) -> dict[str, Any]:
    status, segment = await api.post(base(bot_id), body)
    assert status == 201, segment
    return dict(segment)


async def dynamic(api: Api, bot_id: str, name: str, *conditions: dict[str, Any],
                  expression: str | None = None) -> dict[str, Any]:
    return await create(api, bot_id, {"name": name, "kind": "dynamic", "filter": {
        "conditions": list(conditions), "expression": expression}})


async def members(api: Api, bot_id: str, segment_id: str, **body: Any) -> list[str]:
    status, page = await api.post(f"{base(bot_id)}/{segment_id}/query", body)
    assert status == 200, page
    return sorted(u["user_id"] for u in page["users"])


async def count(api: Api, bot_id: str, filter_: dict[str, Any]) -> int:
    status, body = await api.post(f"/v1/bots/{bot_id}/audience/count", {"filter": filter_})
    assert status == 200, body
    return int(body["total"])


async def listing(api: Api, bot_id: str) -> list[dict[str, Any]]:
    status, body = await api.get(base(bot_id))
    assert status == 200, body
    return list(body["segments"])


async def test_dynamic_segment_crud(api: Api, db: Database, bot_id: str) -> None:
    await seed(db, bot_id)
    segment = await dynamic(api, bot_id, "  With email  ", EMAIL)
    assert segment["name"] == "With email" and segment["kind"] == "dynamic"
    assert segment["count"] == 3 and segment["favourite"] is False
    assert segment["filter"]["conditions"] == [EMAIL]
    assert {"id", "created_at", "updated_at"} <= set(segment)
    path = f"{base(bot_id)}/{segment['id']}"
    status, got = await api.get(path)
    assert status == 200 and got == segment

    status, changed = await api.request("PATCH", path, {"name": "Reachable", "filter": {
        "conditions": [EMAIL, WHATSAPP], "expression": "1 or 2"}})
    assert status == 200, changed
    assert changed["name"] == "Reachable" and changed["count"] == 4
    assert changed["updated_at"] >= segment["updated_at"]
    assert await members(api, bot_id, segment["id"]) == ["ann", "bob", "cy", "eve"]

    status, _ = await api.request("DELETE", path)
    assert status == 204
    assert (await api.get(path))[0] == 404
    assert await listing(api, bot_id) == []


async def test_query_pages_and_sorts_members(api: Api, db: Database, bot_id: str) -> None:
    await seed(db, bot_id)
    segment = await dynamic(api, bot_id, "Everyone")
    path = f"{base(bot_id)}/{segment['id']}/query"
    seen: list[str] = []
    body: dict[str, Any] = {"sort": "user_id", "limit": 2}
    while True:
        status, page = await api.post(path, body)
        assert status == 200 and page["total"] == 5, page
        seen += [u["user_id"] for u in page["users"]]
        if page["next"] is None:
            break
        body["cursor"] = page["next"]
    assert seen == ["ann", "bob", "cy", "dee", "eve"]
    status, error = await api.post(path, {"sort": "shoe_size"})
    assert status == 400 and "shoe_size" in error["message"]


async def test_dynamic_membership_follows_data_static_does_not(
    api: Api, db: Database, bot_id: str
) -> None:
    await seed(db, bot_id)
    email = await dynamic(api, bot_id, "With email", EMAIL)
    static = await create(api, bot_id, {"name": "Picked", "kind": "static",
                                        "user_ids": ["ann", "dee", "ghost"]})
    assert static["count"] == 2 and static["added"] == 2 and static["unknown"] == ["ghost"]
    await CaptureStore.of(db).ingest([ev.property_set(bot_id, "dee", "email", "dee@example.com"),
                        ev.property_set(bot_id, "ann", "first_name", "Anne")])
    assert (await api.get(f"{base(bot_id)}/{email['id']}"))[1]["count"] == 4
    assert "dee" in await members(api, bot_id, email["id"])
    assert await members(api, bot_id, static["id"]) == ["ann", "dee"]
    # A new user matching everything joins the dynamic segment only.
    await CaptureStore.of(db).ingest([ev.property_set(bot_id, "zed", "email", "zed@example.com")])
    assert (await api.get(f"{base(bot_id)}/{email['id']}"))[1]["count"] == 5
    assert (await api.get(f"{base(bot_id)}/{static['id']}"))[1]["count"] == 2


async def test_static_members_added_and_removed(api: Api, db: Database, bot_id: str) -> None:
    await seed(db, bot_id)
    segment = await create(api, bot_id, {"name": "Follow up", "kind": "static"})
    assert segment["count"] == 0 and "filter" not in segment
    path = f"{base(bot_id)}/{segment['id']}/members"
    status, result = await api.post(path, {"user_ids": ["ann", "bob", "nobody", "ann"]})
    assert status == 200 and result == {"added": 2, "unknown": ["nobody"]}
    status, result = await api.post(path, {"user_ids": ["bob", "cy"]})
    assert result == {"added": 1, "unknown": []}
    status, result = await api.request("DELETE", path, {"user_ids": ["bob", "dee", "who"]})
    assert status == 200 and result == {"removed": 1, "unknown": ["who"]}
    assert await members(api, bot_id, segment["id"]) == ["ann", "cy"]
    profile = (await api.get(f"/v1/bots/{bot_id}/users/ann"))[1]
    assert profile["segments"] == [segment["id"]]


async def test_deleting_a_static_segment_clears_it_from_profiles(
    api: Api, db: Database, bot_id: str
) -> None:
    await seed(db, bot_id)
    keep = await create(api, bot_id, {"name": "Keep", "kind": "static", "user_ids": ["ann"]})
    gone = await create(api, bot_id, {"name": "Gone", "kind": "static",
                                      "user_ids": ["ann", "bob"]})
    assert (await api.request("DELETE", f"{base(bot_id)}/{gone['id']}"))[0] == 204
    assert (await ProfileStore.of(db).get_profile(bot_id, "ann") or {})["segments"] == [keep["id"]]
    assert (await ProfileStore.of(db).get_profile(bot_id, "bob") or {})["segments"] == []


async def test_favourites_first_then_by_name(api: Api, db: Database, bot_id: str) -> None:
    await seed(db, bot_id)
    made = {name: await create(api, bot_id, {"name": name, "kind": "static"})
            for name in ("beta", "Alpha", "gamma", "delta")}
    for name in ("gamma", "beta"):
        status, body = await api.request("PATCH", f"{base(bot_id)}/{made[name]['id']}",
                                         {"favourite": True})
        assert status == 200 and body["favourite"] is True
    assert [s["name"] for s in await listing(api, bot_id)] == ["beta", "gamma", "Alpha", "delta"]
    await api.request("PATCH", f"{base(bot_id)}/{made['gamma']['id']}", {"favourite": False})
    assert [s["name"] for s in await listing(api, bot_id)] == ["beta", "Alpha", "delta", "gamma"]
    assert all(s["count"] == 0 for s in await listing(api, bot_id))


async def test_segments_as_filter_conditions(api: Api, db: Database, bot_id: str) -> None:
    await seed(db, bot_id)
    picked = await create(api, bot_id, {"name": "Picked", "kind": "static",
                                        "user_ids": ["ann", "cy"]})
    email = await dynamic(api, bot_id, "With email", EMAIL)
    # A dynamic segment built on the other two: picked or (email and whatsapp).
    mixed = await dynamic(api, bot_id, "Mixed",
                          {"property": "segment", "operator": "in", "value": picked["id"]},
                          {"property": "segment", "operator": "in", "value": email["id"]},
                          WHATSAPP, expression="1 or (2 and 3)")
    assert await members(api, bot_id, mixed["id"]) == ["ann", "bob", "cy"]

    def seg(operator: str, segment: dict[str, Any]) -> dict[str, Any]:
        return {"property": "segment", "operator": operator, "value": segment["id"]}

    assert await count(api, bot_id, {"conditions": [seg("not_in", picked)]}) == 3
    assert await count(api, bot_id, {"conditions": [seg("not_in", mixed)]}) == 2
    assert await count(api, bot_id, {"conditions": [seg("in", email), seg("not_in", picked)],
                                     "expression": "1 and 2"}) == 2
    assert await count(api, bot_id, {"conditions": [seg("in", mixed), WHATSAPP],
                                     "expression": "A or B"}) == 3
    status, page = await api.post(f"/v1/bots/{bot_id}/audience/query", {
        "filter": {"conditions": [seg("not_in", email)]}, "sort": "user_id"})
    assert status == 200 and [u["user_id"] for u in page["users"]] == ["cy", "dee"]


async def test_cycles_and_unknown_segments_are_refused(api: Api, db: Database,
                                                       bot_id: str) -> None:
    await seed(db, bot_id)
    first = await dynamic(api, bot_id, "First", EMAIL)
    second = await dynamic(api, bot_id, "Second",
                           {"property": "segment", "operator": "in", "value": first["id"]})
    loop = {"conditions": [EMAIL, {"property": "segment", "operator": "not_in",
                                   "value": second["id"]}]}
    status, error = await api.request("PATCH", f"{base(bot_id)}/{first['id']}", {"filter": loop})
    assert status == 400 and error["error"] == "invalid_filter", error
    assert "refers back to itself" in error["message"]
    assert error["details"]["condition"] == 2
    assert (await api.get(f"{base(bot_id)}/{first['id']}"))[1]["filter"]["conditions"] == [EMAIL]

    unknown = {"conditions": [{"property": "segment", "operator": "in", "value": "nope"}]}
    status, error = await api.post(f"/v1/bots/{bot_id}/audience/count", {"filter": unknown})
    assert status == 400 and error["message"] == "condition 1: unknown segment 'nope'"
    # A segment another segment's filter uses cannot be deleted from under it.
    status, error = await api.request("DELETE", f"{base(bot_id)}/{first['id']}")
    assert status == 409 and "Second" in error["message"]


async def test_every_wrong_request_is_refused_and_changes_nothing(
    api: Api, db: Database, bot_id: str, make_key: Any
) -> None:
    await seed(db, bot_id)
    static = await create(api, bot_id, {"name": "Static", "kind": "static", "user_ids": ["ann"]})
    dyn = await dynamic(api, bot_id, "Dynamic", EMAIL)
    before = await listing(api, bot_id)
    one = f"{base(bot_id)}/{static['id']}"

    bad_filter = {"name": "Bad", "kind": "dynamic", "filter": {"conditions": [
        EMAIL, {"property": "email", "operator": "gt", "value": 3}]}}
    status, error = await api.post(base(bot_id), bad_filter)
    assert status == 400 and error["details"]["condition"] == 2
    assert error["message"].startswith("condition 2:")

    cases: list[tuple[str, str, Any, int]] = [
        ("POST", base(bot_id), {"name": "static", "kind": "static"}, 409),  # name, any case
        ("POST", base(bot_id), {"name": "   ", "kind": "static"}, 400),
        ("POST", base(bot_id), {"name": "x" * 101, "kind": "static"}, 400),
        ("POST", base(bot_id), {"name": "No filter", "kind": "dynamic"}, 400),
        ("POST", base(bot_id), {"name": "Both", "kind": "static", "filter": {"conditions": []}},
         400),
        ("POST", base(bot_id), {"name": "Ids", "kind": "dynamic", "user_ids": ["ann"],
                                "filter": {"conditions": []}}, 400),
        ("POST", base(bot_id), {"name": "Kind", "kind": "smart"}, 400),
        ("POST", base(bot_id), {"name": "Many", "kind": "static",
                                "user_ids": ["a"] * 10_001}, 400),
        ("PATCH", one, {"name": "dynamic"}, 409),
        ("PATCH", one, {"filter": {"conditions": [EMAIL]}}, 409),
        ("PATCH", one, {}, 400),
        ("PATCH", one, {"favourite": "yes"}, 400),
        ("POST", f"{one}/members", {"user_ids": []}, 400),
        ("POST", f"{one}/members", {"user_ids": ["a"] * 10_001}, 400),
        ("POST", f"{one}/members", {"user_ids": ["bob", 7]}, 400),
        ("POST", f"{base(bot_id)}/{dyn['id']}/members", {"user_ids": ["bob"]}, 409),
        ("DELETE", f"{base(bot_id)}/{dyn['id']}/members", {"user_ids": ["ann"]}, 409),
        ("GET", f"{base(bot_id)}/missing", None, 404),
        ("PATCH", f"{base(bot_id)}/missing", {"favourite": True}, 404),
        ("DELETE", f"{base(bot_id)}/missing", None, 404),
        ("POST", f"{base(bot_id)}/missing/members", {"user_ids": ["bob"]}, 404),
        ("POST", f"{base(bot_id)}/missing/query", {}, 404),
    ]
    for method, path, body, expected in cases:
        status, error = await api.request(method, path, body)
        assert status == expected, (method, path, body, error)
        assert error["message"], error
    status, error = await api.request("POST", f"{base(bot_id)}/{dyn['id']}/members",
                                      {"user_ids": ["bob"]})
    assert "dynamic" in error["message"]
    status, error = await api.request("PATCH", one, {"filter": {"conditions": [EMAIL]}})
    assert "static segment has no filter" in error["message"]
    assert await listing(api, bot_id) == before
    assert await members(api, bot_id, static["id"]) == ["ann"]


async def test_roles_and_other_bots(api: Api, db: Database, bot_id: str, make_key: Any) -> None:
    await seed(db, bot_id)
    segment = await create(api, bot_id, {"name": "Static", "kind": "static"})
    viewer = api.as_key(await make_key("viewer", bot_id))
    assert (await viewer.get(base(bot_id)))[0] == 200
    assert (await viewer.post(f"{base(bot_id)}/{segment['id']}/query", {}))[0] == 200
    assert (await viewer.post(base(bot_id), {"name": "V", "kind": "static"}))[0] == 403
    assert (await viewer.post(f"{base(bot_id)}/{segment['id']}/members",
                              {"user_ids": ["ann"]}))[0] == 403
    assert (await viewer.request("DELETE", f"{base(bot_id)}/{segment['id']}"))[0] == 403
    other = api.as_key(await make_key("editor", bot_id + "-other"))
    assert (await other.get(f"{base(bot_id)}/{segment['id']}"))[0] == 404
    assert (await other.get(base(bot_id)))[0] == 404
    # The segment is this bot's: another bot's path does not see it either.
    assert (await api.get(f"{base(bot_id + '-other')}/{segment['id']}"))[0] == 404
    assert [s["name"] for s in await listing(api, bot_id)] == ["Static"]
