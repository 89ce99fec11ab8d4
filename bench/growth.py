"""How the audience's everyday work grows with the number of profiles (issue 18):
one bot's population is grown to each size in turn (10,000 and 100,000 by
default, 1,000,000 on request) and at each size the benchmark times

* ingest: a fixed number of new events from returning users, through the
  recorder (``CaptureStore.ingest``, each batch's profile updates included);
* an indexed count: channel = whatsapp (a quarter of the users, through the
  ``bot_channel_created_at`` index), and one user's email (``bot_attributes.email``);
* an unindexed count: a custom attribute (age > 40), which scans;
* the first page of the audience list (``query_audience``, default sort);
* an export of 10,000 rows to CSV (``profile_rows`` + ``writers.write_rows``
  to a temporary file, as the export job does before its upload).

Then one table per measure: the time at each size, its ratio to the previous
size's and that ratio ÷ the row-count ratio, with the growth it shows (flat,
sub-linear, linear, super-linear) beside the growth expected. Each read also
shows the server's plan (stages from the top: the index used, or COLLSCAN).

Profiles are seeded with raw ``insert_many`` (the product's indexes in place:
``Database.from_client`` makes them), carrying a ``last_place`` before any new
event as capture-built profiles do, so new events are applied as deltas. A
read that would take over ``SLOW_S`` to repeat is timed once.

The default, 10,000 and 100,000 profiles, takes about 2 minutes on two cores.
With 1,000,000 the whole run took 17.5 minutes (25 on a busier machine):
seeding 10 of them, the first page alone 2.5 to 4. The in-memory server
cannot hold it (its cache fills at about 650,000 profiles), so above
``IN_MEMORY_MAX`` profiles the server runs on disk in a temporary folder, for
every size of that run:

    .venv/bin/python bench/growth.py [--sizes 10000 100000 1000000] [--events 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bson import ObjectId
from pymongo import AsyncMongoClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.datasets import conversation_events, profile_documents
from bench.results import save
from bench.timing import median_seconds
from plugin.audience import query as audience
from plugin.audience.property_store import PropertyStore
from plugin.capture.recorder import Recorder
from plugin.capture.store import place
from plugin.core import constants as c
from plugin.core.constants import MEMORY
from plugin.core.events import new_event_id
from plugin.core.properties import custom_property
from plugin.db.database import Database
from plugin.db.embedded import EmbeddedServer
from plugin.transfer import export as exporting
from plugin.transfer import writers

BOT = "bench-growth"
DB_NAME = "bench_growth"
NOW = datetime.now(UTC).replace(microsecond=0)
CHUNK = 50_000  # profiles generated at once (memory), inserted 5,000 a call
EXPORT_ROWS = 10_000
RETURNING_USERS = 200  # the users the ingested events come from

WHATSAPP = {"conditions": [{"property": "channel", "operator": "equals", "value": "whatsapp"}]}
OLDER_THAN_40 = {"conditions": [{"property": "age", "operator": "gt", "value": 40}]}

PAGE = "first page (default sort)"
EXPORT = f"export {EXPORT_ROWS:,} rows (csv)"
# The in-memory server keeps everything in its 1 GiB cache, which fills (an
# "internal server error" on insert) at about 650,000 profiles.
IN_MEMORY_MAX = 500_000
SLOW_S = 20.0  # a measure whose repeats would take longer is timed once

# measure -> (unit shown, growth expected)
MEASURES: dict[str, tuple[str, str]] = {
    "ingest": ("s", "flat: each event touches one profile, by _id"),
    "indexed count: channel = whatsapp": (
        "ms", "sub-linear: index keys only, but a quarter of all users match"),
    "indexed count: email = one user": ("ms", "flat: one index lookup"),
    "unindexed count: age > 40": ("ms", "linear: a collection scan"),
    PAGE: ("ms", "sub-linear: the total (an index count) + 51 rows"),
    EXPORT: ("s", "flat: the first 10,000 by _id"),
}


def _as_captured(doc: dict[str, Any]) -> dict[str, Any]:
    """A seeded profile as capture leaves one: its last event's place, so new
    events apply as deltas (a profile without one would be rebuilt)."""
    last = doc["last_message_at"]
    return {**doc, "last_place": place(last, ObjectId.from_datetime(last)),
            "events_folded": doc["message_count"], "rev": 1}


async def grow(db: Database, have: int, size: int) -> float:
    """Profiles ``have``..``size`` inserted; the seconds it took."""
    profiles = db[c.PROFILES]
    started = time.perf_counter()
    for first in range(have, size, CHUNK):
        docs = [_as_captured(d) for d in profile_documents(
            min(CHUNK, size - first), BOT, seed=first + 11, now=NOW, first=first)]
        for i in range(0, len(docs), 5000):
            await profiles.insert_many(docs[i:i + 5000], ordered=False)
        done = first + len(docs)
        elapsed = time.perf_counter() - started
        print(f"\rseeding {done:>9,}/{size:,} profiles  {elapsed:6.0f} s", end="", flush=True)
    print()
    return time.perf_counter() - started


def returning_events(count: int, size: int) -> list[Any]:
    """``count`` events of a fixed mix from users already in the population."""
    rng = random.Random(size)
    chosen = [f"user-{rng.randrange(size):06d}" for _ in range(RETURNING_USERS)]
    return [replace(e, user_id=chosen[int(e.user_id.removeprefix("user-"))], id=new_event_id())
            for e in conversation_events(count, RETURNING_USERS, BOT, seed=size)]


async def ingest_seconds(db: Database, count: int, size: int) -> float:
    """Seconds to record ``count`` events until all are written, after an
    untimed tenth (the recorder's and the server's first batches)."""
    warm = returning_events(max(1, count // 10), size + 1)
    async with Recorder(db, flush_interval=0) as recorder:
        for event in warm:
            await recorder.record(event)
    events = returning_events(count, size)
    recorder = await Recorder(db, flush_interval=0).start()
    started = time.perf_counter()
    for event in events:
        await recorder.record(event)
    await recorder.close(timeout=600)
    elapsed = time.perf_counter() - started
    assert recorder.stats.written == count, recorder.stats
    return elapsed


async def export_rows(db: Database) -> int:
    query = await audience.compile_audience_filter(db, BOT, None)
    columns = await exporting.export_columns(db, BOT)
    with tempfile.TemporaryFile() as out:
        rows = exporting.profile_rows(db, query, columns, EXPORT_ROWS)
        return await writers.write_rows("csv", out, columns, rows)


async def plan(db: Database, command: dict[str, Any]) -> str:
    """The server's winning plan for ``command``, stage by stage from the top
    ("SORT ← FETCH ← IXSCAN bot_attributes.email"); planned, not run."""
    explained = await db.mongo.command({"explain": command, "verbosity": "queryPlanner"})
    stages, stage = [], explained["queryPlanner"]["winningPlan"]
    while stage:
        stages.append(" ".join(filter(None, (stage["stage"], stage.get("indexName")))))
        stage = stage.get("inputStage")
    return " ← ".join(stages)


async def timed(action: Callable[[], Awaitable[Any]], repeat: int) -> float:
    """The median of ``repeat`` runs after a warm one, or the first run alone when
    repeating it would take more than ``SLOW_S`` (a scan of a million profiles)."""
    started = time.perf_counter()
    await action()
    first = time.perf_counter() - started
    if first * repeat > SLOW_S:
        return first
    return await median_seconds(action, repeat)


async def measure(db: Database, size: int, events: int, repeat: int,
                  email: str) -> tuple[dict[str, float], dict[str, str]]:
    one_email = {"conditions": [{"property": "email", "operator": "equals", "value": email}]}
    counts: dict[str, dict[str, Any]] = {
        "indexed count: channel = whatsapp": WHATSAPP,
        "indexed count: email = one user": one_email,
        "unindexed count: age > 40": OLDER_THAN_40,
    }
    seconds: dict[str, float] = {"ingest": await ingest_seconds(db, events, size)}
    plans: dict[str, str] = {}
    for name, filter_ in counts.items():
        def count(f: dict[str, Any] = filter_) -> Awaitable[int]:
            return audience.count_audience(db, BOT, f)
        seconds[name] = await timed(count, repeat)
        query = await audience.compile_audience_filter(db, BOT, filter_)
        plans[name] = await plan(db, {"count": c.PROFILES, "query": query})
    everyone = await audience.compile_audience_filter(db, BOT, None)
    page_sort = dict(audience.sort_order(audience.DEFAULT_SORT, await audience.catalog(db, BOT)))
    seconds[PAGE] = await timed(lambda: audience.query_audience(db, BOT, None), repeat)
    plans[PAGE] = await plan(db, {"find": c.PROFILES, "filter": everyone,
                                  "sort": page_sort, "limit": 51})
    assert await export_rows(db) == min(EXPORT_ROWS, size)
    seconds[EXPORT] = await timed(lambda: export_rows(db), max(1, repeat // 2))
    plans[EXPORT] = await plan(db, {"find": c.PROFILES, "filter": everyone, "sort": {"_id": 1},
                                    "limit": EXPORT_ROWS})
    return seconds, plans


def growth_word(exponent: float) -> str:
    """What time ∝ rows^exponent is called."""
    if exponent < 0.2:
        return "flat"
    if exponent < 0.8:
        return "sub-linear"
    if exponent <= 1.2:
        return "linear"
    return "super-linear"


def print_tables(sizes: list[int], by_size: dict[int, dict[str, float]],
                 plans: dict[int, dict[str, str]], events: int) -> None:
    for name, (unit, expected) in MEASURES.items():
        scale = 1000 if unit == "ms" else 1
        title = f"{name} ({events:,} events)" if name == "ingest" else name
        print(f"\n{title} — expected {expected}")
        extra = "  events/s" if name == "ingest" else "  plan"
        print(f"{'profiles':>10} {'time':>10} {'× prev':>7} {'÷ rows ×':>9} {'growth':>13}{extra}")
        for i, size in enumerate(sizes):
            t = by_size[size][name]
            cells = f"{size:>10,} {t * scale:>8.1f}{unit:<2}"
            if i:
                prev = sizes[i - 1]
                ratio, rows = t / by_size[prev][name], size / prev
                word = growth_word(math.log(ratio) / math.log(rows) if ratio > 0 else 0)
                cells += f" {ratio:>6.2f}× {ratio / rows:>9.3f} {word:>13}"
            else:
                cells += f" {'':>7} {'':>9} {'':>13}"
            if name == "ingest":
                cells += f"  {events / t:>8,.0f}"
            else:
                cells += f"  {plans[size].get(name, '')}"
            print(cells.rstrip())
    print("\n× prev = time ÷ time at the previous size; ÷ rows × = that ÷ the growth in rows "
          "(1 = linear, below 1 = sub-linear); growth = the exponent k of time ∝ rows^k.")


async def main(sizes: list[int], events: int, repeat: int, data_dir: str | None) -> None:
    sizes = sorted(set(sizes))
    if data_dir is None and sizes[-1] > IN_MEMORY_MAX:
        with tempfile.TemporaryDirectory(prefix="bench-growth-") as folder:
            print(f"embedded server on disk in {folder}", flush=True)
            await run(sizes, events, repeat, folder, throwaway=True)
    else:
        await run(sizes, events, repeat, data_dir or MEMORY, throwaway=data_dir is None)


async def run(sizes: list[int], events: int, repeat: int, data_dir: str, *,
              throwaway: bool) -> None:
    """Measure on a server on ``data_dir``; drop the database after unless the
    server is ``throwaway`` (dropping a million profiles takes minutes)."""
    server = await EmbeddedServer.start(data_dir)
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(server.uri, tz_aware=True)
    by_size: dict[int, dict[str, float]] = {}
    plans: dict[int, dict[str, str]] = {}
    seeding: dict[int, float] = {}
    try:
        await client.drop_database(DB_NAME)
        db = await Database.from_client(client, DB_NAME)  # the product's indexes
        for name, type_ in (("email", "email"), ("phone", "phone"), ("age", "number")):
            await PropertyStore.of(db).define_property(BOT, custom_property(name, type_))
        email = next(d["attributes"]["email"] for d in profile_documents(50, BOT, seed=11, now=NOW)
                     if "email" in d["attributes"])
        have = 0
        for size in sizes:
            seeding[size] = await grow(db, have, size)
            by_size[size], plans[size] = await measure(db, size, events, repeat, email)
            times = ", ".join(f"{name} {t:.3f} s" for name, t in by_size[size].items())
            print(f"{size:,} profiles ({size - have:,} seeded in {seeding[size]:.0f} s): {times}",
                  flush=True)
            have = size
        print_tables(sizes, by_size, plans, events)
        save("growth", {"bench": "growth", "events": events, "repeat": repeat,
                        "results": [{"profiles": s, "seed_s": round(seeding[s], 1),
                                     "seconds": by_size[s], "plans": plans[s]} for s in sizes]})
    finally:
        if not throwaway:
            await client.drop_database(DB_NAME)
        await client.close()
        await server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--events", type=int, default=5_000,
                        help="events ingested at each size")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of each read")
    parser.add_argument("--data-dir", help="run the server on disk here (by default in memory, "
                        f"or in a temporary folder above {IN_MEMORY_MAX:,} profiles)")
    args = parser.parse_args()
    asyncio.run(main(args.sizes, args.events, args.repeat, args.data_dir))
