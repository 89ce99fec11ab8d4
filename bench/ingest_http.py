"""End to end over HTTP: events POSTed to ``/v1/bots/{bot}/events`` in batches
until every profile is complete, against a raw ``insert_many`` of the same
event documents into a plain collection of the same database, in one run.

A POST answers once its events are stored and its users' profiles updated,
so the last answer is "every profile complete". The batches are sent one
after another and, in a second mix, by four clients at once (concurrent
requests share their writes: plugin.capture.group_commit).

    .venv/bin/python bench/ingest_http.py [--events 10000] [--users 200] [--batch 500]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from pymongo import AsyncMongoClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.capture import _fresh_ids, _raw_docs
from bench.datasets import conversation_events
from bench.results import save
from plugin.core.events import Event
from plugin.core.settings import Settings
from plugin.db.database import Database
from plugin.db.embedded import EmbeddedServer
from plugin.http.app import create_app

KEY = "bench-admin-key"
BOT = "bench"


def _as_json(event: Event) -> dict[str, Any]:
    return {"id": event.id, "user_id": event.user_id, "type": str(event.type),
            "data": event.data, "ts": event.ts.isoformat(),
            **({"channel": event.channel} if event.channel else {})}


async def _post_all(session: aiohttp.ClientSession, url: str, events: list[Event],
                    batch: int, clients: int) -> float:
    bodies = [{"events": [_as_json(e) for e in events[i:i + batch]]}
              for i in range(0, len(events), batch)]
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)

    async def client() -> None:
        while not queue.empty():
            body = queue.get_nowait()
            async with session.post(url, json=body,
                                    headers={"Authorization": f"Bearer {KEY}"}) as answer:
                assert answer.status == 202, await answer.text()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return len(events) / (time.perf_counter() - started)


async def _raw_rate(db: Database, events: list[Event], batch: int) -> float:
    docs = _raw_docs(events)
    plain = db["bench_plain_events"]
    started = time.perf_counter()
    for i in range(0, len(docs), batch):
        await plain.insert_many(docs[i:i + batch], ordered=False)
    return len(docs) / (time.perf_counter() - started)


async def main(count: int, users: int, batch: int, rounds: int) -> None:
    server = await EmbeddedServer.start()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(server.uri, tz_aware=True)
    db = await Database.from_client(client, "bench_ingest_http")
    app = create_app(Settings(admin_key=KEY), db)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    url = f"http://{host}:{port}/v1/bots/{BOT}/events"
    template = conversation_events(count, users, bot_id=BOT)
    rows = []
    try:
        async with aiohttp.ClientSession() as session:
            print(f"{count:,} events from {users} users, POSTed in batches of {batch}")
            for clients in (1, 4):
                posted, raw = [], []
                for _ in range(rounds):  # interleaved, so drift hits both
                    posted.append(await _post_all(session, url, _fresh_ids(template), batch,
                                                  clients))
                    raw.append(await _raw_rate(db, _fresh_ids(template), batch))
                ours, baseline = statistics.median(posted), statistics.median(raw)
                rows.append({"clients": clients, "posted_events_per_s": round(ours),
                             "raw_events_per_s": round(baseline),
                             "ratio": round(ours / baseline, 3)})
                print(f"{clients} client(s): POST until profiles complete {ours:>7,.0f} ev/s, "
                      f"raw insert_many {baseline:>7,.0f} ev/s, ratio {ours / baseline:.3f} "
                      "(goal >= 0.5)")
    finally:
        await runner.cleanup()
        await client.drop_database("bench_ingest_http")
        await client.close()
        await server.stop()
    save("ingest_http", {"benchmark": "ingest_http", "events": count, "users": users,
                         "batch": batch, "rounds": rounds, "results": rows})


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.events, args.users, args.batch, args.rounds))
