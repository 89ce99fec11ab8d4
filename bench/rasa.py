"""Events per second through the Rasa broker consumer against a raw
consume-and-insert loop over the same RabbitMQ queue and database, in one run.

Both sides start with the same messages waiting in a queue (published the way
Rasa's event broker publishes them) and drain it with the same prefetch and
batch size. The raw loop only parses each message and inserts one document
per message with ``insert_many``, then acknowledges the batch; the consumer
also translates each event, gives it a deterministic id, applies each batch
to the users' profiles and dead-letters what is malformed. Publishing is not
timed.

    .venv/bin/python bench/rasa.py [--events 10000] [--users 50]
        [--amqp-url amqp://guest:guest@127.0.0.1:5672/]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import aio_pika
from pymongo import AsyncMongoClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.results import save
from connectors.rasa.consumer import (
    BATCH_SIZE,
    PREFETCH_BATCHES,
    BrokerConsumer,
    dead_letter_name,
)
from plugin.db.database import Database
from plugin.db.embedded import EmbeddedServer

PREFETCH = BATCH_SIZE * PREFETCH_BATCHES

DB_NAME = "bench_rasa"


def rasa_events(count: int, users: int, seed: int = 5) -> list[dict[str, Any]]:
    """Broker messages like a busy Rasa bot's: user and bot messages, actions, slots."""
    rng = random.Random(seed)
    clock = time.time() - 3600
    made = []
    for i in range(count):
        clock += 0.001
        sender = f"user-{rng.randrange(users)}"
        roll = rng.random()
        base = {"sender_id": sender, "timestamp": round(clock, 6)}
        if roll < 0.35:
            made.append({**base, "event": "user", "text": f"message {i}", "input_channel": "rest",
                         "parse_data": {"intent": {"name": "inform", "confidence": 0.9},
                                        "entities": []}, "message_id": f"m{i}"})
        elif roll < 0.65:
            made.append({**base, "event": "bot", "text": f"reply {i}",
                         "data": {"buttons": [{"title": "Yes", "payload": "/affirm"}]}})
        elif roll < 0.9:
            made.append({**base, "event": "action", "name": "utter_reply", "policy": "rule",
                         "confidence": 1.0})
        else:
            made.append({**base, "event": "slot", "name": "score", "value": rng.randrange(100)})
    return made


async def _declare(channel: aio_pika.abc.AbstractChannel, queue: str,
                   exchange: str) -> None:
    declared = await channel.declare_exchange(exchange, aio_pika.ExchangeType.FANOUT)
    bound = await channel.declare_queue(queue, durable=True)
    await bound.bind(declared, "")


async def _publish(channel: aio_pika.abc.AbstractChannel, exchange: str,
                   events: list[dict[str, Any]]) -> None:
    target = await channel.get_exchange(exchange)
    for start in range(0, len(events), 500):  # confirms awaited in groups, not one by one
        await asyncio.gather(*[
            target.publish(aio_pika.Message(json.dumps(e).encode(),
                                            delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                           routing_key="")
            for e in events[start:start + 500]])


async def consumer_rate(db: Database, url: str, queue: str, exchange: str, bot_id: str,
                        count: int) -> float:
    started = time.perf_counter()
    async with BrokerConsumer(db, bot_id, amqp_url=url, queue=queue,
                              exchange=exchange) as consumer:
        for _ in range(120_000):  # at most 10 minutes
            if consumer.stats.received >= count:
                break
            await asyncio.sleep(0.005)
        else:
            raise TimeoutError(f"only {consumer.stats.received} of {count} messages came")
        await consumer.drained()
        elapsed = time.perf_counter() - started
    assert consumer.stats.dead_lettered == 0, consumer.stats
    return count / elapsed


async def raw_rate(db: Database, url: str, queue: str, count: int) -> float:
    """The baseline: consume, parse, insert_many a document per message, ack the batch."""
    collection = db["raw_rasa_events"]
    connection = await aio_pika.connect(url)
    started = time.perf_counter()
    try:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=PREFETCH)
        source = await channel.declare_queue(queue, durable=True)
        done = 0
        batch: list[aio_pika.abc.AbstractIncomingMessage] = []
        async with source.iterator() as messages:
            async for message in messages:
                batch.append(message)
                if len(batch) >= BATCH_SIZE or done + len(batch) >= count:
                    docs = []
                    for m in batch:
                        raw = json.loads(m.body)
                        docs.append({"bot_id": "raw", "user_id": raw["sender_id"],
                                     "type": raw["event"], "ts": raw["timestamp"], "data": raw})
                    await collection.insert_many(docs, ordered=False)
                    await batch[-1].ack(multiple=True)
                    done += len(batch)
                    batch = []
                    if done >= count:
                        break
    finally:
        await connection.close()
    return count / (time.perf_counter() - started)


async def main(count: int, users: int, url: str) -> dict[str, Any]:
    server = await EmbeddedServer.start()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(server.uri, tz_aware=True)
    name = f"bench-rasa-{uuid.uuid4().hex[:8]}"
    queue, exchange = name, f"{name}-exchange"
    connection = await aio_pika.connect(url)
    try:
        db = await Database.from_client(client, DB_NAME)
        channel = await connection.channel()
        await _declare(channel, queue, exchange)
        events = rasa_events(count, users)
        print(f"{count:,} Rasa events from {users} users, batches of {BATCH_SIZE}, "
              f"prefetch {PREFETCH}")
        await _publish(channel, exchange, events)
        ours = await consumer_rate(db, url, queue, exchange, "bench", count)
        await _publish(channel, exchange, events)
        baseline = await raw_rate(db, url, queue, count)
        ratio = ours / baseline
        print(f"{'consumer ev/s':>14} {'raw consume+insert ev/s':>24} {'ratio':>7}")
        print(f"{ours:>14,.0f} {baseline:>24,.0f} {ratio:>7.3f}")
        print("ratio = broker consumer / raw consume-and-insert_many of the same messages "
              "(goal >= 0.8)")
        await channel.queue_delete(queue)
        await channel.exchange_delete(exchange)
        await channel.queue_delete(dead_letter_name(queue))
        await channel.exchange_delete(dead_letter_name(queue))
    finally:
        await connection.close()
        await client.drop_database(DB_NAME)
        await client.close()
        await server.stop()
    result = {
        "benchmark": "rasa", "events": count, "users": users, "batch": BATCH_SIZE,
        "prefetch": PREFETCH, "consumer_events_per_s": round(ours),
        "raw_consume_insert_events_per_s": round(baseline), "ratio": round(ratio, 3),
    }
    save("rasa", result, aio_pika=aio_pika.__version__)
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--amqp-url", default="amqp://guest:guest@127.0.0.1:5672/")
    args = parser.parse_args()
    asyncio.run(main(args.events, args.users, args.amqp_url))
