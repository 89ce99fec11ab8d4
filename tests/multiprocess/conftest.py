"""Three real ``audience serve`` processes on one embedded database, shared by
the tests of a module (starting them is most of the time).

The test process starts the database itself (``Database.open`` on a fresh data
folder starts SecantusDB and writes ``server.json``); each server finds it
there and attaches, as a second ``audience serve`` on the same ``--data-dir``
does. Every server deploys the same bot with ``--bot`` and shares the link
secret; a job's lease lasts two seconds and a webhook delivery's claim little
more than its request's timeout (a second), so what a killed server was doing
is resumed quickly.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio

from plugin.core.settings import Settings
from plugin.db.database import Database
from tests.conftest import Api

AUDIENCE = str(Path(sys.executable).parent / "audience")
KEY = "many-servers-admin-key"
BOT = Path(__file__).with_name("shop.yaml")
BOT_ID = "shop"
JOB_LEASE_S = 2.0
SERVERS = 3


@dataclass
class Server:
    process: asyncio.subprocess.Process
    url: str
    api: Api
    _drain: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def alive(self) -> bool:
        return self.process.returncode is None

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)


@dataclass
class Cluster:
    servers: list[Server]
    db: Database
    session: aiohttp.ClientSession

    def __getitem__(self, index: int) -> Server:
        return self.servers[index]

    @property
    def alive(self) -> list[int]:
        """The servers not killed by a test before, by index."""
        return [i for i, server in enumerate(self.servers) if server.alive]

    def by_pid(self, owner: str) -> Server:
        """The server a worker's owner id (``host:pid:…``) names."""
        pid = int(owner.split(":")[1])
        return next(s for s in self.servers if s.process.pid == pid)


async def _drain(stream: asyncio.StreamReader) -> None:
    while await stream.readline():
        pass


async def start_server(data_dir: Path, env: dict[str, str],
                       session: aiohttp.ClientSession) -> Server:
    process = await asyncio.create_subprocess_exec(
        AUDIENCE, "serve", "--data-dir", str(data_dir), "--port", "0", "--bot", str(BOT),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL, env=env)
    assert process.stdout is not None
    line = (await asyncio.wait_for(process.stdout.readline(), 60)).decode()
    match = re.search(r"serving on (http://\S+)", line)
    assert match, line
    url = match.group(1)
    # The server goes on printing; a full pipe would block it.
    return Server(process, url, Api(url, session, KEY),
                  asyncio.create_task(_drain(process.stdout)))


def server_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "MONGODB_URI"}
    env.update({"AUDIENCE_ADMIN_KEY": KEY, "AUDIENCE_LINK_SECRET": "many-servers-link-secret",
                "AUDIENCE_JOB_LEASE_S": str(JOB_LEASE_S),
                # A webhook request times out after a second, a delivery's claim a
                # second after that; webhooks may reach the test's receiver on loopback.
                "AUDIENCE_WEBHOOK_TIMEOUT_S": "1", "AUDIENCE_DELIVERY_LEASE_S": "1",
                "AUDIENCE_WEBHOOK_BACKOFF_S": "0.05", "AUDIENCE_WEBHOOK_ALLOW_PRIVATE": "1"})
    return env


@pytest_asyncio.fixture(scope="module")
async def cluster(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Cluster]:
    data_dir = tmp_path_factory.mktemp("many-servers")
    db = await Database.open(Settings(data_dir=str(data_dir)))  # starts the database
    assert db.embedded is not None and db.embedded.owned
    env = server_env()
    servers: list[Server] = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        try:
            servers += await asyncio.gather(*(start_server(data_dir, env, session)
                                              for _ in range(SERVERS)))
            yield Cluster(servers, db, session)
        finally:
            for server in servers:
                if server.alive:
                    server.process.send_signal(signal.SIGTERM)
            for server in servers:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(server.process.wait(), 30)
                if server.alive:
                    server.kill()
                    await server.process.wait()
                if server._drain is not None:
                    server._drain.cancel()
            await db.close()
