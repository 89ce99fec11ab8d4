"""Capture counts every event exactly once, however batches are grouped,
however late a retry comes, wherever a write is cut off, and one event the
database refuses spoils nothing else.

The property: after any sequence of deliveries (random batches, retries
regrouped at random, connections cut at random points), once every event has
been delivered, each profile holds exactly the fold of its stored timeline,
and the timeline holds each event once.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pymongo import AsyncMongoClient

from plugin.audience.profile_store import ProfileStore
from plugin.capture.recorder import Recorder
from plugin.capture.store import UNSTORABLE, CaptureStore, event_from_document
from plugin.capture.update import EVENT_DERIVED_FIELDS, fold
from plugin.core import constants
from plugin.core import events as ev
from plugin.core.errors import DatabaseUnavailable
from plugin.core.events import Event
from plugin.db.database import Database
from tests.stored import stored_event_docs

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
APP_NAME = "capture-integrity"


async def profile_and_fold(db: Database, bot_id: str, user_id: str
                           ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The profile's event-derived fields, and those of the fold of its stored timeline."""
    profile = await ProfileStore.of(db).get_profile(bot_id, user_id)
    assert profile is not None, f"{user_id} has no profile"
    timeline = [event_from_document(doc) for doc in
                await stored_event_docs(db, {"bot_id": bot_id, "user_id": user_id})]
    folded = fold(timeline).fields()
    shown = {name: profile.get(name) for name in EVENT_DERIVED_FIELDS if name in profile}
    shown.setdefault("attributes", {})
    shown.setdefault("message_count", 0)
    return ({k: v for k, v in shown.items() if k in folded or v not in (None, "bot")},
            folded)


async def assert_every_profile_is_its_fold(db: Database, bot_id: str) -> None:
    users = await db[constants.PROFILES].distinct("user_id", {"bot_id": bot_id})
    for user_id in users:
        profile, folded = await profile_and_fold(db, bot_id, user_id)
        assert profile == folded, user_id


# -- one bad event ---------------------------------------------------------------------------


async def test_one_event_the_database_refuses_spoils_nothing_else(
        db: Database, bot_id: str) -> None:
    recorder = await Recorder(db, flush_interval=0.05, batch_size=100).start()
    for n in range(12):
        await recorder.user_message(bot_id, f"u{n}", f"hello {n}")
    await recorder.custom(bot_id, "big", "rated", {"stars": 10**30})
    await recorder.user_message(bot_id, "surrogate", "hi \ud800 there")
    await recorder.close()

    assert (recorder.stats.failed, recorder.stats.unstorable) == (0, 2), recorder.stats
    for n in range(12):
        profile = await ProfileStore.of(db).get_profile(bot_id, f"u{n}")
        assert profile is not None and profile["message_count"] == 1, n
    for user, kind in (("big", "custom"), ("surrogate", "user_message")):
        docs, _ = await CaptureStore.of(db).timeline(bot_id, user, limit=10)
        assert [(d["type"], d["data"]["name"], d["data"]["type"]) for d in docs] == [
            ("custom", UNSTORABLE, kind)]
        assert "the database cannot store it" in docs[0]["data"]["reason"]
    big = await ProfileStore.of(db).get_profile(bot_id, "big")
    assert big is not None and big.get("message_count", 0) == 0


async def test_an_unstorable_event_is_reported_by_ingest(db: Database, bot_id: str) -> None:
    result = await CaptureStore.of(db).ingest([
        ev.user_message(bot_id, "a", "fine"),
        ev.custom(bot_id, "a", "odd", {"nul\x00key": 1}),
    ])
    assert result.accepted == 2
    assert [r.reason.split(":")[0] for r in result.unstorable] == ["the database cannot store it"]


# -- late retries ----------------------------------------------------------------------------


async def test_a_retry_long_after_counts_once_and_changes_nothing(
        db: Database, bot_id: str) -> None:
    store = CaptureStore.of(db)
    messages = [ev.user_message(bot_id, "late", f"m{i}", ts=T0 + timedelta(seconds=i))
                for i in range(40)]
    for message in messages:
        await store.ingest([message])
    again = await store.ingest([messages[0]])
    assert (again.accepted, again.duplicates) == (0, 1)
    profile = await ProfileStore.of(db).get_profile(bot_id, "late")
    assert profile is not None
    assert (profile["message_count"], profile["last_user_message"]) == (40, "m39")


