"""A real rasa_sdk action server, started as a process on loopback with the
Audience plugin installed, called with payloads shaped like Rasa's."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import uuid
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
import rasa_sdk
from aiohttp import web

from connectors.rasa.action_server import CALL_EVENT
from connectors.rasa.consumer import BrokerConsumer
from plugin.audience.profile_store import ProfileStore
from plugin.capture.store import CaptureStore
from plugin.db.database import Database

from ..waiting import eventually
from .conftest import Broker, Clock, action, bot, published, session, slot, user

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ActionServer:
    def __init__(self, url: str, bot_id: str, log: Path) -> None:
        self.url, self.bot_id, self.log = url, bot_id, log

    async def call(self, http: aiohttp.ClientSession, payload: dict[str, Any], *,
                   compress: bool = False) -> tuple[int, Any]:
        body = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json"}
        if compress:  # as Rasa does with COMPRESS_ACTION_SERVER_REQUEST=True
            body = zlib.compress(body)
            headers["Content-Encoding"] = "deflate"
        async with http.post(f"{self.url}/webhook", data=body, headers=headers) as response:
            return response.status, await response.json()


def _spawn(port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as log_file:
        return subprocess.Popen(
            [sys.executable, "-m", "rasa_sdk", "--actions", "tests.rasa.actions",
             "--port", str(port)], cwd=ROOT, env=env, stdout=log_file,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:]


@pytest_asyncio.fixture(scope="module")
async def action_server(mongo_uri: str, db: Database,
                        tmp_path_factory: pytest.TempPathFactory
                        ) -> AsyncIterator[ActionServer]:
    port = _free_port()
    bot_id = f"rasa-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "SANIC_HOST": "127.0.0.1", "AUDIENCE_BOT_ID": bot_id,
           "MONGODB_URI": mongo_uri, "AUDIENCE_DB_NAME": db.mongo.name,
           "ACTION_SERVER_SANIC_WORKERS": "1"}
    log = tmp_path_factory.mktemp("action-server") / "server.log"
    process = _spawn(port, env, log)
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(600):
                assert process.poll() is None, _tail(log)
                try:
                    async with http.get(f"{url}/health") as response:
                        if response.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("the action server did not start: " + _tail(log))
        yield ActionServer(url, bot_id, log)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.to_thread(process.wait), 20)
        except TimeoutError:
            process.kill()
            await asyncio.to_thread(process.wait)


@pytest_asyncio.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def action_call(name: str, sender: str, events: list[dict[str, Any]],
                slots: dict[str, Any] | None = None) -> dict[str, Any]:
    """What Rasa posts to the action server (``RemoteAction._action_call_format``)."""
    latest = next((e for e in reversed(events) if e["event"] == "user"), {})
    return {
        "next_action": name, "sender_id": sender, "version": rasa_sdk.__version__,
        "tracker": {"sender_id": sender, "slots": slots or {},
                    "latest_message": latest.get("parse_data", {}), "events": events,
                    "paused": False, "followup_action": None, "active_loop": {},
                    "latest_action_name": "action_listen",
                    "latest_event_time": events[-1]["timestamp"] if events else None},
        "domain": {"version": "3.1", "slots": {}, "responses": {}, "actions": [name],
                   "forms": {}, "intents": ["greet"], "entities": []},
    }


async def _timeline(db: Database, bot_id: str, user_id: str) -> list[dict[str, Any]]:
    docs, _ = await CaptureStore.of(db).timeline(bot_id, user_id, limit=500)
    return list(reversed(docs))


async def _calls(db: Database, bot_id: str, user_id: str, count: int) -> list[dict[str, Any]]:
    async def recorded() -> bool:
        timeline = await _timeline(db, bot_id, user_id)
        return sum(e["data"].get("name") == CALL_EVENT for e in timeline) >= count

    await eventually(recorded, what=f"{count} action calls recorded")
    return [e["data"] for e in await _timeline(db, bot_id, user_id)
            if e["data"].get("name") == CALL_EVENT]


async def test_a_call_is_recorded_with_its_slots_messages_and_new_events(
        action_server: ActionServer, http: aiohttp.ClientSession, db: Database) -> None:
    sender, t = f"s-{uuid.uuid4().hex[:6]}", Clock()
    history = [action(t(), "action_session_start"), {"event": "session_started",
                                                     "timestamp": t()},
               action(t(), "action_listen"), user(t(), "hello", "greet")]
    status, answer = await action_server.call(http, action_call("action_greet_user", sender,
                                                                history))
    assert status == 200 and answer["responses"][0]["text"] == "Welcome back!"
    [call] = await _calls(db, action_server.bot_id, sender, 1)
    assert call["action"] == "action_greet_user" and call["ok"] and call["status"] == 200
    assert call["slots"] == {"name": "Ada", "vip": True}
    assert call["messages"][0]["buttons"] == [{"title": "Order", "payload": "/order"}]
    assert call["latency_ms"] > 0

    # Rasa applies what the action returned, and sends the grown tracker next time,
    # deflate-compressed: only the new events are recorded.
    history += [action(t(), "action_greet_user"), slot(t(), "name", "Ada"),
                slot(t(), "vip", True), bot(t(), "Welcome back!"),
                action(t(), "action_listen"), user(t(), "again", "greet")]
    status, _ = await action_server.call(http, action_call("action_greet_user", sender,
                                                           history), compress=True)
    assert status == 200
    await _calls(db, action_server.bot_id, sender, 2)
    timeline = await _timeline(db, action_server.bot_id, sender)
    assert [e["data"]["text"] for e in timeline if e["type"] == "user_message"] == [
        "hello", "again"]
    assert sum(e["type"] == "bot_message" for e in timeline) == 1
    # Another process writes the capture: its events are stored before the
    # profile is brought up to date from them.
    async def profile_has_the_slots() -> bool:
        profile = await ProfileStore.of(db).get_profile(action_server.bot_id, sender)
        return profile is not None and profile.get("attributes") == {"name": "Ada", "vip": True}

    await eventually(profile_has_the_slots, what="the slots on the profile")


@pytest.mark.parametrize(("name", "status", "error"), [
    ("action_does_not_exist", 404, "No registered action found for name "
                                   "'action_does_not_exist'."),
    ("action_broken", 500, "the action itself failed"),
    ("action_rejects", 400, "nothing to do here"),
])
async def test_failed_calls_are_recorded_as_failed(
        action_server: ActionServer, http: aiohttp.ClientSession, db: Database, name: str,
        status: int, error: str) -> None:
    sender, t = f"s-{uuid.uuid4().hex[:6]}", Clock()
    got, _ = await action_server.call(http, action_call(name, sender,
                                                        [user(t(), "do it", "go")]))
    assert got == status  # the action server answers as it would without Audience
    [call] = await _calls(db, action_server.bot_id, sender, 1)
    assert call["action"] == name and call["status"] == status and not call["ok"]
    assert call["error"] == error


async def test_api_calls_from_actions_land_on_the_timeline(
        action_server: ActionServer, http: aiohttp.ClientSession, db: Database) -> None:
    async def order(request: web.Request) -> web.Response:
        if request.match_info["id"] == "down":
            return web.json_response({"error": "maintenance"}, status=503)
        return web.json_response({"status": "shipped"})

    app = web.Application()
    app.router.add_get("/orders/{id}", order)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = "http://{}:{}".format(*runner.addresses[0][:2])
    closed = f"http://127.0.0.1:{_free_port()}/orders/1"
    sender, t = f"s-{uuid.uuid4().hex[:6]}", Clock()
    try:
        for url in (f"{base}/orders/1", f"{base}/orders/down", closed):
            status, answer = await action_server.call(http, action_call(
                "action_check_order", sender, [user(t(), "where is my order", "ask")],
                slots={"api_url": url}))
            assert status == 200, answer
    finally:
        await runner.cleanup()
    await _calls(db, action_server.bot_id, sender, 3)
    timeline = await _timeline(db, action_server.bot_id, sender)
    calls = [e["data"] for e in timeline if e["type"] == "api_call"]
    assert [(c["name"], c["status"], c["ok"], c.get("error")) for c in calls] == [
        ("order_status", 200, True, None),
        ("order_status", 503, False, "status"),
        ("order_status", None, False, "connection"),
    ]
    assert calls[0]["url"] == f"{base}/orders/1" and calls[0]["method"] == "GET"
    assert calls[2]["reason"].startswith("ClientConnectorError")
    assert all(c["latency_ms"] >= 0 for c in calls)


async def test_the_two_paths_do_not_duplicate(
        action_server: ActionServer, http: aiohttp.ClientSession, db: Database,
        broker: Broker) -> None:
    sender = f"s-{uuid.uuid4().hex[:6]}"
    events = session()
    async with BrokerConsumer(db, action_server.bot_id, amqp_url=broker.url,
                              queue=broker.queue, exchange=broker.exchange) as consumer:
        await broker.publish(published(sender, events))

        async def consumed() -> bool:
            return consumer.stats.received >= len(events)

        await eventually(consumed)
        await consumer.drained(15)
    before = await _timeline(db, action_server.bot_id, sender)
    # The action server then sees the same history in a tracker.
    status, _ = await action_server.call(http, action_call("action_greet_user", sender,
                                                           events))
    assert status == 200
    await _calls(db, action_server.bot_id, sender, 1)
    after = await _timeline(db, action_server.bot_id, sender)
    assert len(after) == len(before) + 1  # only the call itself
    assert [e["_id"] for e in after if e["data"].get("name") != CALL_EVENT] == [
        e["_id"] for e in before]


async def test_a_call_capture_cannot_read_is_answered_as_without_audience(
        action_server: ActionServer, http: aiohttp.ClientSession) -> None:
    async with http.post(f"{action_server.url}/webhook", data=b"{not json",
                         headers={"Content-Type": "application/json"}) as response:
        assert response.status in (400, 500)  # rasa_sdk's own answer to a bad body
    status, answer = await action_server.call(http, action_call(
        "action_greet_user", "after-bad-body", [user(Clock()(), "hi", "greet")]))
    assert status == 200 and answer["responses"][0]["text"] == "Welcome back!"
