"""The recorder: batching off the caller's path, exactly-once retries, outages, shutdown."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from pymongo import AsyncMongoClient

from plugin.audience.profile_store import ProfileStore
from plugin.audience.property_store import PropertyStore
from plugin.capture.recorder import Recorder
from plugin.capture.store import CaptureStore
from plugin.core import constants
from plugin.core import events as ev
from plugin.core.errors import ShuttingDown
from plugin.core.properties import custom_property
from plugin.crm import webhooks
from plugin.db.database import Database
from plugin.db.embedded import EmbeddedServer
from tests.stored import stored_event_docs
from tests.waiting import eventually


@pytest_asyncio.fixture
async def fault_db(mongo_uri: str) -> AsyncIterator[Database]:
    """A store on its own client, so a failpoint can target it by application name."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        mongo_uri, tz_aware=True, appName="recorder-faults")
    db_name = f"audience_faults_{uuid.uuid4().hex[:8]}"
    db = await Database.from_client(client, db_name)
    yield db
    await client.admin.command({"configureFailPoint": "failCommand", "mode": "off"})
    await client.drop_database(db_name)
    await client.close()


async def test_every_kind_is_recorded_and_close_flushes(db: Database, bot_id: str) -> None:
    await PropertyStore.of(db).define_property(bot_id, custom_property("age", "number"))
    recorder = await Recorder(db, source="test-adapter", flush_interval=0.01).start()
    await recorder.user_message(bot_id, "u", "hi", channel="messenger")
    await recorder.bot_message(bot_id, "u", "hello", buttons=[{"title": "Go", "payload": "go"}])
    await recorder.module_entered(bot_id, "u", "welcome")
    await recorder.property_set(bot_id, "u", "age", "42")
    await recorder.property_rejected(bot_id, "u", "email", "nope", "not an email")
    await recorder.api_call(bot_id, "u", "crm", method="get", url="http://x", status=None,
                            latency_ms=5000, ok=False, error="timeout")
    await recorder.branch(bot_id, "u", "adult", module="welcome")
    await recorder.handover(bot_id, "u", "human:kim")
    await recorder.custom(bot_id, "u", "rated", {"stars": 4})
    await recorder.close()
    assert recorder.stats.written == 9 and recorder.buffered == 0

    profile = await ProfileStore.of(db).get_profile(bot_id, "u")
    assert profile is not None
    assert profile["source"] == "test-adapter"
    assert profile["channel"] == "messenger"
    assert profile["attributes"] == {"age": 42}
    assert profile["assigned_to"] == "human:kim"
    assert profile["message_count"] == 2
    docs, _ = await CaptureStore.of(db).timeline(bot_id, "u", limit=20)
    by_type = {d["type"]: d["data"] for d in docs}
    assert by_type["api_call"] == {"name": "crm", "method": "GET", "url": "http://x",
                                   "status": None, "latency_ms": 5000, "ok": False,
                                   "error": "timeout"}
    assert by_type["custom"] == {"stars": 4, "name": "rated"}


async def test_record_returns_before_the_write(db: Database, bot_id: str) -> None:
    recorder = await Recorder(db, flush_interval=0.5).start()
    await recorder.user_message(bot_id, "u", "hi")
    assert recorder.buffered == 1
    assert await ProfileStore.of(db).get_profile(bot_id, "u") is None
    await recorder.close()
    assert await ProfileStore.of(db).get_profile(bot_id, "u") is not None


async def test_a_closed_recorder_refuses_with_an_audience_error(db: Database, bot_id: str) -> None:
    recorder = await Recorder(db).start()
    await recorder.close()
    with pytest.raises(ShuttingDown, match="the recorder is closed"):
        await recorder.user_message(bot_id, "u", "too late")


async def test_a_full_buffer_drops_and_counts(db: Database, bot_id: str) -> None:
    recorder = Recorder(db, max_buffer=3)  # not started: nothing drains it
    for i in range(5):
        await recorder.user_message(bot_id, "u", f"m{i}")
    assert (recorder.stats.recorded, recorder.stats.dropped) == (3, 2)
    await recorder.close()  # writes what was buffered, even if never started
    profile = await ProfileStore.of(db).get_profile(bot_id, "u")
    assert profile is not None and profile["message_count"] == 3


