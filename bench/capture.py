"""Events per second through the recorder against a raw ``insert_many`` of the
same events, one document each, on the same embedded server, in one run.

The recorder does more per event than the baseline: it also applies each
batch to the users' profiles, one guarded upsert per user per batch; it
stores each user's events of a batch in one document (plugin.capture.chunks)
where the baseline stores one per event. So the
ratio depends on how many distinct users share a batch; the benchmark prints
it for several mixes (fewer users per batch = more events per profile write).
The events are queued as fast as the caller can, a backlog: the recorder's
batches grow with it (group commit, up to ``RECORDER_MAX_BATCH``), while the
baseline inserts in batches of ``--batch``.

    .venv/bin/python bench/capture.py [--events 10000] [--users 20 50 200] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from bson import ObjectId
from pymongo import AsyncMongoClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.datasets import conversation_events
from bench.results import save
from plugin.capture.recorder import Recorder
from plugin.capture.store import event_key
from plugin.core import constants
from plugin.core.events import Event, new_event_id, utc_now
from plugin.db.database import Database
from plugin.db.embedded import EmbeddedServer


def _fresh_ids(events: list[Event]) -> list[Event]:
    """The same conversation again, as new traffic: new ids, and times moved to
    now (in the same order), so the events come after everything stored in
    earlier rounds, as a live bot's do. (With the template's own times a
    later round would be late data, which capture rebuilds from the timeline.)"""
    shift = utc_now() - events[0].ts
    return [Event(e.bot_id, e.user_id, e.type, e.data, new_event_id(), e.ts + shift, e.channel)
            for e in events]


def _raw_docs(events: list[Event]) -> list[dict[str, Any]]:
    """The events as the plainest capture would store them: one document
    each, with what the recorder stores of it."""
    recorded_at = utc_now()
    return [{"_id": event_key(e), "bot_id": e.bot_id, "user_id": e.user_id, "eid": e.id,
             "seq": ObjectId(), "type": str(e.type), "ts": e.ts, "channel": e.channel,
             "data": e.data, "recorded_at": recorded_at} for e in events]


async def _recorder_rate(db: Database, events: list[Event], batch: int) -> float:
    recorder = await Recorder(db, batch_size=batch, flush_interval=0).start()
    started = time.perf_counter()
    for event in events:
        await recorder.record(event)
    await recorder.close(timeout=600)
    elapsed = time.perf_counter() - started
    assert recorder.stats.written == len(events), recorder.stats
    return len(events) / elapsed


async def _raw_rate(db: Database, events: list[Event], batch: int) -> float:
    docs = _raw_docs(events)
    collection = db["raw_events"]
    # The timeline's index, as on the events when they were stored one to a document.
    await collection.create_index([("bot_id", 1), ("user_id", 1), ("ts", 1)])
    started = time.perf_counter()
    for i in range(0, len(docs), batch):
        await collection.insert_many(docs[i:i + batch], ordered=False)
    return len(docs) / (time.perf_counter() - started)


async def measure(db: Database, count: int, users: int, rounds: int,
                  batch: int) -> dict[str, Any]:
    template = conversation_events(count, users)
    recorder_rates, raw_rates = [], []
    for _ in range(rounds):  # interleaved, so drift on a shared machine hits both
        recorder_rates.append(await _recorder_rate(db, _fresh_ids(template), batch))
        raw_rates.append(await _raw_rate(db, _fresh_ids(template), batch))
    ours, baseline = statistics.median(recorder_rates), statistics.median(raw_rates)
    return {"users": users, "recorder_events_per_s": round(ours),
            "raw_insert_many_events_per_s": round(baseline), "ratio": round(ours / baseline, 3)}


async def main(count: int, user_mixes: list[int], rounds: int, batch: int) -> dict[str, Any]:
    server = await EmbeddedServer.start()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(server.uri, tz_aware=True)
    try:
        db = await Database.from_client(client, "bench_capture")
        print(f"{count:,} events per round, {rounds} rounds; raw insert_many in batches of "
              f"{batch}; the recorder fills a batch at {batch} and takes up to "
              f"{constants.RECORDER_MAX_BATCH:,} of a backlog")
        print(f"{'users':>6} {'recorder ev/s':>14} {'raw insert_many ev/s':>21} {'ratio':>7}")
        rows = []
        for users in user_mixes:
            row = await measure(db, count, users, rounds, batch)
            rows.append(row)
            print(f"{users:>6} {row['recorder_events_per_s']:>14,} "
                  f"{row['raw_insert_many_events_per_s']:>21,} {row['ratio']:>7.3f}")
    finally:
        await client.drop_database("bench_capture")
        await client.close()
        await server.stop()
    print("ratio = recorder / raw insert_many of the same events, one document each "
          "(target >= 0.8)")
    result = {
        "benchmark": "capture", "events": count, "rounds": rounds, "batch": batch,
        "results": rows,
    }
    save("capture", result)
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--users", type=int, nargs="+", default=[20, 50, 200])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=constants.RECORDER_BATCH_SIZE)
    args = parser.parse_args()
    asyncio.run(main(args.events, args.users, args.rounds, args.batch))
