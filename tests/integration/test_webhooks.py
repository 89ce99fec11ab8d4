"""Real-time CRM sync: webhooks configured over the API, deliveries received by
a real aiohttp server on loopback (which fails, stalls or answers as each
test needs), signatures checked as a receiver would."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from typing import Any

import pytest

from plugin.capture.store import CaptureStore
from plugin.core.events import Event, EventType, utc_now
from plugin.core.settings import Settings
from plugin.crm import webhooks
from plugin.crm.delivery import DeliveryWorker
from plugin.crm.outbox import SignatureError, verify_signature
from plugin.db.database import Database
from tests.conftest import Api
from tests.integration.conftest import Received, Receiver

SECRET = "a-shared-secret-of-some-length"
ALL_EVENTS = ["profile.created", "profile.updated", "property.set", "property.rejected",
              "message.received", "message.sent", "module.entered", "api.called", "handover"]


async def create_hook(api: Api, bot_id: str, url: str, **extra: Any) -> dict[str, Any]:
    body = {k: v for k, v in {"url": url, "events": ALL_EVENTS, "secret": SECRET, **extra}.items()
            if v is not None}
    status, hook = await api.post(f"/v1/bots/{bot_id}/webhooks", body)
    assert status == 201, hook
    return hook


async def ingest(api: Api, bot_id: str, events: list[dict[str, Any]]) -> None:
    status, body = await api.post(f"/v1/bots/{bot_id}/events", {"events": events})
    assert status == 202, body


def message(event_id: str, user: str, text: str, second: int) -> dict[str, Any]:
    return {"id": event_id, "user_id": user, "type": "user_message", "channel": "web",
            "ts": f"2026-03-01T10:00:{second:02d}Z", "data": {"text": text}}


def prop(event_id: str, user: str, name: str, value: Any, second: int) -> dict[str, Any]:
    return {"id": event_id, "user_id": user, "type": "property_set",
            "ts": f"2026-03-01T10:00:{second:02d}Z", "data": {"property": name, "value": value}}


async def deliveries(api: Api, bot_id: str, hook_id: str, query: str = "") -> list[dict[str, Any]]:
    status, page = await api.get(f"/v1/bots/{bot_id}/webhooks/{hook_id}/deliveries{query}")
    assert status == 200, page
    found: list[dict[str, Any]] = page["deliveries"]
    return found


async def settled(api: Api, bot_id: str, hook_id: str, count: int,
                  timeout: float = 15.0) -> list[dict[str, Any]]:
    """The delivery log once ``count`` deliveries are no longer pending."""
    async def done() -> list[dict[str, Any]]:
        while True:
            found = await deliveries(api, bot_id, hook_id, "?limit=500")
            if len(found) >= count and all(d["state"] != "pending" for d in found):
                return found
            await asyncio.sleep(0.05)
    return await asyncio.wait_for(done(), timeout)


# -- configuration ---------------------------------------------------------------------------


async def test_create_shows_the_secret_once_then_only_a_hint(api: Api, bot_id: str) -> None:
    hook = await create_hook(api, bot_id, "https://crm.example.com/in", secret=None)
    assert len(hook["secret"]) == 64 and hook["secret_hint"] == "…" + hook["secret"][-4:]
    assert hook["events"] == ALL_EVENTS and hook["active"] is True and hook["audience"] is None

    status, listed = await api.get(f"/v1/bots/{bot_id}/webhooks")
    assert status == 200 and [h["id"] for h in listed["webhooks"]] == [hook["id"]]
    assert "secret" not in listed["webhooks"][0]
    status, one = await api.get(f"/v1/bots/{bot_id}/webhooks/{hook['id']}")
    assert status == 200 and "secret" not in one and one["url"] == "https://crm.example.com/in"


async def test_update_and_delete(api: Api, bot_id: str) -> None:
    hook = await create_hook(api, bot_id, "https://crm.example.com/in")
    path = f"/v1/bots/{bot_id}/webhooks/{hook['id']}"
    status, changed = await api.request("PATCH", path, {
        "events": ["property.set", "profile.created"], "active": False,
        "audience": {"filter": {"conditions": [{"property": "channel", "operator": "equals",
                                                "value": "web"}]}},
        "secret": "another-secret-of-length"})
    assert status == 200, changed
    assert changed["events"] == ["profile.created", "property.set"]  # kept in a fixed order
    assert changed["active"] is False and changed["secret_hint"] == "…ngth"
    assert changed["audience"]["filter"]["conditions"][0]["property"] == "channel"
    status, changed = await api.request("PATCH", path, {"audience": None})
    assert status == 200 and changed["audience"] is None

    assert (await api.request("DELETE", path))[0] == 204
    assert (await api.get(path))[0] == 404
    assert (await api.request("DELETE", path))[0] == 404


@pytest.mark.parametrize(("body", "fragment"), [
    ({"url": "ftp://crm.example.com/in", "events": ["property.set"]}, "http or https"),
    ({"url": "not a url", "events": ["property.set"]}, "url"),
    ({"url": "https://user:pw@crm.example.com/", "events": ["property.set"]}, "credentials"),
    ({"url": "https://crm.example.com/", "events": ["property.deleted"]}, "events/0"),
    ({"url": "https://crm.example.com/", "events": []}, "events"),
    ({"url": "https://crm.example.com/", "events": ["handover"], "secret": "short"}, "secret"),
    ({"url": "https://crm.example.com/", "events": ["handover"], "color": "red"}, "color"),
    ({"url": "https://crm.example.com/", "events": ["handover"],
      "audience": {"filter": {"conditions": [{"property": "channel", "operator": "gt",
                                              "value": 3}]}}}, "operator"),
])
async def test_bad_webhooks_are_refused_and_nothing_is_stored(
        api: Api, bot_id: str, body: dict[str, Any], fragment: str) -> None:
    status, error = await api.post(f"/v1/bots/{bot_id}/webhooks", body)
    assert status == 400, error
    assert fragment in json.dumps(error)
    assert (await api.get(f"/v1/bots/{bot_id}/webhooks"))[1] == {"webhooks": []}


async def test_an_unknown_segment_is_a_404(api: Api, bot_id: str) -> None:
    status, error = await api.post(f"/v1/bots/{bot_id}/webhooks", {
        "url": "https://crm.example.com/", "events": ["handover"],
        "audience": {"segment": "nope"}})
    assert status == 404 and "nope" in error["message"]


async def test_other_bots_and_unknown_ids_are_404(api: Api, bot_id: str) -> None:
    hook = await create_hook(api, bot_id, "https://crm.example.com/in")
    assert (await api.get(f"/v1/bots/other-{bot_id}/webhooks/{hook['id']}"))[0] == 404
    assert (await api.get(f"/v1/bots/{bot_id}/webhooks/nope/deliveries"))[0] == 404
    status, error = await api.get(
        f"/v1/bots/{bot_id}/webhooks/{hook['id']}/deliveries?state=lost")
    assert status == 400 and "state" in error["message"]
    status, error = await api.get(
        f"/v1/bots/{bot_id}/webhooks/{hook['id']}/deliveries?before=xyz")
    assert status == 400 and "before" in error["message"]


async def test_a_bot_has_at_most_twenty_webhooks(api: Api, bot_id: str) -> None:
    for n in range(20):
        await create_hook(api, bot_id, f"https://crm.example.com/{n}")
    status, error = await api.post(f"/v1/bots/{bot_id}/webhooks", {
        "url": "https://crm.example.com/21", "events": ["handover"]})
    assert status == 409 and "20" in error["message"]


# -- delivery --------------------------------------------------------------------------------


async def test_events_arrive_signed_in_order_with_the_profile(
        api: Api, bot_id: str, receiver: Receiver) -> None:
    hook = await create_hook(api, bot_id, receiver.url)
    await ingest(api, bot_id, [message("m1", "ann", "hi", 1),
                               prop("p1", "ann", "email", "Ann@Example.com", 2),
                               prop("p2", "ann", "age", "not a number", 3) | {
                                   "data": {"property": "email", "value": "nope"}}])
    await receiver.wait_for(lambda: len(receiver.requests) >= 5)

    names = [r.json["event"] for r in receiver.requests]
    assert names == ["profile.created", "message.received", "property.set",
                     "property.rejected", "profile.updated"]
    for got in receiver.requests:
        # What a receiver does: check the signature over the raw body.
        timestamp = verify_signature(SECRET, got.headers["X-Audience-Signature"], got.body)
        expected = hmac.new(SECRET.encode(), f"{timestamp}.".encode() + got.body,
                            hashlib.sha256).hexdigest()
        assert got.headers["X-Audience-Signature"] == f"t={timestamp},v1={expected}"
        assert got.headers["X-Audience-Delivery"] == got.json["id"]
        assert got.headers["X-Audience-Event"] == got.json["event"]
        assert got.headers["Content-Type"] == "application/json"
        assert got.json["bot_id"] == bot_id and got.json["user_id"] == "ann"
    first, _, set_, rejected, updated = (r.json for r in receiver.requests)
    assert first["data"]["channel"] == "web"
    assert set_["data"]["property"] == "email" and set_["data"]["value"] == "ann@example.com"
    assert set_["occurred_at"] == "2026-03-01T10:00:02.000Z"
    assert rejected["data"]["value"] == "nope" and rejected["data"]["error"]
    assert updated["data"] == {"changed": ["email"]}
    assert updated["profile"]["attributes"] == {"email": "ann@example.com"}

    log = await settled(api, bot_id, hook["id"], 5)
    assert [d["state"] for d in log] == ["delivered"] * 5
    assert log[0]["event"] == "profile.updated"  # newest first
    assert all(d["attempts"] == 1 and d["last_status"] == 200 for d in log)


async def test_a_wrong_secret_a_changed_body_or_an_old_timestamp_fail_verification(
        api: Api, bot_id: str, receiver: Receiver) -> None:
    await create_hook(api, bot_id, receiver.url, events=["message.received"])
    await ingest(api, bot_id, [message("m1", "bob", "hello", 1)])
    await receiver.wait_for(lambda: len(receiver.requests) >= 1)
    got = receiver.requests[0]
    header = got.headers["X-Audience-Signature"]
    verify_signature(SECRET, header, got.body)
    with pytest.raises(SignatureError, match="does not match"):
        verify_signature("some-other-secret-value", header, got.body)
    with pytest.raises(SignatureError, match="does not match"):
        verify_signature(SECRET, header, got.body.replace(b"hello", b"HELLO"))
    signed_at = int(header.split(",")[0][2:])
    with pytest.raises(SignatureError, match="replayed"):
        verify_signature(SECRET, header, got.body, now=signed_at + 301)


async def test_only_subscribed_events_are_sent(
        api: Api, bot_id: str, receiver: Receiver) -> None:
    hook = await create_hook(api, bot_id, receiver.url, events=["property.set"])
    await ingest(api, bot_id, [message("m1", "cy", "hi", 1), prop("p1", "cy", "city", "Oslo", 2)])
    log = await settled(api, bot_id, hook["id"], 1)
    assert [d["event"] for d in log] == ["property.set"]
    assert [r.json["event"] for r in receiver.requests] == ["property.set"]


async def test_failures_are_retried_and_a_users_events_stay_in_order(
        api: Api, bot_id: str, receiver: Receiver) -> None:
    # The first two attempts of everything fail: each delivery needs three.
    seen: dict[str, int] = {}

    def answer(_: int, got: Received) -> int:
        delivery = got.headers["X-Audience-Delivery"]
        seen[delivery] = seen.get(delivery, 0) + 1
        return 200 if seen[delivery] >= 3 else 500

    receiver.answer = answer
    hook = await create_hook(api, bot_id, receiver.url, events=["message.received"])
    await ingest(api, bot_id, [message(f"m{n}", user, f"{user} {n}", n)
                               for n in range(4) for user in ("dee", "eve")])
    log = await settled(api, bot_id, hook["id"], 8)

    assert all(d["state"] == "delivered" and d["attempts"] == 3 for d in log)
    assert [h["status"] for h in log[0]["history"]] == [500, 500, 200]
    assert "receiver says no" in log[0]["history"][0]["error"]
    for user in ("dee", "eve"):
        attempts = [r.json["data"]["text"] for r in receiver.requests
                    if r.json["user_id"] == user]
        # Each event is tried until it gets through before the next one is sent.
        assert attempts == [f"{user} {n}" for n in range(4) for _ in range(3)]
    # Every attempt of a delivery carries the same id, and its number.
    first = [r for r in receiver.requests if r.json["data"]["text"] == "dee 0"]
    assert len({r.headers["X-Audience-Delivery"] for r in first}) == 1
    assert [r.headers["X-Audience-Attempt"] for r in first] == ["1", "2", "3"]


async def test_a_receiver_that_never_answers_in_time_dead_letters_then_replays(
        api: Api, bot_id: str, receiver: Receiver) -> None:
    receiver.delay_s = 1.5  # the test server's webhook timeout is 1 s
    hook = await create_hook(api, bot_id, receiver.url, events=["message.received"])
    await ingest(api, bot_id, [message("m1", "fay", "one", 1)])
    log = await settled(api, bot_id, hook["id"], 1)
    assert log[0]["state"] == "dead" and log[0]["attempts"] == 4
    assert log[0]["last_error"] == "gave up after 4 attempts; the last: no answer within 1 s"
    assert all("no answer within 1 s" in h["error"] for h in log[0]["history"])
    assert (await deliveries(api, bot_id, hook["id"], "?state=dead"))[0]["id"] == log[0]["id"]

    receiver.delay_s = 0
    status, body = await api.post(f"/v1/bots/{bot_id}/webhooks/{hook['id']}/replay")
    assert (status, body) == (200, {"replayed": 1})
    log = await settled(api, bot_id, hook["id"], 1)
    assert log[0]["state"] == "delivered" and log[0]["attempts"] == 1
    assert log[0]["last_error"] is None


async def test_a_dead_letter_frees_its_lane_and_can_be_replayed_alone(
        api: Api, bot_id: str, receiver: Receiver) -> None:
    receiver.answer = lambda _, got: 400 if got.json["data"]["text"] == "bad" else 200
    hook = await create_hook(api, bot_id, receiver.url, events=["message.received"])
    await ingest(api, bot_id, [message("m1", "gus", "bad", 1), message("m2", "gus", "good", 2)])
    log = await settled(api, bot_id, hook["id"], 2)
    assert [(d["data"]["text"], d["state"]) for d in log] == [("good", "delivered"),
                                                              ("bad", "dead")]
    dead = log[1]["id"]

    replay = f"/v1/bots/{bot_id}/webhooks/{hook['id']}/deliveries/{dead}/replay"
    receiver.answer = lambda _, got: 200
    status, shown = await api.post(replay)
    assert status == 200 and shown["state"] == "pending" and shown["attempts"] == 0
    log = await settled(api, bot_id, hook["id"], 2)
    assert {d["state"] for d in log} == {"delivered"}
    status, _ = await api.post(f"/v1/bots/{bot_id}/webhooks/{hook['id']}/deliveries/nope/replay")
    assert status == 404


async def test_the_audience_decides_who_is_sent(
        api: Api, bot_id: str, receiver: Receiver) -> None:
    status, _ = await api.request("PUT", f"/v1/bots/{bot_id}/properties",
                                  {"properties": [{"name": "email", "type": "email"}]})
    assert status == 200
    with_email = {"filter": {"conditions": [{"property": "email", "operator": "is_set"}]}}
    hook = await create_hook(api, bot_id, receiver.url, events=["message.received"],
                             audience=with_email)
    await ingest(api, bot_id, [prop("p1", "hal", "email", "hal@example.com", 1),
                               message("m1", "hal", "in", 2), message("m2", "ida", "out", 3)])
    log = await settled(api, bot_id, hook["id"], 2)
    states = {d["user_id"]: (d["state"], d["last_error"]) for d in log}
    assert states == {"hal": ("delivered", None),
                      "ida": ("skipped", "the user is not in the webhook's audience")}
    assert [r.json["user_id"] for r in receiver.requests] == ["hal"]


async def test_retried_ingest_sends_nothing_twice(
        api: Api, bot_id: str, receiver: Receiver) -> None:
    hook = await create_hook(api, bot_id, receiver.url)
    events = [message("m1", "jo", "hi", 1), prop("p1", "jo", "city", "Rome", 2)]
    await ingest(api, bot_id, events)
    await settled(api, bot_id, hook["id"], 4)
    await ingest(api, bot_id, events)
    await asyncio.sleep(0.5)  # two poll intervals: time enough for a duplicate to go out
    assert len(await deliveries(api, bot_id, hook["id"])) == 4
    assert len(receiver.requests) == 4


async def test_a_paused_webhook_keeps_its_deliveries_until_resumed(
        api: Api, bot_id: str, receiver: Receiver) -> None:
    hook = await create_hook(api, bot_id, receiver.url, events=["message.received"],
                             active=False)
    await ingest(api, bot_id, [message("m1", "kim", "while paused", 1)])
    await asyncio.sleep(0.5)
    assert receiver.requests == []
    assert [d["state"] for d in await deliveries(api, bot_id, hook["id"])] == ["pending"]
    status, _ = await api.request("PATCH", f"/v1/bots/{bot_id}/webhooks/{hook['id']}",
                                  {"active": True})
    assert status == 200
    log = await settled(api, bot_id, hook["id"], 1)
    assert log[0]["state"] == "delivered"


async def test_handover_and_bulk_updates_reach_the_crm(
        api: Api, bot_id: str, receiver: Receiver) -> None:
    hook = await create_hook(api, bot_id, receiver.url, events=["handover", "profile.updated"])
    await ingest(api, bot_id, [message("m1", "lee", "help", 1)])
    status, body = await api.post(f"/v1/bots/{bot_id}/users/lee/takeover", {"agent": "ann"})
    assert status == 200, body
    log = await settled(api, bot_id, hook["id"], 2)
    assert {d["event"] for d in log} == {"handover", "profile.updated"}
    updated = next(r.json for r in receiver.requests if r.json["event"] == "profile.updated")
    assert updated["data"] == {"changed": ["assigned_to"]}
    assert updated["profile"]["assigned_to"] == "human:ann"


async def test_deliveries_page_with_a_cursor(api: Api, bot_id: str, receiver: Receiver) -> None:
    hook = await create_hook(api, bot_id, receiver.url, events=["message.received"])
    await ingest(api, bot_id, [message(f"m{n}", "mo", str(n), n) for n in range(5)])
    await settled(api, bot_id, hook["id"], 5)
    path = f"/v1/bots/{bot_id}/webhooks/{hook['id']}/deliveries?limit=2"
    texts: list[str] = []
    status, page = await api.get(path)
    while True:
        assert status == 200
        texts += [d["data"]["text"] for d in page["deliveries"]]
        if page["next"] is None:
            break
        status, page = await api.get(f"{path}&before={page['next']}")
    assert texts == ["4", "3", "2", "1", "0"]


async def test_several_workers_share_the_outbox_without_reordering_a_user(
        api: Api, db: Database, bot_id: str, receiver: Receiver) -> None:
    """Two more workers beside the server's, as with several serve processes:
    each user's messages still arrive in order, each at least once."""
    hook = await create_hook(api, bot_id, receiver.url, events=["message.received"])
    settings = Settings(webhook_timeout_s=1.0, webhook_allow_private=True)
    workers = [await DeliveryWorker(db, settings).start() for _ in range(2)]
    try:
        users = [f"user{n}" for n in range(5)]
        await ingest(api, bot_id, [message(f"m{n}-{u}", u, f"{u} {n}", n)
                                   for n in range(30) for u in users])
        await settled(api, bot_id, hook["id"], 150, timeout=60)
    finally:
        for worker in workers:
            await worker.close()
    for user in users:
        texts = [r.json["data"]["text"] for r in receiver.requests if r.json["user_id"] == user]
        first_seen = list(dict.fromkeys(texts))
        assert first_seen == [f"{user} {n}" for n in range(30)]


