"""Exports of 10,000 and 100,000 profiles to CSV and to XLSX through
``plugin.transfer.export`` (the code the export job runs), against a plain loop
writing the same cursor with the ``csv`` module, in one run, with the time
and the peak Python memory (tracemalloc) of each.

Each writes to a temporary file on disk, as the job does before the upload
to GridFS (not measured here). The peak should not grow with the row count.
Last, the ratio issue 18 asks of XLSX: its time ÷ CSV's, goal at most 2×.

    .venv/bin/python bench/export.py [--sizes 10000 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO, Any

from pymongo import AsyncMongoClient

from plugin.audience.profile_store import ProfileStore

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.datasets import profile_documents
from bench.results import save
from plugin.audience import query as audience
from plugin.core import constants as c
from plugin.db.database import Database
from plugin.db.embedded import EmbeddedServer
from plugin.transfer import export as exporting
from plugin.transfer import writers


async def _seed(db: Database, bot_id: str, count: int) -> None:
    docs = profile_documents(count, bot_id=bot_id)
    for i in range(0, len(docs), 5000):
        await db[c.PROFILES].insert_many(docs[i:i + 5000])


async def _measure(run: Callable[[IO[bytes]], Awaitable[int]]) -> dict[str, Any]:
    with tempfile.TemporaryFile() as out:
        tracemalloc.start()
        started = time.perf_counter()
        rows = await run(out)
        seconds = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        size = out.tell()
    return {"rows": rows, "seconds": round(seconds, 3), "rows_per_s": round(rows / seconds),
            "peak_mib": round(peak / 2**20, 2), "file_mib": round(size / 2**20, 2)}


async def main(sizes: list[int]) -> None:
    server = await EmbeddedServer.start()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(server.uri, tz_aware=True)
    db = await Database.from_client(client, "bench_export")
    results: list[dict[str, Any]] = []
    try:
        for size in sizes:
            bot_id = f"bench-{size}"
            await _seed(db, bot_id, size)
            query = await audience.compile_audience_filter(db, bot_id, None)
            columns = await exporting.export_columns(db, bot_id)

            def job(fmt: str, columns: list[str] = columns, query: dict[str, Any] = query,
                    size: int = size) -> Callable[[IO[bytes]], Awaitable[int]]:
                async def export_run(out: IO[bytes]) -> int:
                    rows = exporting.profile_rows(db, query, columns, size,
                                                  for_xlsx=fmt == "xlsx")
                    return await writers.write_rows(fmt, out, columns, rows)
                return export_run

            async def plain(out: IO[bytes], columns: list[str] = columns,
                            query: dict[str, Any] = query, size: int = size) -> int:
                text = writers._TextOut(out)
                writer = csv.writer(text)
                writer.writerow(columns)
                written = 0
                async for doc in ProfileStore.of(db).iter_profiles(query, size):
                    attrs = doc.get("attributes") or {}
                    writer.writerow([doc.get(col, attrs.get(col)) for col in columns])
                    written += 1
                return written

            for name, run in (("plain csv loop", plain), ("export csv", job("csv")),
                              ("export xlsx", job("xlsx"))):
                measured = await _measure(run)
                results.append({"users": size, "writer": name, **measured})
                print(f"{size:>7} {name:<15} {measured['seconds']:>7.2f} s "
                      f"{measured['rows_per_s']:>7} rows/s  peak {measured['peak_mib']:>6.2f} MiB"
                      f"  file {measured['file_mib']:>6.2f} MiB", flush=True)
    finally:
        await client.close()
        await server.stop()
    print("\nmeasure (issue 18)                    now    goal")
    for size in sizes:
        by = {r["writer"]: r for r in results if r["users"] == size}
        ratio = by["export xlsx"]["seconds"] / by["export csv"]["seconds"]
        print(f"XLSX ÷ CSV export time, {size:>7} rows  {ratio:4.2f}×  ≤ 2×"
              f"   (peak {by['export xlsx']['peak_mib']:.2f} MiB)")
    result = {"bench": "export", "results": results}
    save("export", result)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    asyncio.run(main(parser.parse_args().sizes))
