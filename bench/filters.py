"""Filters over a large audience, measured side by side in one run:

* compiling a 20-condition expression (absolute, and against one count);
* count and first-page latency of typical filters through the HTTP API
  against the same queries written by hand with the driver (ratio ~ 1.0
  means the API adds nothing that matters);
* a count through an index against the same count forced to scan (the
  embedded server scans any query wrapped in ``$and``).

    .venv/bin/python bench/filters.py [--profiles 100000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from pymongo import AsyncMongoClient

from plugin.audience.property_store import PropertyStore

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.datasets import profile_documents
from bench.results import save
from bench.timing import median_seconds
from plugin.audience.filters import compile_filter
from plugin.core import constants
from plugin.core.properties import SYSTEM_PROPERTIES, custom_property
from plugin.core.settings import Settings
from plugin.db.database import Database
from plugin.db.embedded import EmbeddedServer
from plugin.http.app import create_app

BOT = "bench"
KEY = "bench-admin-key"
NOW = datetime.now(UTC).replace(microsecond=0)
WEEK_AGO = NOW - timedelta(days=7)

# name -> (filter, the same question written by hand for the driver)
TYPICAL: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "channel = whatsapp": (
        {"conditions": [{"property": "channel", "operator": "equals", "value": "whatsapp"}]},
        {"bot_id": BOT, "channel": "whatsapp"},
    ),
    "created in the last 7 days": (
        {"conditions": [{"property": "created_at", "operator": "after",
                         "value": WEEK_AGO.isoformat()}]},
        {"bot_id": BOT, "created_at": {"$gt": WEEK_AGO}},
    ),
    "email = (one user)": (
        {"conditions": [{"property": "email", "operator": "equals",
                         "value": "user-000042@example.com"}]},
        {"bot_id": BOT, "attributes.email": "user-000042@example.com"},
    ),
    "email and phone set": (
        {"conditions": [{"property": "email", "operator": "is_set"},
                        {"property": "phone", "operator": "is_set"}], "expression": "1 and 2"},
        {"bot_id": BOT, "attributes.email": {"$exists": True, "$nin": [None, ""]},
         "attributes.phone": {"$exists": True, "$nin": [None, ""]}},
    ),
    "email or phone set": (
        {"conditions": [{"property": "email", "operator": "is_set"},
                        {"property": "phone", "operator": "is_set"}], "expression": "1 or 2"},
        {"bot_id": BOT, "$or": [{"attributes.email": {"$exists": True, "$nin": [None, ""]}},
                                {"attributes.phone": {"$exists": True, "$nin": [None, ""]}}]},
    ),
}


def twenty_condition_filter() -> dict[str, Any]:
    conditions = [
        {"property": "channel", "operator": "equals", "value": "web"},
        {"property": "message_count", "operator": "between", "value": [3, 40]},
        {"property": "created_at", "operator": "within_last",
         "value": {"amount": 30, "unit": "days"}},
        {"property": "email", "operator": "ends_with", "value": "@example.com"},
        {"property": "phone", "operator": "is_set"},
    ] * 4
    groups = [f"({i} and {i + 1}) or ({i + 2} and {i + 3} and {i + 4})" for i in range(1, 21, 5)]
    return {"conditions": conditions, "expression": " and ".join(f"({g})" for g in groups)}


async def load(db: Database, count: int) -> float:
    started = time.perf_counter()
    docs = profile_documents(count, BOT, now=NOW)
    profiles = db[constants.PROFILES]
    for i in range(0, len(docs), 5000):
        await profiles.insert_many(docs[i:i + 5000], ordered=False)
        print(f"\rloading profiles {min(i + 5000, count):>7,}/{count:,}", end="", flush=True)
    print()
    for name, type_ in (("email", "email"), ("phone", "phone"), ("age", "number")):
        await PropertyStore.of(db).define_property(BOT, custom_property(name, type_))
    return time.perf_counter() - started


async def main(count: int, repeat: int) -> None:
    server = await EmbeddedServer.start()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(server.uri, tz_aware=True)
    runner = None
    try:
        db = await Database.from_client(client, "bench_filters")
        load_s = await load(db, count)
        runner = web.AppRunner(create_app(Settings(admin_key=KEY), db))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        base = f"http://{host}:{port}/v1/bots/{BOT}/audience"
        properties = {**SYSTEM_PROPERTIES, **await PropertyStore.of(db).custom_properties(BOT)}
        profiles = db[constants.PROFILES]
        results: dict[str, Any] = {"profiles": count, "load_s": round(load_s, 1), "filters": []}

        big = twenty_condition_filter()
        loops = 200
        started = time.perf_counter()
        for _ in range(loops):
            compile_filter(big, properties)
        compile_s = (time.perf_counter() - started) / loops
        print(f"\ncompile a 20-condition expression: {compile_s * 1e6:,.0f} µs")
        results["compile_20_conditions_us"] = round(compile_s * 1e6, 1)

        print(f"\n{'filter':28} {'total':>7} {'API count':>10} {'driver':>8} {'ratio':>6}"
              f" {'API page':>9} {'driver':>8} {'ratio':>6}")
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {KEY}"}) as http:
            for name, (filter_, by_hand) in TYPICAL.items():
                async def api_count(f: dict[str, Any] = filter_) -> Any:
                    async with http.post(f"{base}/count", json={"filter": f}) as response:
                        assert response.status == 200, await response.text()
                        return await response.json()

                async def api_page(f: dict[str, Any] = filter_) -> Any:
                    async with http.post(f"{base}/query", json={"filter": f}) as response:
                        assert response.status == 200, await response.text()
                        return await response.json()

                async def driver_count(q: dict[str, Any] = by_hand) -> int:
                    return int(await profiles.count_documents(q))

                async def driver_page(q: dict[str, Any] = by_hand) -> Any:
                    total = await profiles.count_documents(q)
                    users = await profiles.find(q).sort([("last_message_at", -1), ("_id", -1)]) \
                        .limit(51).to_list(51)
                    return total, users

                total = (await api_count())["total"]
                assert total == await driver_count(), name
                row = {
                    "filter": name, "total": total,
                    "api_count_s": await median_seconds(api_count, repeat),
                    "driver_count_s": await median_seconds(driver_count, repeat),
                    "api_page_s": await median_seconds(api_page, repeat),
                    "driver_page_s": await median_seconds(driver_page, repeat),
                }
                row["count_ratio"] = row["api_count_s"] / row["driver_count_s"]
                row["page_ratio"] = row["api_page_s"] / row["driver_page_s"]
                results["filters"].append(row)
                print(f"{name:28} {total:>7,} {row['api_count_s']*1e3:>8.1f}ms "
                      f"{row['driver_count_s']*1e3:>6.1f}ms {row['count_ratio']:>6.2f} "
                      f"{row['api_page_s']*1e3:>7.1f}ms {row['driver_page_s']*1e3:>6.1f}ms "
                      f"{row['page_ratio']:>6.2f}")

        indexed = {"bot_id": BOT, "channel": "whatsapp"}
        scanned = {"$and": [{"bot_id": BOT}, {"channel": "whatsapp"}]}  # same answer, no index
        indexed_s = await median_seconds(lambda: profiles.count_documents(indexed), repeat)
        scanned_s = await median_seconds(lambda: profiles.count_documents(scanned), repeat)
        print(f"\ncount channel = whatsapp: indexed {indexed_s*1e3:.1f}ms, scanned "
              f"{scanned_s*1e3:.1f}ms, scanned / indexed = {scanned_s / indexed_s:.1f}x")
        print(f"(20-condition compile = {compile_s / indexed_s:.4f} of one indexed count)")
        results.update(indexed_count_s=indexed_s, scanned_count_s=scanned_s,
                       scan_over_index=scanned_s / indexed_s)
        save("filters", results)
    finally:
        if runner is not None:
            await runner.cleanup()
        await client.drop_database("bench_filters")
        await client.close()
        await server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.profiles, args.repeat))