async def test_a_stopping_worker_settles_the_delivery_it_is_sending(
        db: Database, bot_id: str, receiver: Receiver) -> None:
    """close() lets the round in flight finish: the delivery is recorded as
    delivered, not left leased for another worker to send again."""
    own = Database(db.client, f"{db.mongo.name}_drain")
    await own.ensure_indexes()
    try:
        hook = await webhooks.create_webhook(
            own, bot_id, {"url": receiver.url, "events": ["message.received"], "secret": SECRET},
            allow_private=True)
        await CaptureStore.of(own).ingest([Event(bot_id, "gus", EventType.USER_MESSAGE,
                                                 {"text": "hi"}, "m1", utc_now(), "web")])
        receiver.delay_s = 0.5
        worker = await DeliveryWorker(
            own, Settings(webhook_timeout_s=5.0, webhook_allow_private=True)).start()
        await receiver.wait_for(lambda: len(receiver.requests) == 1)
        await worker.close(drain_s=5.0)
        page = await webhooks.list_deliveries(own, bot_id, hook["id"], state=None, limit=10,
                                             before=None)
        [entry] = page["deliveries"]
        assert (entry["state"], entry["attempts"]) == ("delivered", 1)
    finally:
        await db.client.drop_database(f"{db.mongo.name}_drain")
