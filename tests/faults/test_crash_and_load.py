"""Capture under load and through a hard crash, as a client sees it over HTTP.

Both runs end the same way: every event sent is stored once, and every
profile is the fold of its timeline. Each prints its figures (run with -s).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import signal
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest_asyncio

from plugin.capture.store import CaptureStore
from plugin.core import constants
from plugin.core.settings import Settings
from plugin.db.database import Database
from tests.conftest import Api
from tests.faults.test_capture_integrity import assert_every_profile_is_its_fold

AUDIENCE = str(Path(sys.executable).parent / "audience")
KEY = "crash-test-admin-key"
T0 = datetime(2026, 7, 1, 9, 0, tzinfo=UTC)


def messages(bot_id: str, users: int, per_user: int) -> list[dict[str, Any]]:
    """Each user's messages a second apart, users interleaved as traffic is."""
    return [{"id": f"m{u}-{n}", "user_id": f"user{u}", "type": "user_message",
             "channel": "web", "ts": (T0 + timedelta(seconds=n)).isoformat(),
             "data": {"text": f"message {n} of user {u}"}}
            for n in range(per_user) for u in range(users)]


async def post(session: aiohttp.ClientSession, url: str, bot_id: str,
               batch: list[dict[str, Any]]) -> int:
    async with session.post(f"{url}/v1/bots/{bot_id}/events", json={"events": batch},
                            headers={"Authorization": f"Bearer {KEY}"}) as response:
        await response.read()
        return response.status


async def assert_counted_once(db: Database, bot_id: str, sent: int) -> None:
    stored = await CaptureStore.of(db).stored_event_count(bot_id)
    counted = sum([doc.get("message_count", 0) async for doc in
                   db[constants.PROFILES].find({"bot_id": bot_id}, {"message_count": 1})])
    assert (stored, counted) == (sent, sent)
    await assert_every_profile_is_its_fold(db, bot_id)


# -- load ---------------------------------------------------------------------------------------


async def test_twenty_clients_with_retries_count_every_event_once(
        api: Api, db: Database, bot_id: str) -> None:
    """20 concurrent clients send 5,000 events in batches of 50 and send 10 %
    of them again later, in other batches."""
    rng = random.Random(7)
    events = messages(bot_id, users=100, per_user=50)
    clients = [events[i::20] for i in range(20)]
    statuses: list[int] = []

    async def client(mine: list[dict[str, Any]]) -> None:
        retries = rng.sample(mine, len(mine) // 10)
        batches = [mine[i:i + 50] for i in range(0, len(mine), 50)]
        batches += [retries[i:i + 7] for i in range(0, len(retries), 7)]
        for batch in batches:
            status, _ = await api.post(f"/v1/bots/{bot_id}/events", {"events": batch})
            statuses.append(status)

    await asyncio.gather(*(client(mine) for mine in clients))
    print(f"\nload run: {len(events)} events from 20 clients, "
          f"{sum(len(c) // 10 for c in clients)} sent again; "
          f"{len(statuses)} requests, {sum(s >= 500 for s in statuses)} answered 5xx")
    assert set(statuses) == {202}
    await assert_counted_once(db, bot_id, len(events))


# -- kill -9 ------------------------------------------------------------------------------------


async def _serve(data_dir: Path, env: dict[str, str]) -> tuple[asyncio.subprocess.Process, str]:
    server = await asyncio.create_subprocess_exec(
        AUDIENCE, "serve", "--data-dir", str(data_dir), "--port", "0",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL, env=env)
    assert server.stdout is not None
    line = (await asyncio.wait_for(server.stdout.readline(), 60)).decode()
    match = re.search(r"serving on (http://\S+)", line)
    assert match, line
    return server, match.group(1)


@pytest_asyncio.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as made:
        yield made


async def test_kill_9_then_a_resend_grouped_otherwise_counts_every_event_once(
        tmp_path: Path, session: aiohttp.ClientSession) -> None:
    """Batches of 500 until the server and its database are killed with
    SIGKILL in the middle of one; restarted on the same data, the client sends
    everything again in batches of 100, in another order."""
    data_dir = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if k != "MONGODB_URI"}
    env["AUDIENCE_ADMIN_KEY"] = KEY
    bot_id = "crash"
    events = messages(bot_id, users=40, per_user=50)
    server, url = await _serve(data_dir, env)
    acknowledged = 0
    try:
        for start in range(0, 1000, 500):
            assert await post(session, url, bot_id, events[start:start + 500]) == 202
            acknowledged += 500
        in_flight = asyncio.create_task(post(session, url, bot_id, events[1000:1500]))
        await asyncio.sleep(0.3)
    finally:
        server.send_signal(signal.SIGKILL)
        await server.wait()
        database_pid = json.loads((data_dir / "server.json").read_text())["pid"]
        os.kill(database_pid, signal.SIGKILL)
    try:
        await in_flight
    except aiohttp.ClientError:
        pass  # cut off by the kill, as a client would see it

    server, url = await _serve(data_dir, env)
    try:
        db = await Database.open(Settings(data_dir=str(data_dir)))
        try:
            stored = await CaptureStore.of(db).stored_event_count(bot_id)
            applied = sum([doc.get("message_count", 0) async for doc in
                           db[constants.PROFILES].find({"bot_id": bot_id})])
            order = list(range(0, len(events), 100))
            random.Random(3).shuffle(order)
            statuses = [await post(session, url, bot_id, events[i:i + 100]) for i in order]
            print(f"\ncrash run: {acknowledged} events acknowledged before SIGKILL, "
                  f"{stored} stored and {applied} applied to profiles after it; "
                  f"{len(events)} sent again in batches of 100: "
                  f"{sum(s >= 500 for s in statuses)} answered 5xx")
            assert set(statuses) == {202}
            assert stored >= acknowledged
            await assert_counted_once(db, bot_id, len(events))
        finally:
            await db.close()
    finally:
        server.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(server.wait(), 30) == 0
