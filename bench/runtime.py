"""Messages per second through the dummy channel with capture on, against the
same bot and the same users with capture off, in one run.

Capture only buffers events on the reply path; the recorder writes them in the
background. So two figures are printed for capture on: until the last reply
(what users feel) and until every event is written.

    .venv/bin/python bench/runtime.py [--users 200] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from aiohttp import web
from pymongo import AsyncMongoClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.results import save
from connectors.demo import DEMO_API_PREFIX, demo_api_routes, drive_demo_users
from connectors.dummy import DummyChannel
from plugin.capture.recorder import Recorder
from plugin.core import constants as c
from plugin.db.database import Database
from plugin.db.embedded import EmbeddedServer
from runtime.engine import Runtime
from runtime.loader import load_bot

LEADS = Path(__file__).resolve().parent.parent / "scenarios" / "bots" / "leads.yaml"


async def run(channel: DummyChannel, bot_id: str, users: int, round_no: int) -> tuple[int, float]:
    async def say(user_id: str, channel_name: str, **message: Any) -> list[dict[str, Any]]:
        return await channel.receive(bot_id, f"r{round_no}-{user_id}", channel=channel_name,
                                     **message)

    started = time.perf_counter()
    sent = await drive_demo_users(say, users, seed=round_no)
    return sent, time.perf_counter() - started


async def main(users: int, rounds: int) -> None:
    backend = web.Application()
    backend.add_routes(demo_api_routes)
    backend_runner = web.AppRunner(backend, access_log=None)
    await backend_runner.setup()
    await web.TCPSite(backend_runner, "127.0.0.1", 0).start()
    host, port = backend_runner.addresses[0][:2]
    server = await EmbeddedServer.start()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(server.uri, tz_aware=True)
    db = await Database.from_client(client, "bench_runtime")
    bot = load_bot(LEADS)
    runtime = Runtime(api_base=f"http://{host}:{port}{DEMO_API_PREFIX}",
                      variables={"CRM_TOKEN": "bench"})
    runtime.deploy(bot)
    recorder = await Recorder(db, source="dummy").start()
    captured, bare = DummyChannel(runtime, recorder), DummyChannel(runtime, None)
    on_reply, on_written, off = [], [], []
    try:
        for round_no in range(rounds):  # interleaved, so drift hits both
            sent, took = await run(captured, bot.id, users, 2 * round_no)
            on_reply.append(sent / took)
            started = time.perf_counter()
            await recorder.flush()
            on_written.append(sent / (took + time.perf_counter() - started))
            sent, took = await run(bare, bot.id, users, 2 * round_no + 1)
            off.append(sent / took)
        await recorder.flush()
        documents = await db[c.EVENTS].count_documents({"bot_id": bot.id})
    finally:
        await recorder.close()
        await runtime.close()
        await client.drop_database("bench_runtime")
        await client.close()
        await server.stop()
        await backend_runner.cleanup()
    reply, written, baseline = (statistics.median(x) for x in (on_reply, on_written, off))
    print(f"{users} users a round, {rounds} rounds, example bot with its backend on loopback")
    print(f"capture off                      {baseline:>8,.0f} messages/s")
    print(f"capture on, to the last reply    {reply:>8,.0f} messages/s  "
          f"ratio {reply / baseline:.3f}  (goal >= 0.9)")
    print(f"capture on, until all is written {written:>8,.0f} messages/s  "
          f"ratio {written / baseline:.3f}  (goal >= 0.5)")
    print(f"{recorder.stats.written:,} events stored in {documents:,} documents "
          f"({recorder.stats.written / max(documents, 1):.1f} a document)")
    result = {"benchmark": "runtime", "users": users, "rounds": rounds,
              "capture_off_msgs_per_s": baseline, "capture_on_reply_msgs_per_s": reply,
              "capture_on_written_msgs_per_s": written,
              "ratio_reply": reply / baseline, "ratio_written": written / baseline,
              "events": recorder.stats.written, "event_documents": documents}
    save("runtime", result)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.users, args.rounds))
