"""A write stores each user's events in one document (plugin.capture.chunks):
a bot turn is one document, each event still stored once whatever a retry
regroups, the timeline still reads event by event in time order, and events
stored one to a document by an earlier version are carried over."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest_asyncio
from bson import ObjectId
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pymongo import AsyncMongoClient, monitoring

from plugin.audience.profile_store import ProfileStore
from plugin.capture.store import UNSTORABLE, CaptureStore, TimelineCursor, event_key
from plugin.core import constants as c
from plugin.core import events as ev
from plugin.core.events import Event
from plugin.db.database import Database

T0 = datetime(2026, 7, 1, 9, 0, tzinfo=UTC)


def turn(bot_id: str, user_id: str, at: datetime) -> list[Event]:
    """What the reference runtime records for one turn."""
    return [
        ev.user_message(bot_id, user_id, "my email is ann@example.com", ts=at),
        ev.module_entered(bot_id, user_id, "collect_email", ts=at),
        ev.property_set(bot_id, user_id, "email", "ann@example.com", ts=at),
        ev.api_call(bot_id, user_id, "crm_lookup", method="GET", url="http://crm/x",
                    status=200, latency_ms=12.0, ok=True, ts=at),
        ev.branch(bot_id, user_id, "known_customer", ts=at),
        ev.bot_message(bot_id, user_id, "Thanks Ann!", ts=at),
    ]


async def all_pages(store: CaptureStore, bot_id: str, user_id: str,
                    limit: int) -> list[str]:
    ids: list[str] = []
    before: TimelineCursor | None = None
    while True:
        docs, before = await store.timeline(bot_id, user_id, limit=limit, before=before)
        ids += [doc["eid"] for doc in docs]
        if before is None:
            return ids


async def test_a_turn_is_one_document_and_reads_as_its_events(
        db: Database, bot_id: str) -> None:
    events = turn(bot_id, "ann", T0)
    result = await CaptureStore.of(db).ingest(events)
    assert result.accepted == 6
    assert await db[c.EVENTS].count_documents({"bot_id": bot_id}) == 1
    docs, more = await CaptureStore.of(db).timeline(bot_id, "ann", limit=10)
    assert more is None
    assert [d["type"] for d in docs] == [str(e.type) for e in reversed(events)]
    newest = docs[0]
    assert set(newest) == {"_id", "bot_id", "user_id", "eid", "seq", "type", "ts", "channel",
                           "data", "recorded_at"}
    assert newest["_id"] == event_key(events[-1]) and newest["data"] == {"text": "Thanks Ann!"}
    profile = await ProfileStore.of(db).get_profile(bot_id, "ann")
    assert profile is not None and profile["attributes"]["email"] == "ann@example.com"


async def test_a_retry_regrouped_with_new_events_stores_only_the_new_ones(
        db: Database, bot_id: str) -> None:
    store = CaptureStore.of(db)
    first = turn(bot_id, "bo", T0)
    second = turn(bot_id, "bo", T0 + timedelta(seconds=5))
    await store.ingest(first[:4])
    again = await store.ingest([first[5], first[2], second[0], first[4], second[1]])
    assert (again.accepted, again.duplicate_positions) == (4, {1})
    assert await CaptureStore.of(db).stored_event_count(bot_id) == 8
    assert await store.stored_event_keys(first + second) == {
        event_key(e) for e in first + second[:2]}
    profile = await ProfileStore.of(db).get_profile(bot_id, "bo")
    assert profile is not None and profile["message_count"] == 3


async def test_an_event_too_large_for_a_document_is_kept_as_unstorable_alone(
        db: Database, bot_id: str) -> None:
    """The server used to refuse it after the rest of the batch went in, and
    the second try reported those events as duplicates (accepted 1 of 4)."""
    huge = ev.custom(bot_id, "cy", "upload", {"blob": "x" * (17 * 1024 * 1024)}, ts=T0)
    fine = [ev.user_message(bot_id, "cy", f"m{i}", ts=T0 + timedelta(seconds=i))
            for i in range(1, 4)]
    result = await CaptureStore.of(db).ingest([fine[0], huge, *fine[1:]])
    assert result.accepted == 4
    assert [r.event_id for r in result.unstorable] == [huge.id]
    assert "more than a document may hold" in result.unstorable[0].reason
    docs, _ = await CaptureStore.of(db).timeline(bot_id, "cy", limit=10)
    assert [d["data"].get("text") or d["data"]["name"] for d in docs] == [
        "m3", "m2", "m1", UNSTORABLE]
    profile = await ProfileStore.of(db).get_profile(bot_id, "cy")
    assert profile is not None and profile["message_count"] == 3


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(writes=st.lists(st.lists(st.integers(0, 30), min_size=1, max_size=8),
                       min_size=1, max_size=6),
       limit=st.integers(1, 7))
async def test_pages_of_a_timeline_hold_every_event_once_in_time_order(
        db: Database, writes: list[list[int]], limit: int) -> None:
    """Writes that come late hold events older than earlier writes': their
    chunks overlap in time, and a page must still be the newest events."""
    bot_id = f"bot-{uuid.uuid4().hex[:10]}"
    store = CaptureStore.of(db)
    written: list[Event] = []
    for write in writes:
        events = [ev.user_message(bot_id, "u", f"s{second}", ts=T0 + timedelta(seconds=second))
                  for second in write]
        await store.ingest(events)
        written += events
    expected = [doc["eid"] for doc in sorted(
        [{"eid": e.id, "ts": e.ts, "n": n} for n, e in enumerate(written)],
        key=lambda d: (d["ts"], d["n"]), reverse=True)]
    assert await all_pages(store, bot_id, "u", limit) == expected


@pytest_asyncio.fixture
async def old_database(mongo_uri: str) -> AsyncIterator[tuple[AsyncMongoClient[Any], str]]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_uri, tz_aware=True)
    name = f"audience_old_{uuid.uuid4().hex[:8]}"
    yield client, name
    await client.drop_database(name)
    await client.close()


async def test_events_stored_one_to_a_document_are_carried_over(
        old_database: tuple[AsyncMongoClient[Any], str]) -> None:
    client, name = old_database
    old = [ev.user_message("bot-old", "u", f"m{i}", ts=T0 + timedelta(seconds=i))
           for i in range(3)]
    await client[name][c.EVENTS].insert_many([
        {"_id": event_key(e), "bot_id": e.bot_id, "user_id": e.user_id, "eid": e.id,
         "seq": ObjectId(), "type": str(e.type), "ts": e.ts, "channel": None, "data": e.data,
         "recorded_at": T0} for e in old])

    db = await Database.from_client(client, name)
    store = CaptureStore.of(db)
    docs, _ = await store.timeline("bot-old", "u", limit=10)
    assert [d["data"]["text"] for d in docs] == ["m2", "m1", "m0"]
    again = await store.ingest([old[1], ev.user_message("bot-old", "u", "m3")])
    assert (again.accepted, again.duplicates) == (1, 1)
    assert await CaptureStore.of(db).stored_event_count("bot-old") == 4
    # A second start finds the upgrade done and changes nothing.
    await Database.from_client(client, name)
    assert await db[c.EVENTS].count_documents({"bot_id": "bot-old"}) == 4


async def test_finding_stored_events_and_a_timeline_use_their_indexes(
        db: Database, bot_id: str) -> None:
    events = turn(bot_id, "di", T0)
    await CaptureStore.of(db).ingest(events)
    queries = {
        ("bot_user_keys",): {"bot_id": bot_id, "user_id": "di",
                             "keys": {"$in": [event_key(e) for e in events]}},
        # A timeline: either index of the user's chunks will do.
        ("bot_user_ts", "bot_user_keys"): {"bot_id": bot_id, "user_id": "di"},
    }
    for indexes, query in queries.items():
        plan = (await db[c.EVENTS].find(query).explain())["queryPlanner"]["winningPlan"]
        assert any(f"'indexName': '{index}'" in str(plan) for index in indexes), (query, plan)


class _Writes(monitoring.CommandListener):
    def __init__(self) -> None:
        self.upserts: list[dict[str, Any]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name == "update" and event.command["update"] == c.PROFILES:
            self.upserts += [u for u in event.command["updates"] if u.get("upsert")]

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None: ...

    def failed(self, event: monitoring.CommandFailedEvent) -> None: ...


async def test_every_profile_upsert_names_the_shard_key(
        old_database: tuple[AsyncMongoClient[Any], str], mongo_uri: str) -> None:
    """A sharded cluster refuses an upsert whose filter lacks the shard key
    (bot_id, user_id: docs/deploy.md); both ways capture writes a profile
    (a delta, and a rebuild after a late event) must name it."""
    _, name = old_database
    writes = _Writes()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        mongo_uri, tz_aware=True, event_listeners=[writes])
    try:
        store = CaptureStore.of(await Database.from_client(client, name))
        await store.ingest(turn("bot-sk", "eve", T0 + timedelta(minutes=1)))
        await store.ingest([ev.user_message("bot-sk", "eve", "late", ts=T0)])
    finally:
        await client.close()
    # The turn's delta; the late event's delta, refused by its guard; the rebuild.
    assert ["last_place" in u["q"] for u in writes.upserts] == [True, True, False], writes.upserts
    for upsert in writes.upserts:
        assert (upsert["q"].get("bot_id"), upsert["q"].get("user_id")) == ("bot-sk", "eve"), \
            upsert["q"]
