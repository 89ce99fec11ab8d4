"""A broadcast to a 10,000-user segment through the dummy channel as a job,
against plain loops sending the same message to the same number of users,
in one run.

The job snapshots the segment, claims a marker per user before delivering,
records each delivery on the timeline (deterministic event ids), settles the
markers and writes progress every chunk. The baselines deliver through the
same DummyChannel: one does nothing else, the other also records each
delivery (``store.ingest`` in batches of a chunk) — what a hand-written loop
that keeps the timeline would do. No WebSocket is open, so delivering is
adapting the message to the user's channel.

    .venv/bin/python bench/segments.py [--users 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

from pymongo import AsyncMongoClient

from plugin.capture.store import CaptureStore
from plugin.jobs.store import JobStore

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.datasets import profile_documents
from bench.results import save
from connectors.dummy import SOURCE, DummyChannel
from plugin.audience import segments
from plugin.core import constants as c
from plugin.core import events as ev
from plugin.db.database import Database
from plugin.db.embedded import EmbeddedServer
from plugin.handover.channels import ConnectorRegistry
from plugin.jobs import actions as bulk
from plugin.jobs.worker import JobWorker
from runtime.engine import Runtime

MESSAGE = {"text": "Our summer sale starts today",
           "quick_replies": [{"title": "Show me", "payload": "SALE"}]}


async def _users(db: Database, bot_id: str, count: int, segment_id: str) -> list[str]:
    docs = profile_documents(count, bot_id=bot_id)
    for doc in docs:
        doc.update(source=SOURCE, segments=[segment_id])
    for i in range(0, len(docs), 1000):
        await db[c.PROFILES].insert_many(docs[i:i + 1000])
    return [d["user_id"] for d in docs]


async def main(users: int) -> None:
    server = await EmbeddedServer.start()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(server.uri, tz_aware=True)
    db = await Database.from_client(client, "bench_segments")
    runtime = Runtime()
    channel = DummyChannel(runtime, None)
    connectors = ConnectorRegistry()
    connectors.register(channel)
    try:
        segment = await segments.create_segment(db, "bench-job", {"name": "All",
                                                                     "kind": "static"})
        await _users(db, "bench-job", users, segment["id"])
        plain_users = await _users(db, "bench-plain", users, "none")
        recorded_users = await _users(db, "bench-recorded", users, "none")

        worker = JobWorker(db, connectors, owner="bench")
        started = time.perf_counter()
        job = await bulk.broadcast(db, "bench-job", {
            "audience": {"segment": segment["id"]}, "message": MESSAGE},
            claimed_by=worker.owner)
        created = time.perf_counter() - started
        await worker.run_job(job)
        job_s = time.perf_counter() - started
        final = await JobStore.of(db).get_job(job["_id"])
        assert final is not None and final["done"] == users, final

        started = time.perf_counter()
        for user_id in plain_users:
            await channel.deliver("bench-plain", user_id, "web", MESSAGE)
        plain_s = time.perf_counter() - started

        started = time.perf_counter()
        for i in range(0, users, c.JOB_CHUNK_USERS):
            batch = []
            for user_id in recorded_users[i:i + c.JOB_CHUNK_USERS]:
                for message in await channel.deliver("bench-recorded", user_id, "web", MESSAGE):
                    batch.append(ev.bot_message("bench-recorded", user_id, message.get("text"),
                                                quick_replies=message.get("quick_replies"),
                                                channel="web", source="broadcast"))
            await CaptureStore.of(db).ingest(batch)
        recorded_s = time.perf_counter() - started
    finally:
        await runtime.close()
        await client.drop_database("bench_segments")
        await client.close()
        await server.stop()

    rate, plain_rate, recorded_rate = users / job_s, users / plain_s, users / recorded_s
    print(f"broadcast to {users:,} users of a static segment, dummy channel, embedded server")
    print(f"job (snapshot {created:.2f}s + run)  {rate:>10,.0f} messages/s")
    print(f"plain loop, deliver only         {plain_rate:>10,.0f} messages/s  "
          f"job/plain {rate / plain_rate:.4f}")
    print(f"plain loop, deliver + record     {recorded_rate:>10,.0f} messages/s  "
          f"job/plain {rate / recorded_rate:.3f}  "
          f"(job overhead {job_s / recorded_s - 1:+.0%})")
    result = {"benchmark": "segments", "users": users, "job_msgs_per_s": rate,
              "job_seconds": job_s, "snapshot_seconds": created,
              "plain_deliver_msgs_per_s": plain_rate,
              "plain_deliver_record_msgs_per_s": recorded_rate,
              "ratio_vs_deliver": rate / plain_rate,
              "ratio_vs_deliver_record": rate / recorded_rate}
    save("segments", result)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000)
    args = parser.parse_args()
    asyncio.run(main(args.users))
