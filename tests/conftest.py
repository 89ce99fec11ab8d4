"""Session fixtures: one database server, one store, one API server on loopback.

The database is ``MONGODB_URI`` when set, otherwise the embedded SecantusDB
started once per session as a separate process on a free port. Tests keep
out of each other's way by working on their own bot id: every query in
Audience is scoped by bot.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from pymongo import AsyncMongoClient

from connectors.dummy_extension import DummyExtension
from plugin.access.keys import Role, create_key
from plugin.core.constants import MEMORY
from plugin.core.settings import Settings
from plugin.db.database import Database
from plugin.db.embedded import EmbeddedServer
from plugin.http.app import create_app
from plugin.web import install_web
from simulator.cli import SimulatorExtension

ADMIN_KEY = "test-admin-key"
MAX_BODY_BYTES = 64 * 1024


@pytest_asyncio.fixture(scope="session")
async def mongo_uri() -> AsyncIterator[str]:
    if os.environ.get("MONGODB_URI"):
        yield os.environ["MONGODB_URI"]
        return
    server = await EmbeddedServer.start(MEMORY, enable_test_commands=True)
    yield server.uri
    await server.stop()


@pytest_asyncio.fixture(scope="session")
async def db(mongo_uri: str) -> AsyncIterator[Database]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_uri, tz_aware=True)
    db_name = f"audience_test_{uuid.uuid4().hex[:8]}"
    db = await Database.from_client(client, db_name)
    yield db
    await client.drop_database(db_name)
    await client.close()


@pytest.fixture
def bot_id() -> str:
    return f"bot-{uuid.uuid4().hex[:10]}"


@dataclass
class Api:
    """A small JSON client for the API server under test."""

    base_url: str
    session: aiohttp.ClientSession
    key: str | None = ADMIN_KEY

    def as_key(self, key: str | None) -> Api:
        return Api(self.base_url, self.session, key)

    async def request(self, method: str, path: str, body: object = None, *,
                      raw: bytes | None = None, headers: dict[str, str] | None = None,
                      ) -> tuple[int, Any]:
        sent = dict(headers or {})
        if self.key is not None:
            sent.setdefault("Authorization", f"Bearer {self.key}")
        kwargs: dict[str, Any] = {"headers": sent}
        if raw is not None:
            kwargs["data"] = raw
        elif body is not None:
            kwargs["json"] = body
        async with self.session.request(method, self.base_url + path, **kwargs) as response:
            if response.content_type == "application/json":
                return response.status, await response.json()
            return response.status, await response.text()

    async def get(self, path: str, **kwargs: Any) -> tuple[int, Any]:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, body: object = None, **kwargs: Any) -> tuple[int, Any]:
        return await self.request("POST", path, body, **kwargs)


@pytest_asyncio.fixture(scope="session")
async def app_server(db: Database) -> AsyncIterator[tuple[web.Application, str]]:
    # Webhook retries in tens of milliseconds, so the retry tests wait little;
    # webhooks may reach the tests' receivers on loopback (tests/faults/test_ssrf.py
    # runs a server of its own without that).
    settings = Settings(admin_key=ADMIN_KEY, max_body_bytes=MAX_BODY_BYTES,
                        webhook_max_attempts=4, webhook_backoff_s=0.05,
                        webhook_backoff_max_s=0.2, webhook_timeout_s=1.0,
                        webhook_allow_private=True)
    # As `audience serve` installs them: the dummy channel, and the simulator's
    # test channel for the test-bot page.
    app = create_app(settings, db, [DummyExtension(), SimulatorExtension()])
    install_web(app)  # as `audience serve` does: the browser tests use this server too
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    yield app, f"http://{host}:{port}"
    await runner.cleanup()


@pytest_asyncio.fixture(scope="session")
async def http_session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def api(app_server: tuple[web.Application, str], http_session: aiohttp.ClientSession) -> Api:
    return Api(app_server[1], http_session)


@pytest.fixture
def make_key(db: Database):  # type: ignore[no-untyped-def]
    async def make(role: Role | str, *bots: str) -> str:
        return await create_key(db, role, bots)

    return make
