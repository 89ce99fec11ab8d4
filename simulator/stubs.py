"""The API stub server: a real aiohttp server on 127.0.0.1 that answers a
bot's backend calls the way each scenario says.

Each scenario run registers its stubs under its own path prefix and gets the
value of ``${API_BASE}`` to give the bot (``http://127.0.0.1:PORT/<run id>``),
so runs that go on at the same time never see each other's stubs. A request
is matched to one of the bot's apis by method and by the path of the api's
URL template after ``${API_BASE}`` (``{{placeholders}}`` match one path
segment).

The same server takes the messages a webhook bot sends later, by itself
(``POST /_inbound/<run id>``, the URL the webhook target puts in each request
when its ``request`` mapping names a ``callback``): they wait in the run's
:class:`~simulator.late.LateInbox` until a step collects them.

How a stub fails: ``timeout`` holds the request until the bot gives up;
``reset`` drops the connection with a TCP reset; ``refused`` redirects the
bot to a loopback port that is bound but not listening, so its connection
is really refused.

Usage::

    async with StubServer() as stubs:
        api_base = stubs.register("run-1", bot, {"crm_lookup": ApiStub("crm_lookup", 503)})
        ...
        stubs.unregister("run-1")
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType

from aiohttp import web

from runtime.model import Api, Bot
from runtime.templating import PLACEHOLDER, VARIABLE

from .late import LateInbox
from .model import ApiStub, StubFailure

__all__ = ["StubServer", "StubCall"]

_API_BASE = "${API_BASE}"
_HOLD_SECONDS = 300.0  # a timeout stub never answers before the bot's own timeout


@dataclass(frozen=True, slots=True)
class StubCall:
    """One request the stub server received for a run."""

    api: str | None  # None: it matched none of the bot's apis
    method: str
    path: str
    answered: str  # what the stub did


@dataclass(slots=True)
class _Run:
    routes: list[tuple[str, re.Pattern[str], Api]]
    stubs: Mapping[str, ApiStub]
    calls: list[StubCall] = field(default_factory=list)


def _path_pattern(api: Api) -> re.Pattern[str]:
    """The request paths ``api``'s URL template produces, after ``${API_BASE}``."""
    template = api.url[len(_API_BASE):].split("?", 1)[0] or "/"
    parts, last = [], 0
    for match in re.finditer(f"{PLACEHOLDER.pattern}|{VARIABLE.pattern}", template):
        parts.append(re.escape(template[last:match.start()]))
        parts.append("[^/]*")
        last = match.end()
    parts.append(re.escape(template[last:]))
    return re.compile("".join(parts))


class StubServer:
    """Serves every registered run's stubs on one loopback port."""

    def __init__(self) -> None:
        self._runs: dict[str, _Run] = {}
        self._inboxes: dict[str, LateInbox] = {}
        self._runner: web.AppRunner | None = None
        self._closing = asyncio.Event()
        self._refusing: socket.socket | None = None
        self.url = ""

    async def __aenter__(self) -> StubServer:
        return await self.start()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        traceback: TracebackType | None) -> None:
        await self.close()

    async def start(self) -> StubServer:
        app = web.Application()
        app.router.add_post("/_inbound/{run_id}", self._inbound)  # before the stubs' catch-all
        app.router.add_route("*", "/{run_id}/{tail:.*}", self._handle)
        # Cancel a held request when the bot hangs up, instead of holding it to the end.
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None,
                                     shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        # Bound but never listening: connecting to it is refused, and nobody else
        # can take the port while we hold it.
        self._refusing = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._refusing.bind(("127.0.0.1", 0))
        return self

    async def close(self) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._refusing is not None:
            self._refusing.close()
            self._refusing = None

    def register(self, run_id: str, bot: Bot, stubs: Mapping[str, ApiStub]) -> str:
        """Serve ``stubs`` for ``bot``'s apis under ``run_id``; returns its ``${API_BASE}``."""
        routes = [(api.method.upper(), _path_pattern(api), api) for api in bot.apis.values()
                  if api.url.startswith(_API_BASE)]
        self._runs[run_id] = _Run(routes, dict(stubs))
        return f"{self.url}/{run_id}"

    def inbox(self, run_id: str) -> tuple[str, LateInbox]:
        """The URL a bot posts ``run_id``'s later messages to, and where they wait
        (each as ``{"body": <the JSON posted>}``); gone at :meth:`unregister`."""
        inbox = self._inboxes.setdefault(run_id, LateInbox())
        return f"{self.url}/_inbound/{run_id}", inbox

    def unregister(self, run_id: str) -> list[StubCall]:
        """Stop serving ``run_id``; returns the calls it received."""
        self._inboxes.pop(run_id, None)
        run = self._runs.pop(run_id, None)
        return list(run.calls) if run is not None else []

    def calls(self, run_id: str) -> list[StubCall]:
        run = self._runs.get(run_id)
        return list(run.calls) if run is not None else []

    async def _inbound(self, request: web.Request) -> web.Response:
        inbox = self._inboxes.get(request.match_info["run_id"])
        if inbox is None:
            return web.json_response({"error": "no scenario run here"}, status=404)
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"error": "the body must be JSON"}, status=400)
        inbox.put({"body": body})
        return web.json_response({"ok": True})

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        run = self._runs.get(request.match_info["run_id"])
        if run is None:
            return web.json_response({"error": "no scenario run here"}, status=404)
        path = "/" + request.match_info["tail"]
        api = next((api for method, pattern, api in run.routes
                    if method == request.method and pattern.fullmatch(path)), None)

        def record(answered: str) -> None:
            run.calls.append(StubCall(api.name if api else None, request.method, path, answered))

        if api is None:
            record("404: no api of the bot")
            return web.json_response({"error": f"no api of the bot is {request.method} {path}"},
                                     status=404)
        stub = run.stubs.get(api.name)
        if stub is None:
            record("501: not stubbed")
            return web.json_response({"error": f"api {api.name!r} is not stubbed"}, status=501)
        record(stub.describe())
        if stub.delay:
            await self._wait(stub.delay)
        if stub.fail is StubFailure.TIMEOUT:
            await self._wait(_HOLD_SECONDS)
            raise web.HTTPServiceUnavailable()  # only reached when the server closes
        if stub.fail is StubFailure.RESET:
            _reset(request)
            return web.Response()  # never sent: the connection is gone
        if stub.fail is StubFailure.REFUSED:
            assert self._refusing is not None
            port = self._refusing.getsockname()[1]
            # 307 keeps the method and the body: the bot just follows it.
            raise web.HTTPTemporaryRedirect(f"http://127.0.0.1:{port}{path}")
        if stub.text is not None:
            return web.Response(status=stub.status, text=stub.text, content_type="text/html")
        body = {} if stub.body is None else stub.body
        return web.Response(status=stub.status, text=json.dumps(body),
                            content_type="application/json")

    async def _wait(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), seconds)


def _reset(request: web.Request) -> None:
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        # Linger 0: close() sends RST instead of FIN, which the client sees as a reset.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
