"""Fixtures shared by the integration tests: a scratch profiles collection
with the production indexes, and a CRM-like webhook receiver on loopback."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from pymongo import MongoClient
from pymongo.collection import Collection

from plugin.core import constants
from plugin.db.indexes import INDEXES as _INDEXES


@pytest.fixture(scope="module")
def profiles_collection(mongo_uri: str) -> Iterator[Collection[dict[str, Any]]]:
    """An empty profiles collection of its own, indexed as in production."""
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri)
    db_name = f"audience_profiles_{uuid.uuid4().hex[:8]}"
    collection = client[db_name][constants.PROFILES]
    collection.create_indexes(_INDEXES[constants.PROFILES])
    yield collection
    client.drop_database(db_name)
    client.close()


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


@pytest_asyncio.fixture
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver()
    app = web.Application()
    app.router.add_post("/hook", found.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    found.url = f"http://{host}:{port}/hook"
    yield found
    await runner.cleanup()


