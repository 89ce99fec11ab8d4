"""The Rasa event-broker consumer: RabbitMQ messages in, Audience events stored.

Rasa's ``pika`` event broker publishes every tracker event as one persistent
JSON message to a fanout exchange (``rasa-exchange``) bound to durable
queues (``rasa_core_events``). :class:`BrokerConsumer` declares the exchange
and the queue exactly as Rasa does (so either may start first), consumes in
batches, stores each batch with ``CaptureStore.ingest`` and only then acknowledges
it. So a crash loses nothing: unacknowledged messages are delivered again,
and their deterministic ids (:func:`connectors.rasa.events.rasa_event_id`)
make the second write a no-op.

A message that is not a Rasa event goes to the dead-letter queue
(``<queue>.dead-letter``, through the fanout exchange of the same name) with
the reason in its ``x-audience-error`` header, and is acknowledged once the
broker has confirmed the dead letter: never retried forever, never lost. An
event the database refuses for good is dead-lettered the same way; while the
database is merely away, the batch is retried with a growing delay and stays
unacknowledged.

Usage::

    async with BrokerConsumer(store, "shop", amqp_url="amqp://guest:guest@127.0.0.1/"):
        await asyncio.Event().wait()   # until cancelled
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)
from aiormq.exceptions import AMQPError

from plugin.capture.recorder import ingest_until_stored
from plugin.core.events import Event
from plugin.core.settings import mask_uri
from plugin.db.database import Database

from . import DEFAULT_EXCHANGE, DEFAULT_QUEUE
from .events import MalformedEvent, parse_message, translate

__all__ = ["BrokerConsumer", "ConsumerStats", "DEFAULT_QUEUE", "DEFAULT_EXCHANGE",
           "ERROR_HEADER", "dead_letter_name"]

log = logging.getLogger(__name__)
# A lost channel: its unacknowledged deliveries go back to the queue by themselves.
_CHANNEL_LOST = (AMQPError, aio_pika.exceptions.ChannelInvalidStateError)

ERROR_HEADER = "x-audience-error"
# Events per database write: each batch updates each of its users' profiles once,
# so bigger batches cost less per event while a backlog drains (bench/rasa.py:
# 500 → 0.31, 2000 → 0.44 of a raw insert loop). A quiet queue waits at most
# BATCH_WAIT_S. Prefetch keeps the next batches coming while one is written.
BATCH_SIZE = 2000
MAX_BATCH_SIZE = 10_000
BATCH_WAIT_S = 0.05
PREFETCH_BATCHES = 4
RETRY_MAX_DELAY_S = 2.0


def dead_letter_name(queue: str) -> str:
    return f"{queue}.dead-letter"


@dataclass(slots=True)
class ConsumerStats:
    received: int = 0
    stored: int = 0
    duplicates: int = 0
    skipped: int = 0  # bookkeeping events (action_listen)
    dead_lettered: int = 0
    batches: int = 0
    retries: int = 0


class BrokerConsumer:
    """Consumes one queue for one bot into ``store``."""

    def __init__(
        self,
        db: Database,
        bot_id: str,
        *,
        amqp_url: str,
        queue: str = DEFAULT_QUEUE,
        exchange: str = DEFAULT_EXCHANGE,
        batch_size: int = BATCH_SIZE,
        batch_wait: float = BATCH_WAIT_S,
        prefetch: int | None = None,
    ) -> None:
        if not bot_id:
            raise ValueError("the bot id must not be empty")
        if not 1 <= batch_size <= MAX_BATCH_SIZE:
            raise ValueError(f"the batch size must be between 1 and {MAX_BATCH_SIZE}")
        self.db = db
        self.bot_id = bot_id
        self.amqp_url = amqp_url
        self.queue_name = queue
        self.exchange_name = exchange
        self.dead_letter = dead_letter_name(queue)
        self.stats = ConsumerStats()
        self._batch_size = batch_size
        self._batch_wait = batch_wait
        self._prefetch = prefetch or batch_size * PREFETCH_BATCHES
        self._inbox: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractChannel | None = None
        self._queue: AbstractQueue | None = None
        self._dead_exchange: AbstractExchange | None = None
        self._consumer_tag: str | None = None
        self._worker: asyncio.Task[None] | None = None
        self._unfinished = 0  # received, neither acknowledged nor given up on
        self._idle = asyncio.Event()
        self._idle.set()

    async def __aenter__(self) -> BrokerConsumer:
        return await self.start()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        traceback: TracebackType | None) -> None:
        await self.close()

    async def start(self) -> BrokerConsumer:
        """Connect, declare the exchange, the queue and the dead-letter queue, consume."""
        self._connection = await aio_pika.connect_robust(self.amqp_url)
        try:
            channel = self._channel = await self._connection.channel(publisher_confirms=True)
            await channel.set_qos(prefetch_count=self._prefetch)
            # As Rasa's PikaEventBroker declares them: a non-durable fanout exchange and
            # a durable queue. Declaring with other flags would be refused by RabbitMQ.
            exchange = await channel.declare_exchange(self.exchange_name,
                                                      aio_pika.ExchangeType.FANOUT)
            self._queue = await channel.declare_queue(self.queue_name, durable=True)
            await self._queue.bind(exchange, "")
            self._dead_exchange = await channel.declare_exchange(
                self.dead_letter, aio_pika.ExchangeType.FANOUT, durable=True)
            dead_queue = await channel.declare_queue(self.dead_letter, durable=True)
            await dead_queue.bind(self._dead_exchange, "")
            self._worker = asyncio.create_task(self._process_forever(),
                                               name=f"rasa-consumer-{self.queue_name}")
            self._consumer_tag = await self._queue.consume(self._receive)
        except BaseException:
            await self.close()
            raise
        log.info("consuming %s (exchange %s) on %s for bot %s", self.queue_name,
                 self.exchange_name, mask_uri(self.amqp_url), self.bot_id)
        return self

    async def wait(self) -> None:
        """Return when the consumer stops; raise what stopped it."""
        if self._worker is None:
            raise RuntimeError("the consumer is not started")
        # Shielded: whoever waits may be cancelled; the worker stops only in close().
        await asyncio.shield(self._worker)

    async def drained(self, timeout: float | None = None) -> None:
        """Wait until every message received so far is stored (or dead-lettered)."""
        await asyncio.wait_for(self._idle.wait(), timeout)

    async def close(self, timeout: float = 10.0) -> None:
        """Stop taking messages, finish (for at most ``timeout``) what was received,
        close the connection. What is left unacknowledged is delivered again."""
        if self._queue is not None and self._consumer_tag is not None:
            with contextlib.suppress(AMQPError, aio_pika.exceptions.ChannelInvalidStateError):
                await self._queue.cancel(self._consumer_tag)
            self._consumer_tag = None
        if self._worker is not None:
            if not self._worker.done():
                with contextlib.suppress(TimeoutError):
                    await self.drained(timeout)
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None
        if self._connection is not None:
            await self._connection.close()
            self._connection = None

    # -- consuming ----------------------------------------------------------------

    async def _receive(self, message: AbstractIncomingMessage) -> None:
        self._unfinished += 1
        self._idle.clear()
        self._inbox.put_nowait(message)

    def _finished(self, count: int) -> None:
        self._unfinished -= count
        if self._unfinished == 0:
            self._idle.set()

    async def _process_forever(self) -> None:
        """Batches go through two stages: the next batch is read and translated
        while the previous one is written, and one batch is written at a time, in
        order. So a batch's acknowledgement (``multiple``) covers only messages
        that are stored or dead-lettered."""
        writing: asyncio.Task[None] | None = None
        try:
            while True:
                batch = await self._next_batch()
                self.stats.received += len(batch)
                self.stats.batches += 1
                try:
                    events = await self._prepare(batch)
                except _CHANNEL_LOST as exc:
                    self._lost(exc, batch)
                    continue
                if writing is not None:
                    await writing
                writing = asyncio.create_task(self._write(batch, events))
        finally:
            if writing is not None:
                writing.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await writing

    async def _write(self, batch: list[AbstractIncomingMessage],
                     events: list[tuple[AbstractIncomingMessage, Event]]) -> None:
        try:
            if events:
                await self._db(events)
            await self._ack(batch[-1])
        except _CHANNEL_LOST as exc:
            self._lost(exc, batch)
            return
        self._finished(len(batch))

    def _lost(self, exc: BaseException, batch: list[AbstractIncomingMessage]) -> None:
        log.warning("lost the channel while handling a batch (%s); the broker delivers "
                    "it again", exc)
        self._finished(len(batch))

    async def _next_batch(self) -> list[AbstractIncomingMessage]:
        batch = [await self._inbox.get()]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._batch_wait
        while len(batch) < self._batch_size:
            try:
                batch.append(self._inbox.get_nowait())
                continue
            except asyncio.QueueEmpty:
                pass
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self._inbox.get(), remaining))
            except TimeoutError:
                break
        return batch

    async def _prepare(self, batch: list[AbstractIncomingMessage]
                       ) -> list[tuple[AbstractIncomingMessage, Event]]:
        """Translate a batch; dead-letter what is malformed (acknowledged with the batch)."""
        events: list[tuple[AbstractIncomingMessage, Event]] = []
        for message in batch:
            try:
                raw = parse_message(message.body)
                event = translate(self.bot_id, raw["sender_id"], raw)
            except MalformedEvent as exc:
                await self._dead_letter(message, exc.message)
                continue
            if event is None:
                self.stats.skipped += 1
            else:
                events.append((message, event))
        return events

    async def _db(self, events: list[tuple[AbstractIncomingMessage, Event]]) -> None:
        try:
            await self._ingest([event for _, event in events])
        except Exception as exc:
            # Not an outage: something in the batch is refused. Find what, one by one,
            # so the rest is stored and only the culprit is dead-lettered.
            log.warning("a batch of %d events was refused (%s); storing them one by one",
                        len(events), exc, exc_info=True)
            for message, event in events:
                try:
                    await self._ingest([event])
                except Exception as single:
                    log.error("event %s could not be stored", event.id, exc_info=True)
                    await self._dead_letter(message, f"could not be stored: {single}")

    async def _ingest(self, events: list[Event]) -> None:
        def retrying() -> None:
            self.stats.retries += 1

        result = await ingest_until_stored(self.db, events, max_delay=RETRY_MAX_DELAY_S,
                                           on_retry=retrying)
        self.stats.stored += result.accepted
        self.stats.duplicates += result.duplicates

    async def _dead_letter(self, message: AbstractIncomingMessage, reason: str) -> None:
        assert self._dead_exchange is not None
        headers: dict[str, Any] = dict(message.headers or {})
        headers[ERROR_HEADER] = reason[:1000]
        headers["x-audience-queue"] = self.queue_name
        dead = aio_pika.Message(message.body, headers=headers,
                                content_type=message.content_type,
                                delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
        # Awaited with publisher confirms: the dead letter is safe before the ack.
        await self._dead_exchange.publish(dead, routing_key="")
        self.stats.dead_lettered += 1
        log.warning("dead-lettered a message from %s: %s", self.queue_name, reason)

    async def _ack(self, message: AbstractIncomingMessage) -> None:
        try:
            await message.ack(multiple=True)
        except (AMQPError, aio_pika.exceptions.ChannelInvalidStateError) as exc:
            # The channel was lost and reopened: the broker delivers these again,
            # and their ids make storing them again a no-op.
            log.warning("could not acknowledge a batch (%s); it will be delivered again", exc)