async def test_an_event_older_than_the_profile_takes_its_place_in_time(
        db: Database, bot_id: str) -> None:
    store = CaptureStore.of(db)
    await store.ingest([ev.user_message(bot_id, "u", "new", ts=T0 + timedelta(seconds=9))])
    await store.ingest([ev.user_message(bot_id, "u", "old", ts=T0)])
    profile = await ProfileStore.of(db).get_profile(bot_id, "u")
    assert profile is not None
    assert (profile["message_count"], profile["last_user_message"]) == (2, "new")
    assert profile["created_at"] == T0
    await assert_every_profile_is_its_fold(db, bot_id)


async def test_concurrent_writers_of_one_user_count_each_event_once(
        db: Database, bot_id: str) -> None:
    """Twenty writers at once, each re-sending some of the others' events."""
    store = CaptureStore.of(db)
    events = [ev.user_message(bot_id, "busy", f"m{i}", ts=T0 + timedelta(milliseconds=i % 7))
              for i in range(100)]
    batches = [events[i:i + 10] + events[(i + 37) % 100:(i + 37) % 100 + 3]
               for i in range(0, 100, 5)]
    await asyncio.gather(*(store.ingest(batch) for batch in batches))
    profile = await ProfileStore.of(db).get_profile(bot_id, "busy")
    assert profile is not None and profile["message_count"] == 100
    await assert_every_profile_is_its_fold(db, bot_id)


# -- the property: random batches, regrouped retries, cut connections --------------------------


@dataclass(frozen=True)
class Delivery:
    indexes: list[int]  # events sent together, in this order
    cut: str | None  # the database command whose connection is cut during it
    final: bool = False  # a re-send of what was not acknowledged


_KINDS = ("user", "bot", "property", "module", "handover", "bulk")


def _event(bot_id: str, n: int, user: int, kind: str, second: int, value: int) -> Event:
    user_id, ts, eid = f"p{user}", T0 + timedelta(seconds=second), f"e{n}"
    match kind:
        case "user":
            return ev.user_message(bot_id, user_id, f"said {n}", ts=ts, event_id=eid,
                                   channel="web" if value % 2 else "whatsapp")
        case "bot":
            return ev.bot_message(bot_id, user_id, f"answer {n}", ts=ts, event_id=eid)
        case "property":
            return ev.property_set(bot_id, user_id, f"prop{value % 2}", value, ts=ts,
                                   event_id=eid)
        case "module":
            return ev.module_entered(bot_id, user_id, f"mod{value % 3}", ts=ts, event_id=eid)
        case "handover":
            return ev.handover(bot_id, user_id, "bot" if value % 2 else "human:kim", ts=ts,
                               event_id=eid)
        case _:
            change = {"set": {"prop0": value}, "unset": ["prop1"] if value % 2 else []}
            return ev.custom(bot_id, user_id, ev.BULK_UPDATE, change, ts=ts, event_id=eid)


_SPECS = st.lists(st.tuples(st.integers(0, 2), st.sampled_from(_KINDS), st.integers(0, 6),
                            st.integers(0, 9)), min_size=1, max_size=30)


@st.composite
def _plans(draw: st.DrawFn) -> tuple[list[tuple[int, str, int, int]], list[Delivery]]:
    specs = draw(_SPECS)
    count = len(specs)
    deliveries = draw(st.lists(st.builds(
        Delivery,
        st.lists(st.integers(0, count - 1), min_size=1, max_size=12),
        st.sampled_from([None, None, "insert", "update", "find"])), max_size=6))
    # At least once: what was never acknowledged, the client sends again at
    # the end, grouped anew (_deliver drops what was acknowledged).
    final = draw(st.permutations(range(count)))
    size = draw(st.integers(1, max(1, count)))
    deliveries += [Delivery(list(final[i:i + size]), None, final=True)
                   for i in range(0, count, size)]
    return specs, deliveries