@pytest.mark.parametrize("failing_command", ["insert", "update"])
async def test_a_write_cut_off_halfway_is_retried_exactly_once(
    fault_db: Database, bot_id: str, failing_command: str
) -> None:
    """The connection drops on the event insert, or after it on the profile
    update: the retry must leave every event stored once and counted once."""
    recorder = await _record_through_a_dropped_connection(fault_db, bot_id, failing_command)
    assert recorder.stats.written + recorder.stats.duplicates == 20
    assert await CaptureStore.of(fault_db).stored_event_count(bot_id) == 20
    counts = [p["message_count"] async for p in
              fault_db[constants.PROFILES].find({"bot_id": bot_id})]
    assert sorted(counts) == [5, 5, 5, 5]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_events_survive_a_database_outage(tmp_path: Path, bot_id: str) -> None:
    port = _free_port()
    server = await EmbeddedServer.start(str(tmp_path), port=port)
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        server.uri, tz_aware=True, serverSelectionTimeoutMS=500)
    try:
        db = await Database.from_client(client, "outage")
        recorder = await Recorder(db, batch_size=40, flush_interval=0.01,
                                  retry_max_delay=0.2).start()
        total = 400

        async def converse() -> None:
            for i in range(total):
                await recorder.user_message(bot_id, f"u{i % 8}", f"message {i}")
                await asyncio.sleep(0.003)

        conversation = asyncio.create_task(converse())
        await eventually(lambda: recorder.stats.written > 0, what="a first write")
        await server.stop()  # the database goes away while events flow
        written_before = recorder.stats.written
        await eventually(lambda: recorder.stats.retries > 0, what="a retry")
        assert written_before < total
        server = await EmbeddedServer.start(str(tmp_path), port=port)
        await conversation
        await recorder.close()

        assert recorder.stats.dropped == 0 and recorder.stats.failed == 0
        stored = await stored_event_docs(db, {"bot_id": bot_id})
        assert len(stored) == total
        assert len({doc["data"]["text"] for doc in stored}) == total
        profiles = [p async for p in db[constants.PROFILES].find({"bot_id": bot_id})]
        assert sorted(p["message_count"] for p in profiles) == [total // 8] * 8
    finally:
        await client.close()
        await server.stop()



@pytest.mark.parametrize("failing_command", ["insert", "update"])
async def test_crm_deliveries_are_queued_once_whatever_write_is_cut_off(
    fault_db: Database, bot_id: str, failing_command: str
) -> None:
    """The connection drops on the event insert or the profile update: after
    the retry every delivery is queued exactly once, the profile's creation
    included."""
    await webhooks.create_webhook(fault_db, bot_id, {
        "url": "http://127.0.0.1:9/hook", "events": ["profile.created", "message.received"],
        "active": False}, allow_private=True)
    await _record_through_a_dropped_connection(fault_db, bot_id, failing_command)
    assert await _queued(fault_db, bot_id) == _expected_queue(20, 4)


async def test_a_batch_retried_after_its_outbox_write_was_lost_queues_it(
    db: Database, bot_id: str
) -> None:
    """Events stored and applied, outbox entries never written (the process
    died between the two): the retried batch writes them, creation included,
    and a further retry adds nothing."""
    await webhooks.create_webhook(db, bot_id, {
        "url": "http://127.0.0.1:9/hook", "events": ["profile.created", "message.received"],
        "active": False}, allow_private=True)
    batch = [ev.user_message(bot_id, f"u{i % 3}", f"m{i}") for i in range(9)]
    await CaptureStore.of(db).ingest(batch)
    await db[constants.OUTBOX].delete_many({"bot_id": bot_id})
    result = await CaptureStore.of(db).ingest(batch)
    assert (result.accepted, result.duplicates) == (0, 9)
    assert await _queued(db, bot_id) == _expected_queue(9, 3)
    await CaptureStore.of(db).ingest(batch)
    assert await _queued(db, bot_id) == _expected_queue(9, 3)


async def _record_through_a_dropped_connection(db: Database, bot_id: str,
                                               failing_command: str) -> Recorder:
    """Record 20 messages of 4 users while the first ``failing_command`` of this
    store's client has its connection closed; the closed recorder."""
    await db.client.admin.command({
        "configureFailPoint": "failCommand", "mode": {"times": 1},
        "data": {"failCommands": [failing_command], "closeConnection": True,
                 "appName": "recorder-faults"},
    })
    recorder = await Recorder(db, flush_interval=0.01, retry_max_delay=0.1).start()
    for i in range(20):
        await recorder.user_message(bot_id, f"u{i % 4}", f"m{i}")
    await recorder.close()
    assert recorder.stats.retries >= 1, "the failpoint never fired"
    return recorder


async def _queued(db: Database, bot_id: str) -> list[tuple[str, str, str | None]]:
    return sorted([(d["event"], d["user_id"], d["data"].get("text")) async for d in
                   db[constants.OUTBOX].find({"bot_id": bot_id})])


def _expected_queue(messages: int, users: int) -> list[tuple[str, str, str | None]]:
    return sorted([("profile.created", f"u{u}", None) for u in range(users)]
                  + [("message.received", f"u{i % users}", f"m{i}") for i in range(messages)])


async def test_flush_does_not_wait_out_the_batching_interval(db: Database, bot_id: str) -> None:
    """A caller waiting for its event (the dummy channel's ?wait=true, the
    simulator) makes the writer go at once instead of waiting for a fuller batch."""
    recorder = await Recorder(db, flush_interval=30.0).start()
    try:
        await recorder.user_message(bot_id, "u", "hi")
        await asyncio.sleep(0.05)  # the writer is now waiting for more events
        await asyncio.wait_for(recorder.flush(), 10.0)
        assert recorder.stats.written == 1
    finally:
        await recorder.close()


class _Batches:
    """A listener that keeps the size of every batch written."""

    def __init__(self) -> None:
        self.sizes: list[int] = []

    def recorded(self, event: ev.Event) -> None:
        return None

    def written(self, events: list[ev.Event], result: object) -> None:
        self.sizes.append(len(events))


async def test_a_backlog_is_written_in_batches_that_grow_with_it(db: Database, bot_id: str) -> None:
    """Group commit: what queued while the writer was busy goes in one write
    (up to the bound), so a user's many events share one profile update."""
    batches = _Batches()
    recorder = Recorder(db, listener=batches, batch_size=100, max_batch=1_500)
    for i in range(2_000):  # queued before the writer runs: one backlog
        await recorder.user_message(bot_id, f"u{i % 10}", f"m{i}")
    await recorder.start()
    await recorder.close()
    assert batches.sizes == [1_500, 500]
    profiles = await ProfileStore.of(db).find_profiles({"bot_id": bot_id}, [("_id", 1)], 20)
    assert sorted(p["message_count"] for p in profiles) == [200] * 10
