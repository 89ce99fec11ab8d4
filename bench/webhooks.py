"""What CRM sync costs, measured side by side in one run on the embedded server.

1. Capture: events per second through ``Store.ingest`` for a bot with a
   webhook subscribed to every event (so each event also writes an outbox
   entry) against the same events for a bot without one.
2. Delivery: entries per second sent by the delivery worker (claim, sign,
   POST, settle, in order per user) to an aiohttp receiver on loopback,
   against a plain loop that POSTs the same number of bodies with the same
   concurrency and writes nothing.

    .venv/bin/python bench/webhooks.py [--events 5000] [--users 50] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from pymongo import AsyncMongoClient

from plugin.capture.store import CaptureStore

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.datasets import conversation_events
from bench.results import save
from plugin.core import constants
from plugin.core.events import Event, new_event_id
from plugin.core.settings import Settings
from plugin.crm import webhooks
from plugin.crm.delivery import DeliveryWorker
from plugin.crm.outbox import WebhookEvent
from plugin.db.database import Database
from plugin.db.embedded import EmbeddedServer

BATCH = constants.RECORDER_BATCH_SIZE


def _events(template: list[Event], bot_id: str) -> list[Event]:
    return [Event(bot_id, e.user_id, e.type, e.data, new_event_id(), e.ts, e.channel)
            for e in template]


async def _ingest_rate(db: Database, events: list[Event]) -> float:
    started = time.perf_counter()
    for i in range(0, len(events), BATCH):
        await CaptureStore.of(db).ingest(events[i:i + BATCH])
    return len(events) / (time.perf_counter() - started)


class _Receiver:
    """Counts POSTs; ``reached`` is set once ``target`` have arrived."""

    def __init__(self) -> None:
        self.count = 0
        self.target = 0
        self.reached = asyncio.Event()

    def expect(self, target: int) -> None:
        self.count, self.target = 0, target
        self.reached.clear()

    async def handle(self, request: web.Request) -> web.Response:
        await request.read()
        self.count += 1
        if self.target and self.count >= self.target:
            self.reached.set()
        return web.Response(status=204)


async def _serve(receiver: _Receiver) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    return runner, f"http://{host}:{port}/hook"


async def _delivery_rate(db: Database, bot_id: str, receiver: _Receiver) -> tuple[float, int]:
    pending = await db[constants.OUTBOX].count_documents({"bot_id": bot_id})
    receiver.expect(pending)
    worker = DeliveryWorker(db, Settings(webhook_allow_private=True))  # a loopback receiver
    await worker.start()
    started = time.perf_counter()
    await receiver.reached.wait()
    elapsed = time.perf_counter() - started
    await worker.close()
    receiver.expect(0)
    return pending / elapsed, pending


async def _plain_post_rate(url: str, count: int, users: int, db: Database | None = None,
                           bot_id: str = "") -> float:
    """The same number of POSTs, ``users`` lanes at once, DELIVERY_CONCURRENCY at a
    time; with ``store``, each also marks one of the bot's outbox entries delivered
    (an update by ``_id``: the least a worker that keeps a delivery log must do)."""
    body = json.dumps({"event": "message.received", "data": {"text": "x" * 40}}).encode()
    limit = asyncio.Semaphore(constants.DELIVERY_CONCURRENCY)
    per_lane = count // users
    ids = ([d["_id"] async for d in db[constants.OUTBOX].find({"bot_id": bot_id}, {"_id": 1})]
           if db is not None else [])

    async def lane(session: aiohttp.ClientSession, lane_no: int) -> None:
        async with limit:
            for n in range(per_lane):
                async with session.post(url, data=body,
                                        headers={"Content-Type": "application/json"}) as answer:
                    await answer.read()
                if db is not None:
                    await db[constants.OUTBOX].update_one(
                        {"_id": ids[lane_no * per_lane + n]},
                        {"$set": {"state": "delivered", "delivered_at": time.time()}})

    async with aiohttp.ClientSession() as session:
        started = time.perf_counter()
        await asyncio.gather(*(lane(session, n) for n in range(users)))
        return per_lane * users / (time.perf_counter() - started)


async def main(count: int, users: int, rounds: int) -> dict[str, Any]:
    server = await EmbeddedServer.start()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(server.uri, tz_aware=True)
    receiver = _Receiver()
    runner, url = await _serve(receiver)
    try:
        db = await Database.from_client(client, "bench_webhooks")
        template = conversation_events(count, users)
        print(f"{count:,} events a round over {users} users, {rounds} rounds, batches of {BATCH}")
        with_hook, without, delivered, plain, recorded = [], [], [], [], []
        for n in range(rounds):  # interleaved, so drift on a shared machine hits both
            hooked_bot = f"hooked-{n}"
            await webhooks.create_webhook(db, hooked_bot, {
                "url": url, "events": [str(e) for e in WebhookEvent]}, allow_private=True)
            without.append(await _ingest_rate(db, _events(template, f"plain-{n}")))
            with_hook.append(await _ingest_rate(db, _events(template, hooked_bot)))
            rate, sent = await _delivery_rate(db, hooked_bot, receiver)
            delivered.append(rate)
            plain.append(await _plain_post_rate(url, sent, users))
            recorded.append(await _plain_post_rate(url, sent, users, db, hooked_bot))
        capture = {"with_webhook_events_per_s": round(statistics.median(with_hook)),
                   "without_events_per_s": round(statistics.median(without))}
        capture["ratio"] = round(capture["with_webhook_events_per_s"]
                                 / capture["without_events_per_s"], 3)
        delivery = {"worker_deliveries_per_s": round(statistics.median(delivered)),
                    "plain_posts_per_s": round(statistics.median(plain)),
                    "posts_with_one_update_per_s": round(statistics.median(recorded))}
        delivery["ratio"] = round(delivery["worker_deliveries_per_s"]
                                  / delivery["plain_posts_per_s"], 3)
        delivery["ratio_to_post_and_update"] = round(
            delivery["worker_deliveries_per_s"] / delivery["posts_with_one_update_per_s"], 3)
        print(f"capture  with a webhook {capture['with_webhook_events_per_s']:>7,} ev/s   "
              f"without {capture['without_events_per_s']:>7,} ev/s   "
              f"ratio {capture['ratio']:.3f}   (goal >= 0.85)")
        print(f"delivery worker        {delivery['worker_deliveries_per_s']:>7,} /s     "
              f"plain POST loop {delivery['plain_posts_per_s']:>7,} /s   "
              f"ratio {delivery['ratio']:.3f}")
        print(f"                                       POST + one update "
              f"{delivery['posts_with_one_update_per_s']:>7,} /s   "
              f"ratio {delivery['ratio_to_post_and_update']:.3f}")
    finally:
        await runner.cleanup()
        await client.drop_database("bench_webhooks")
        await client.close()
        await server.stop()
    result = {
        "benchmark": "webhooks", "events": count, "users": users, "rounds": rounds,
        "capture": capture, "delivery": delivery,
    }
    save("webhooks", result)
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5_000)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.events, args.users, args.rounds))
