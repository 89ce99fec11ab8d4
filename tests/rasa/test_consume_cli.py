"""``audience rasa consume`` as users run it: a real process, killed mid-stream."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from plugin.audience.profile_store import ProfileStore
from plugin.capture.store import CaptureStore
from plugin.db.database import Database

from ..waiting import eventually
from .conftest import Broker, Clock, published, slot, user

AUDIENCE = str(Path(sys.executable).parent / "audience")
USERS, TURNS = 40, 25  # 2,000 messages


async def _start(broker: Broker, bot_id: str, env: dict[str, str]) -> asyncio.subprocess.Process:
    process = await asyncio.create_subprocess_exec(
        AUDIENCE, "rasa", "consume", "--amqp-url", broker.url, "--bot", bot_id,
        "--queue", broker.queue, "--exchange", broker.exchange, "--batch-size", "200",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL, env=env)
    assert process.stdout is not None
    line = (await asyncio.wait_for(process.stdout.readline(), 60)).decode()
    assert line.startswith(f"Consuming {broker.queue} for bot {bot_id}"), line
    return process


async def test_a_consumer_killed_mid_stream_loses_nothing(
        broker: Broker, db: Database, mongo_uri: str, bot_id: str) -> None:
    stream = []
    for n in range(USERS):
        t = Clock()
        for turn in range(TURNS // 2):
            stream += published(f"user-{n}", [user(t(), f"message {turn}", "inform"),
                                               slot(t(), "turn", turn)])
    await broker.publish(stream)
    env = {**os.environ, "MONGODB_URI": mongo_uri, "AUDIENCE_DB_NAME": db.mongo.name}

    async def stored() -> int:
        return await CaptureStore.of(db).stored_event_count(bot_id)

    async def some() -> bool:
        return await stored() > 0

    first = await _start(broker, bot_id, env)
    try:
        await eventually(some, what="the first events stored")
    finally:
        first.send_signal(signal.SIGKILL)
        await first.wait()
    at_kill = await stored()

    second = await _start(broker, bot_id, env)
    try:
        async def everything() -> bool:
            return await stored() >= len(stream)

        await eventually(everything, timeout=60, what="every event stored")
    finally:
        second.send_signal(signal.SIGTERM)
        out, _ = await asyncio.wait_for(second.communicate(), 30)
    assert second.returncode == 0
    assert "Stopped:" in out.decode()
    assert await stored() == len(stream) and 0 < at_kill < len(stream)
    assert await broker.waiting(broker.queue) == 0
    assert await broker.waiting(broker.dead_letter) == 0
    for n in range(USERS):
        profile = await ProfileStore.of(db).get_profile(bot_id, f"user-{n}")
        assert profile is not None
        assert profile["attributes"] == {"turn": TURNS // 2 - 1}
        assert profile["message_count"] == TURNS // 2


async def test_bad_options_are_refused_with_a_reason() -> None:
    async def run(*args: str) -> tuple[int, str]:
        process = await asyncio.create_subprocess_exec(
            AUDIENCE, "rasa", "consume", *args, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE)
        _, err = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode is not None
        return process.returncode, err.decode()

    code, err = await run("--bot", "b", "--amqp-url", "http://127.0.0.1:5672/")
    assert code == 2 and "--amqp-url must start with amqp://" in err
    code, err = await run("--bot", "b", "--amqp-url", "amqp://127.0.0.1/", "--batch-size", "0")
    assert code == 2 and "--batch-size must be between 1 and 10000" in err
    code, err = await run("--bot", " ", "--amqp-url", "amqp://127.0.0.1/")
    assert code == 2 and "--bot: ' ' is not a valid bot id" in err
    code, err = await run("--bot", "b", "--data-dir", ":memory:",
                          "--amqp-url", "amqp://guest:secret@127.0.0.1:1/")
    assert code == 1 and "cannot use RabbitMQ at amqp://guest:***@127.0.0.1:1/" in err
    assert "secret" not in err
    env = {k: v for k, v in os.environ.items() if k != "AUDIENCE_AMQP_URL"}
    process = await asyncio.create_subprocess_exec(
        AUDIENCE, "rasa", "consume", "--bot", "b", stderr=asyncio.subprocess.PIPE, env=env)
    _, err_bytes = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 2 and "--amqp-url is required" in err_bytes.decode()