async def _deliver(mongo_uri: str, db_name: str,
                   specs: list[tuple[int, str, int, int]], deliveries: list[Delivery]) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        mongo_uri, tz_aware=True, appName=APP_NAME)
    bot_id = f"prop-{uuid.uuid4().hex[:8]}"
    try:
        db = await Database.from_client(client, db_name)
        events = [_event(bot_id, n, *spec) for n, spec in enumerate(specs)]
        acknowledged: set[int] = set()
        for delivery in deliveries:
            indexes = [i for i in delivery.indexes
                       if not delivery.final or i not in acknowledged]
            if not indexes:
                continue
            if delivery.cut is not None:
                await client.admin.command({
                    "configureFailPoint": "failCommand", "mode": {"times": 1},
                    "data": {"failCommands": [delivery.cut], "closeConnection": True,
                             "appName": APP_NAME}})
            try:
                await CaptureStore.of(db).ingest([events[i] for i in indexes])
            except DatabaseUnavailable:
                pass  # the client gave up on this one; the final deliveries send it again
            else:
                acknowledged.update(indexes)
            finally:
                await client.admin.command({"configureFailPoint": "failCommand",
                                            "mode": "off"})
        stored = await CaptureStore.of(db).stored_event_count(bot_id)
        assert stored == len(events)
        await assert_every_profile_is_its_fold(db, bot_id)
        for user in {spec[0] for spec in specs}:
            mine = [e for e in events if e.user_id == f"p{user}"]
            profile = await ProfileStore.of(db).get_profile(bot_id, f"p{user}")
            assert profile is not None
            assert profile.get("message_count", 0) == sum(
                e.type in (ev.EventType.USER_MESSAGE, ev.EventType.BOT_MESSAGE) for e in mine)
    finally:
        await client.close()


@pytest.fixture(scope="module")
def property_db_name() -> str:
    return f"audience_fold_{uuid.uuid4().hex[:8]}"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def _drop_property_db(mongo_uri: str, property_db_name: str) -> AsyncIterator[None]:
    yield
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_uri)
    await client.drop_database(property_db_name)
    await client.close()


@pytest.mark.usefixtures("_drop_property_db")
@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(plan=_plans())
# Found by hand: a fresh event older than what the profile holds, alone.
@example(plan=([(0, "user", 5, 1), (0, "user", 2, 2)],
               [Delivery([0], None), Delivery([1], None)]))
# A write cut after the events went in, then a re-send grouped differently.
@example(plan=([(0, "user", 1, 0), (0, "bot", 2, 0), (1, "property", 3, 4)],
               [Delivery([0, 1, 2], "update"), Delivery([2], None),
                Delivery([0, 1], None, final=True)]))
def test_every_profile_is_the_fold_of_its_timeline_whatever_happened(
        plan: tuple[list[tuple[int, str, int, int]], list[Delivery]], mongo_uri: str,
        property_db_name: str) -> None:
    specs, deliveries = plan
    asyncio.run(_deliver(mongo_uri, property_db_name, specs, deliveries))


async def test_a_slow_write_never_adds_what_a_rebuild_already_counted(
        mongo_uri: str, db: Database, bot_id: str) -> None:
    """The first writer's profile update is held back; meanwhile a retry of its
    events rebuilds the profile. When the held write arrives it must not add
    those events a second time."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        mongo_uri, tz_aware=True, appName="slow-writer")
    slow = Database(client, db.mongo.name)
    events = [ev.user_message(bot_id, "raced", f"m{i}", ts=T0 + timedelta(seconds=i))
              for i in range(3)]
    try:
        await client.admin.command({
            "configureFailPoint": "failCommand", "mode": {"times": 1},
            "data": {"failCommands": ["update"], "blockConnection": True, "blockTimeMS": 1500,
                     "appName": "slow-writer"}})
        first = asyncio.create_task(CaptureStore.of(slow).ingest(events))
        # Polls the database: the other writer's progress has no event to wait on.
        while await CaptureStore.of(db).stored_event_count(bot_id) < 3:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        retried = await CaptureStore.of(db).ingest(events)
        assert retried.duplicates == 3
        rebuilt = await ProfileStore.of(db).get_profile(bot_id, "raced")
        assert rebuilt is not None and rebuilt["message_count"] == 3
        await first
    finally:
        await client.admin.command({"configureFailPoint": "failCommand", "mode": "off"})
        await client.close()
    profile = await ProfileStore.of(db).get_profile(bot_id, "raced")
    assert profile is not None and profile["message_count"] == 3
    await assert_every_profile_is_its_fold(db, bot_id)
