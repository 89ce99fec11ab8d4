"""Real servers on 127.0.0.1 that tests point the product at: an SMTP server
(aiosmtpd) that keeps what it receives, and a CRM-like webhook receiver.
Shared by the integration and the browser tests."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiosmtpd.controller import Controller

__all__ = ["Inbox", "Received", "Receiver", "receiving", "serving", "smtp_server"]


class Inbox:
    """What the SMTP server received: aiosmtpd's envelopes, in order."""

    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope)
        return "250 OK"


@contextlib.asynccontextmanager
async def smtp_server() -> AsyncIterator[tuple[Inbox, str]]:
    """A real SMTP server (aiosmtpd, on a thread of its own), its inbox and URL."""
    inbox = Inbox()
    with socket.socket() as probe:  # aiosmtpd connects to its port to check it is up: no 0
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    await asyncio.to_thread(controller.start)
    try:
        yield inbox, f"smtp://127.0.0.1:{port}"
    finally:
        await asyncio.to_thread(controller.stop)


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.body)
        return data


@dataclass
class Receiver:
    """A CRM endpoint on loopback. ``answer`` decides each response from the
    request's position (0-based) among all requests received."""

    url: str = ""
    requests: list[Received] = field(default_factory=list)
    answer: Callable[[int, Received], int] = lambda n, r: 200
    delay_s: float = 0.0
    arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def handle(self, request: web.Request) -> web.Response:
        got = Received(dict(request.headers), await request.read())
        status = self.answer(len(self.requests), got)
        self.requests.append(got)
        async with self.arrived:
            self.arrived.notify_all()
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        return web.Response(status=status, text="" if status < 300 else "receiver says no")

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 15.0) -> None:
        async with self.arrived:
            await asyncio.wait_for(self.arrived.wait_for(predicate), timeout)


@contextlib.asynccontextmanager
async def serving(path: str, handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
                  ) -> AsyncIterator[str]:
    """``handler`` answering POSTs to ``path`` on 127.0.0.1, and its URL."""
    app = web.Application()
    app.router.add_post(path, handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}{path}"
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def receiving(answer: Callable[[int, Received], int] = lambda n, r: 200,
                    ) -> AsyncIterator[Receiver]:
    """A CRM endpoint on 127.0.0.1 at ``/hook`` (the session server lets
    webhooks reach loopback)."""
    found = Receiver(answer=answer)
    async with serving("/hook", found.handle) as found.url:
        yield found
