"""Fixtures for the Rasa connector: RabbitMQ names of one's own, a publisher
shaped like Rasa's pika event broker, and conversations shaped like Rasa's
tracker events."""

from __future__ import annotations

import itertools
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aio_pika
import pytest_asyncio
from aiohttp import web

from connectors.rasa.consumer import BrokerConsumer, dead_letter_name
from plugin.db.database import Database

AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"


@dataclass(frozen=True)
class Broker:
    """One test's exchange and queue, declared as Rasa declares them."""

    url: str
    exchange: str
    queue: str
    channel: aio_pika.abc.AbstractChannel

    @property
    def dead_letter(self) -> str:
        return dead_letter_name(self.queue)

    async def publish(self, events: list[dict[str, Any]]) -> None:
        """As Rasa's PikaEventBroker does: persistent JSON to the fanout exchange."""
        exchange = await self.channel.get_exchange(self.exchange)
        for event in events:
            await exchange.publish(aio_pika.Message(
                json.dumps(event).encode(), delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                routing_key="")

    async def publish_raw(self, body: bytes) -> None:
        exchange = await self.channel.get_exchange(self.exchange)
        await exchange.publish(aio_pika.Message(
            body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT), routing_key="")

    async def waiting(self, queue: str) -> int:
        declared = await self.channel.declare_queue(queue, durable=True, passive=True)
        assert declared.declaration_result.message_count is not None
        return declared.declaration_result.message_count

    async def dead_letters(self) -> list[aio_pika.abc.AbstractIncomingMessage]:
        queue = await self.channel.declare_queue(self.dead_letter, durable=True, passive=True)
        found = []
        while (message := await queue.get(fail=False, no_ack=True)) is not None:
            found.append(message)
        return found


@pytest_asyncio.fixture
async def broker() -> AsyncIterator[Broker]:
    name = f"audience-test-{uuid.uuid4().hex[:10]}"
    connection = await aio_pika.connect(AMQP_URL)
    try:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(f"{name}-exchange",
                                                  aio_pika.ExchangeType.FANOUT)
        queue = await channel.declare_queue(name, durable=True)
        await queue.bind(exchange, "")
        yield Broker(AMQP_URL, exchange.name, name, channel)
        await channel.queue_delete(name)
        await channel.exchange_delete(exchange.name)
        await channel.queue_delete(dead_letter_name(name))
        await channel.exchange_delete(dead_letter_name(name))
    finally:
        await connection.close()


class Clock:
    """Rasa-style float timestamps, 10 ms apart."""

    def __init__(self, start: float | None = None) -> None:
        self._ticks = itertools.count()
        self._start = start if start is not None else time.time() - 60

    def __call__(self) -> float:
        return round(self._start + next(self._ticks) * 0.01, 6)


def user(ts: float, text: str, intent: str, entities: list[dict[str, Any]] | None = None,
         channel: str = "rest") -> dict[str, Any]:
    message_id = uuid.uuid4().hex
    return {"event": "user", "timestamp": ts, "text": text, "input_channel": channel,
            "message_id": message_id, "metadata": {},
            "parse_data": {"intent": {"name": intent, "confidence": 0.97},
                           "entities": entities or [], "text": text,
                           "message_id": message_id, "metadata": {}}}


def bot(ts: float, text: str, buttons: list[dict[str, str]] | None = None,
        utter: str | None = None) -> dict[str, Any]:
    return {"event": "bot", "timestamp": ts, "text": text,
            "data": {"elements": None, "quick_replies": None, "buttons": buttons,
                     "attachment": None, "image": None, "custom": None},
            "metadata": {"utter_action": utter} if utter else {}}


def action(ts: float, name: str) -> dict[str, Any]:
    return {"event": "action", "timestamp": ts, "name": name, "policy": "RulePolicy",
            "confidence": 1.0, "action_text": None, "hide_rule_turn": False}


def slot(ts: float, name: str, value: Any) -> dict[str, Any]:
    return {"event": "slot", "timestamp": ts, "name": name, "value": value}


def session(clock: Clock | None = None) -> list[dict[str, Any]]:
    """A whole conversation as Rasa's tracker holds it (without sender_id): a
    greeting with buttons, an order form filling two slots, a hand-over."""
    t = clock or Clock()
    return [
        action(t(), "action_session_start"),
        {"event": "session_started", "timestamp": t()},
        action(t(), "action_listen"),
        user(t(), "hello", "greet"),
        {"event": "user_featurization", "timestamp": t(), "use_text_for_featurization": False},
        action(t(), "utter_greet"),
        bot(t(), "Hi! What would you like?", [{"title": "Order", "payload": "/order"},
                                              {"title": "Talk to a person",
                                               "payload": "/human"}], "utter_greet"),
        action(t(), "action_listen"),
        user(t(), "/order", "order"),
        action(t(), "order_form"),
        {"event": "active_loop", "timestamp": t(), "name": "order_form"},
        slot(t(), "requested_slot", "email"),
        bot(t(), "What is your email?", utter="utter_ask_email"),
        action(t(), "action_listen"),
        user(t(), "ada@example.com", "inform",
             [{"entity": "email", "value": "ada@example.com", "start": 0, "end": 15}]),
        slot(t(), "email", "ada@example.com"),
        action(t(), "order_form"),
        slot(t(), "requested_slot", "quantity"),
        bot(t(), "How many?", utter="utter_ask_quantity"),
        action(t(), "action_listen"),
        user(t(), "3", "inform"),
        slot(t(), "quantity", 3.0),
        action(t(), "order_form"),
        {"event": "active_loop", "timestamp": t(), "name": None},
        slot(t(), "requested_slot", None),
        action(t(), "action_submit_order"),
        bot(t(), "Your order is placed."),
        action(t(), "action_listen"),
        user(t(), "/human", "human_handoff"),
        action(t(), "action_handoff"),
        {"event": "pause", "timestamp": t()},
        {"event": "resume", "timestamp": t()},
        {"event": "followup", "timestamp": t(), "name": "action_listen"},
    ]


def published(sender: str, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Events as the broker publishes them: the tracker event plus its sender."""
    return [{"sender_id": sender, **event} for event in events]


# -- Rasa's REST channel, as the simulator's Rasa target meets it ------------------------

GREETING = [{"title": "Order", "payload": "/order"},
            {"title": "Talk to a person", "payload": "/human"}]


class FakeRasa:
    """Rasa's REST channel for a tiny order bot, publishing its tracker events."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.clocks: dict[str, Clock] = {}

    async def webhook(self, request: web.Request) -> web.Response:
        body = await request.json()
        sender, text = body["sender"], body["message"]
        t = self.clocks.setdefault(sender, Clock())
        events = [user(t(), text, "inform")]
        replies: list[dict[str, Any]]
        if text == "hello":
            replies = [{"text": "Hi! What would you like?", "buttons": GREETING},
                       {"image": "https://example.com/menu.png"}]
            events.append(bot(t(), replies[0]["text"], GREETING))
            events.append({"event": "bot", "timestamp": t(), "text": None,
                           "data": {"image": replies[1]["image"]}})
        elif text == "/order":
            replies = [{"text": "What is your email?"}]
            events += [{"event": "active_loop", "timestamp": t(), "name": "order_form"},
                       bot(t(), replies[0]["text"])]
        elif text == "boom":
            return web.json_response({"error": "crashed"}, status=500)
        else:
            replies = [{"text": f"Thanks, I will write to {text}.", "custom": {"k": 1}}]
            events += [slot(t(), "email", text), bot(t(), replies[0]["text"])]
        await self.broker.publish(published(sender, events))
        return web.json_response([{"recipient_id": sender, **r} for r in replies])


@pytest_asyncio.fixture
async def rasa(broker: Broker, db: Database, bot_id: str) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_post("/webhooks/rest/webhook", FakeRasa(broker).webhook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        async with BrokerConsumer(db, bot_id, amqp_url=broker.url, queue=broker.queue,
                                  exchange=broker.exchange, batch_wait=0.01):
            yield "http://{}:{}".format(*runner.addresses[0][:2])
    finally:
        await runner.cleanup()
