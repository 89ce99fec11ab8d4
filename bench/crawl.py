"""The crawler's pace and coverage's cost, in one run.

1. ``audience crawl`` of each example bot (scenarios/bots/leads.yaml and
   signup.yaml) on the web channel, at the default depth: paths replayed per
   second, and the time for a full crawl of both.
2. ``audience simulate`` of the example suites with and without coverage,
   side by side (interleaved rounds, the same simulator and database): the
   run's time with coverage (its report included) / without (goal <= 1.1).
   The suites whose stubs time out on purpose are left out, so that waiting
   does not hide the cost.

    .venv/bin/python bench/crawl.py [--rounds 5] [--repeat 2]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from pymongo import AsyncMongoClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.results import save
from plugin.db.database import Database
from plugin.db.embedded import EmbeddedServer
from runtime.loader import load_bot
from simulator.coverage.collector import Coverage
from simulator.coverage.report import text_report
from simulator.crawler.explore import crawl
from simulator.loader import load_scenarios
from simulator.model import Scenario
from simulator.runner import Simulator

ROOT = Path(__file__).resolve().parent.parent
BOTS = ROOT / "scenarios" / "bots"
SUITES = ROOT / "scenarios" / "suites"
FILES = ("buttons.yaml", "branches.yaml", "cta.yaml", "properties.yaml", "starting.yaml")


async def crawls() -> dict[str, Any]:
    figures: dict[str, Any] = {}
    total = 0.0
    for name in ("leads", "signup"):
        done = await crawl(load_bot(BOTS / f"{name}.yaml"))
        total += done.seconds
        figures[name] = {"paths": len(done.walks), "ended": len(done.leaves),
                         "seconds": done.seconds, "paths_per_s": done.paths_per_second}
        print(f"crawl {name:7} {len(done.walks):5} paths in {done.seconds:6.2f}s   "
              f"{done.paths_per_second:6.0f} paths/s   ({len(done.leaves)} ended)")
    paths = sum(f["paths"] for f in figures.values())
    print(f"full crawl of both bots: {total:.2f}s, {paths / total:.0f} paths/s")
    figures["both_seconds"] = total
    return figures


async def simulate(db: Database, scenarios: list[Scenario], coverage: Coverage | None) -> float:
    """One run of the suites on a simulator of its own, followed or not; its seconds."""
    started = time.perf_counter()
    async with Simulator(db=db, watch=coverage) as simulator:
        suite = await simulator.run_all(scenarios, concurrency=8)
        await simulator.drain()
    if coverage is not None:
        text_report(coverage.report())
    if suite.failed:
        raise SystemExit("the bench suite failed:\n" + suite.failed[0].describe_failure())
    return time.perf_counter() - started


async def overhead(rounds: int, repeat: int) -> dict[str, Any]:
    scenarios = [s for _ in range(repeat) for f in FILES for s in load_scenarios(SUITES / f)]
    server = await EmbeddedServer.start()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(server.uri, tz_aware=True)
    db = await Database.from_client(client, "bench_crawl")
    without: list[float] = []
    with_coverage: list[float] = []
    try:
        await simulate(db, scenarios[:5], None)  # warm-up: connections, caches
        for _ in range(rounds):  # interleaved, so drift hits both
            without.append(await simulate(db, scenarios, None))
            with_coverage.append(await simulate(db, scenarios, Coverage()))
    finally:
        await client.drop_database("bench_crawl")
        await client.close()
        await server.stop()
    plain, covered = statistics.median(without), statistics.median(with_coverage)
    runs = sum(len(s.channels) for s in scenarios)
    print(f"simulate {runs} scenario runs, {rounds} rounds: without coverage {plain:.2f}s, "
          f"with {covered:.2f}s")
    print(f"coverage overhead: with / without {covered / plain:.3f}   (goal <= 1.1)")
    return {"runs": runs, "rounds": rounds, "without_s": plain, "with_s": covered,
            "ratio": covered / plain}


async def main(rounds: int, repeat: int) -> None:
    result = {"benchmark": "crawl", "crawl": await crawls(),
              "coverage": await overhead(rounds, repeat)}
    save("crawl", result)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=2, help="copies of the suites a round")
    args = parser.parse_args()
    asyncio.run(main(args.rounds, args.repeat))
