"""The broker consumer against a real RabbitMQ and the session's database."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio

from connectors.rasa.consumer import ERROR_HEADER, BrokerConsumer
from plugin.audience.profile_store import ProfileStore
from plugin.capture.store import CaptureStore
from plugin.db.database import Database

from ..waiting import eventually
from .conftest import Broker, Clock, published, session, slot, user


@pytest_asyncio.fixture
async def consumer(db: Database, broker: Broker, bot_id: str) -> AsyncIterator[BrokerConsumer]:
    async with BrokerConsumer(db, bot_id, amqp_url=broker.url, queue=broker.queue,
                              exchange=broker.exchange) as running:
        yield running


async def _settled(consumer: BrokerConsumer, count: int) -> None:
    async def received() -> bool:
        return consumer.stats.received >= count

    await eventually(received, what=f"{count} messages received")
    await consumer.drained(15)


async def _timeline(db: Database, bot_id: str, user_id: str) -> list[dict[str, Any]]:
    docs, _ = await CaptureStore.of(db).timeline(bot_id, user_id, limit=500)
    return list(reversed(docs))


async def test_a_whole_session_becomes_a_profile_and_timeline(
        consumer: BrokerConsumer, broker: Broker, db: Database, bot_id: str) -> None:
    events = session()
    await broker.publish(published("ada", events))
    await _settled(consumer, len(events))

    profile = await ProfileStore.of(db).get_profile(bot_id, "ada")
    assert profile is not None
    assert profile["attributes"] == {"email": "ada@example.com", "quantity": 3.0}
    assert profile["channel"] == "rest" and profile["source"] == "rasa"
    assert profile["current_module"] == "order_form"
    assert profile["assigned_to"] == "bot"  # paused, then resumed
    assert profile["message_count"] == 9
    assert await broker.waiting(broker.queue) == 0

    timeline = await _timeline(db, bot_id, "ada")
    listens = sum(e.get("name") == "action_listen" and e["event"] == "action" for e in events)
    assert len(timeline) == len(events) - listens
    kinds = [(e["type"], e["data"].get("name")) for e in timeline]
    assert ("custom", "session_started") in kinds and ("custom", "followup") in kinds
    assert ("custom", "user_featurization") in kinds  # unknown to Audience: kept
    greeting = next(e for e in timeline if e["type"] == "bot_message")
    assert greeting["data"]["buttons"][0] == {"title": "Order", "payload": "/order"}
    assert greeting["data"]["response"] == "utter_greet"
    first = next(e for e in timeline if e["type"] == "user_message")
    assert first["data"]["intent"] == "greet" and first["channel"] == "rest"
    assert "message_id" in first["data"]
    tap = [e for e in timeline if e["type"] == "user_message"][1]
    assert tap["data"]["payload"] == "/order"
    assert [e["data"]["to"] for e in timeline if e["type"] == "handover"] == ["human:queue",
                                                                             "bot"]
    assert [e["data"]["module"] for e in timeline if e["type"] == "module_entered"] == [
        "order_form"]
    left = [e for e in timeline if e["data"].get("name") == "module_left"]
    assert len(left) == 1
    internal = [e["data"].get("value") for e in timeline if e["data"].get("name") == "rasa_slot"]
    assert internal == ["email", "quantity", None]
    assert consumer.stats.skipped == listens and consumer.stats.dead_lettered == 0


async def test_malformed_messages_are_dead_lettered_with_the_reason(
        consumer: BrokerConsumer, broker: Broker, db: Database, bot_id: str) -> None:
    t = Clock()
    good = published("bob", [user(t(), "hi", "greet"), slot(t(), "name", "Bob")])
    await broker.publish_raw(b"{not json")
    await broker.publish([good[0], ["a", "list"], {"event": "user", "text": "no sender"},
                          {"sender_id": "bob", "event": "slot", "name": "x"},  # no timestamp
                          {"sender_id": "bob", "event": "bot", "timestamp": t(),
                           "data": "not an object"},
                          good[1]])  # type: ignore[list-item]
    await _settled(consumer, 7)

    profile = await ProfileStore.of(db).get_profile(bot_id, "bob")
    assert profile is not None and profile["attributes"] == {"name": "Bob"}
    dead = await broker.dead_letters()
    reasons = sorted(str(m.headers[ERROR_HEADER]) for m in dead)
    assert len(reasons) == 5 and consumer.stats.dead_lettered == 5
    assert any("not JSON" in r for r in reasons)
    assert any("JSON list, not an object" in r for r in reasons)
    assert any("'sender_id' is missing" in r for r in reasons)
    assert any("'timestamp' is missing" in r for r in reasons)
    assert any("'data' of a bot event is not an object" in r for r in reasons)
    assert dead[0].body == b"{not json"  # the message itself is kept as it came
    assert await broker.waiting(broker.queue) == 0  # acknowledged, never retried


async def test_redelivered_events_count_once(consumer: BrokerConsumer, broker: Broker,
                                             db: Database, bot_id: str) -> None:
    events = published("cy", session())
    await broker.publish(events)
    await broker.publish(events)  # as after a crash before the acknowledgement
    await _settled(consumer, 2 * len(events))
    timeline = await _timeline(db, bot_id, "cy")
    assert len(timeline) == consumer.stats.stored == len({e["timestamp"] for e in events}) - 5
    assert consumer.stats.duplicates == consumer.stats.stored
    profile = await ProfileStore.of(db).get_profile(bot_id, "cy")
    assert profile is not None and profile["message_count"] == 9


async def test_many_users_in_one_stream(consumer: BrokerConsumer, broker: Broker,
                                        db: Database, bot_id: str) -> None:
    senders = [f"u-{uuid.uuid4().hex[:6]}" for _ in range(20)]
    stream = []
    for n, sender in enumerate(senders):
        t = Clock()
        stream += published(sender, [user(t(), f"hello {n}", "greet"), slot(t(), "n", n)])
    await broker.publish(stream)
    await _settled(consumer, len(stream))
    for n, sender in enumerate(senders):
        profile = await ProfileStore.of(db).get_profile(bot_id, sender)
        assert profile is not None and profile["attributes"] == {"n": n}
