"""Fixtures of the runtime tests: a real backend on loopback (an ``aiohttp.web``
app whose handlers answer, fail, stall and hang up), a closed port, a runtime
per test, and an observer that records what the runtime reports.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web

from runtime import Bot, BotMessage, Observer, Runtime, TurnResult, load_bot

BOTS = Path(__file__).parent / "bots"
LEADS = Path(__file__).parents[2] / "scenarios" / "bots" / "leads.yaml"
SECRET = "s3cr3t-token"
SLOW_SECONDS = 1.0  # the slow handler's delay; test apis time out well before


@dataclass
class Backend:
    url: str
    requests: list[dict[str, Any]] = field(default_factory=list)


async def _record(request: web.Request, backend: Backend) -> None:
    body = await request.text()
    backend.requests.append(
        {
            "method": request.method,
            "path": request.path,
            "query": dict(request.query),
            "headers": dict(request.headers),
            "body": body,
        }
    )


def _backend_app(backend: Backend) -> web.Application:
    routes = web.RouteTableDef()

    @routes.get("/ok")
    async def ok(request: web.Request) -> web.Response:
        await _record(request, backend)
        return web.json_response({"data": {"value": "found", "items": [3, 7]}})

    @routes.post("/echo")
    async def echo(request: web.Request) -> web.Response:
        await _record(request, backend)
        return web.json_response({"received": await request.json()})

    @routes.get("/status/{code}")
    async def status(request: web.Request) -> web.Response:
        await _record(request, backend)
        return web.json_response({"error": "boom"}, status=int(request.match_info["code"]))

    @routes.get("/slow")
    async def slow(request: web.Request) -> web.Response:
        await _record(request, backend)
        await asyncio.sleep(SLOW_SECONDS)
        return web.json_response({"data": {"value": "late"}})

    @routes.get("/close")
    async def close(request: web.Request) -> web.Response:
        await _record(request, backend)
        assert request.transport is not None
        request.transport.close()  # hang up before any answer
        return web.Response()

    @routes.get("/html")
    async def html(request: web.Request) -> web.Response:
        await _record(request, backend)
        return web.Response(text="<html>maintenance</html>", content_type="text/html")

    @routes.get("/crm/lookup")
    async def crm_lookup(request: web.Request) -> web.Response:
        await _record(request, backend)
        email = request.query.get("email", "")
        if email.endswith("@acme.test"):
            return web.json_response({"known": True, "plan": "business"})
        return web.json_response({"known": False, "plan": "none"})

    @routes.post("/quote")
    async def quote(request: web.Request) -> web.Response:
        await _record(request, backend)
        body = await request.json()
        per_seat = {"starter": 10, "business": 20, "enterprise": 30}[body["plan"]]
        return web.json_response({"price": per_seat * body["seats"], "currency": "EUR"})

    app = web.Application()
    app.add_routes(routes)
    return app


@pytest_asyncio.fixture(scope="session")
async def backend_server() -> AsyncIterator[Backend]:
    backend = Backend(url="")
    runner = web.AppRunner(_backend_app(backend), shutdown_timeout=SLOW_SECONDS * 2)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    backend.url = f"http://{host}:{port}"
    yield backend
    await runner.cleanup()


@pytest.fixture
def backend(backend_server: Backend) -> Backend:
    backend_server.requests.clear()
    return backend_server


@pytest.fixture(scope="session")
def closed_port() -> int:
    """A loopback port nothing listens on: connecting is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def bots() -> list[Bot]:
    """The test bots and the example bot, loaded once (a Bot is immutable)."""
    return [load_bot(path) for path in (*sorted(BOTS.glob("*.yaml")), LEADS)]


@pytest_asyncio.fixture
async def runtime(backend: Backend, closed_port: int, bots: list[Bot]) -> AsyncIterator[Runtime]:
    variables = {"SECRET": SECRET, "CLOSED_PORT": str(closed_port), "CRM_TOKEN": SECRET}
    async with Runtime(api_base=backend.url, variables=variables) as runtime:
        for bot in bots:
            runtime.deploy(bot)
        yield runtime


class RecordingObserver(Observer):
    """Records every report as a tuple; api calls without their latency, which
    is checked and kept apart in ``latencies``."""

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []
        self.latencies: list[float] = []

    def of(self, kind: str) -> list[tuple[Any, ...]]:
        return [event for event in self.events if event[0] == kind]

    async def user_message(self, text: str | None, payload: str | None) -> None:
        self.events.append(("user_message", text, payload))

    async def bot_message(self, message: BotMessage) -> None:
        self.events.append(("bot_message", message.text))

    async def module_entered(self, module: str) -> None:
        self.events.append(("module_entered", module))

    async def property_set(self, name: str, value: Any) -> None:
        self.events.append(("property_set", name, value))

    async def property_rejected(self, name: str, raw_value: object, reason: str) -> None:
        self.events.append(("property_rejected", name, raw_value, reason))

    async def api_call(
        self,
        name: str,
        method: str,
        url: str,
        status: int | None,
        latency_ms: float,
        ok: bool,
        error_kind: str | None,
    ) -> None:
        assert latency_ms >= 0
        self.latencies.append(latency_ms)
        self.events.append(("api_call", name, method, url, status, ok, error_kind))

    async def branch(self, module: str, index: int, label: str, condition: str) -> None:
        self.events.append(("branch", module, index, label, condition))

    async def faq_answered(self, name: str) -> None:
        self.events.append(("faq_answered", name))

    async def fallback(self, text: str) -> None:
        self.events.append(("fallback", text))

    async def handover(self, reason: str) -> None:
        self.events.append(("handover", reason))


@pytest.fixture
def observer() -> RecordingObserver:
    return RecordingObserver()


@dataclass
class Chat:
    """One user talking to one bot the way a connector drives the runtime:
    each turn's messages are reported to the observer after the turn."""

    runtime: Runtime
    bot_id: str
    user_id: str
    observer: RecordingObserver
    channel: str = "web"

    async def send(
        self, text: str | None = None, *, payload: str | None = None, **kwargs: Any
    ) -> TurnResult:
        result = await self.runtime.handle(
            self.bot_id,
            self.user_id,
            text=text,
            payload=payload,
            channel=self.channel,
            observer=self.observer,
            **kwargs,
        )
        for message in result.messages:
            await self.observer.bot_message(message)
        return result

    async def texts(self, text: str | None = None, *, payload: str | None = None) -> list[str]:
        return [m.text for m in (await self.send(text, payload=payload)).messages]

    @property
    def properties(self) -> dict[str, Any]:
        state = self.runtime.conversation(self.bot_id, self.user_id)
        return dict(state.properties) if state else {}


_users = iter(range(1_000_000))


@pytest.fixture
def chat(runtime: Runtime, observer: RecordingObserver) -> Any:
    """``chat("steps")`` opens a conversation of a fresh user with a bot."""

    def open_chat(bot_id: str, channel: str = "web") -> Chat:
        return Chat(runtime, bot_id, f"user-{next(_users)}", observer, channel)

    return open_chat
