"""Scenario steps per second at concurrency 1 and at 20, in one run, and the
share of the run's time spent in the simulator itself against the time spent
waiting on the bot (its turns, in-process on the dummy channel); and, side by
side, the same conversations driven with no expectation at all (each
measurement ends once their capture is stored), so the cost of checking is
a ratio: steps/s checked / steps/s unchecked (goal >= 0.6), and concurrency
20 / concurrency 1 (goal >= 3).

The suite is the example bot's buttons, branches and CTA scenarios
(scenarios/suites), repeated; API stubs answer at once, so the figures
measure the simulator, the runtime and capture, not a slow backend.

    .venv/bin/python bench/simulator.py [--repeat 4] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from pymongo import AsyncMongoClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.results import save
from plugin.db.database import Database
from plugin.db.embedded import EmbeddedServer
from simulator.loader import load_scenarios
from simulator.model import Scenario
from simulator.runner import Simulator, SuiteResult

SUITES = Path(__file__).resolve().parent.parent / "scenarios" / "suites"
FILES = ("buttons.yaml", "branches.yaml", "cta.yaml")


async def measure(simulator: Simulator, scenarios: list[Scenario],
                  concurrency: int) -> SuiteResult:
    started = time.perf_counter()
    suite = await simulator.run_all(scenarios, concurrency=concurrency)
    await simulator.drain()  # the capture written, as a checked run waits for it
    if suite.failed:
        raise SystemExit("the bench suite failed:\n" + suite.failed[0].describe_failure())
    return replace(suite, seconds=time.perf_counter() - started)


def unchecked(scenario: Scenario) -> Scenario:
    """The same conversation with no expectation."""
    return replace(scenario, steps=tuple(replace(s, expect=None) for s in scenario.steps),
                   expect=None, ends_with_cta=False)


async def main(repeat: int, rounds: int) -> None:
    scenarios = [s for _ in range(repeat) for f in FILES for s in load_scenarios(SUITES / f)]
    server = await EmbeddedServer.start()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(server.uri, tz_aware=True)
    db = await Database.from_client(client, "bench_simulator")
    serial: list[SuiteResult] = []
    parallel: list[SuiteResult] = []
    bare = [unchecked(s) for s in scenarios]
    bare_serial: list[SuiteResult] = []
    bare_parallel: list[SuiteResult] = []
    try:
        async with Simulator(db=db) as simulator:
            await measure(simulator, scenarios[:5], 5)  # warm-up: connections, caches
            for _ in range(rounds):  # interleaved, so drift hits both
                serial.append(await measure(simulator, scenarios, 1))
                parallel.append(await measure(simulator, scenarios, 20))
                bare_serial.append(await measure(simulator, bare, 1))
                bare_parallel.append(await measure(simulator, bare, 20))
    finally:
        await client.drop_database("bench_simulator")
        await client.close()
        await server.stop()

    def rate(suites: list[SuiteResult]) -> float:
        return statistics.median(s.steps / s.seconds for s in suites)

    def share(suites: list[SuiteResult], part: str) -> float:
        # Summed over scenarios: with concurrency their times overlap, so the
        # share is of the scenarios' own time, not of the wall clock.
        return statistics.median(
            getattr(s, part) / sum(r.seconds for r in s.results) for s in suites)

    def shares(suites: list[SuiteResult]) -> str:
        bot, capture = share(suites, "target_seconds"), share(suites, "capture_seconds")
        return (f"in the bot {bot:6.1%}   simulator: reading the capture {capture:6.1%}, "
                f"the rest {1 - bot - capture:6.1%}")

    one, twenty = rate(serial), rate(parallel)
    bare_one, bare_twenty = rate(bare_serial), rate(bare_parallel)
    runs, steps = len(serial[0].results), serial[0].steps
    print(f"{runs} scenario runs, {steps} steps a round, {rounds} rounds, in-process, "
          "embedded database")
    print(f"concurrency  1  {one:>8,.0f} steps/s   {shares(serial)}")
    print(f"concurrency 20  {twenty:>8,.0f} steps/s   {shares(parallel)}")
    print(f"ratio 20/1      {twenty / one:8.2f}   (goal >= 3)")
    print(f"no expectations: concurrency 1 {bare_one:,.0f} steps/s, 20 {bare_twenty:,.0f} steps/s")
    print(f"checked / unchecked: concurrency 1 {one / bare_one:.2f}, "
          f"concurrency 20 {twenty / bare_twenty:.2f}   (goal >= 0.6)")
    result = {"benchmark": "simulator", "runs": runs, "steps": steps, "rounds": rounds,
              "steps_per_s_c1": one, "steps_per_s_c20": twenty, "ratio": twenty / one,
              "unchecked_steps_per_s_c1": bare_one, "unchecked_steps_per_s_c20": bare_twenty,
              "checked_ratio_c1": one / bare_one, "checked_ratio_c20": twenty / bare_twenty,
              "bot_share_c1": share(serial, "target_seconds"),
              "bot_share_c20": share(parallel, "target_seconds"),
              "capture_share_c1": share(serial, "capture_seconds"),
              "capture_share_c20": share(parallel, "capture_seconds")}
    save("simulator", result)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=4, help="copies of the suite a round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.repeat, args.rounds))
