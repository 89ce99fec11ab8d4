"""Health reports the database, and says why when it is unreachable."""

from __future__ import annotations

import socket
from typing import Any

import aiohttp
from aiohttp import web
from pymongo import AsyncMongoClient

from plugin.core.settings import Settings
from plugin.db.database import Database
from plugin.http.app import create_app


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_health_is_503_when_the_database_is_unreachable() -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        f"mongodb://127.0.0.1:{_closed_port()}/?directConnection=true",
        serverSelectionTimeoutMS=300,
    )
    app = create_app(Settings(), Database(client, "unreachable", owns_client=True))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://{host}:{port}/health") as response:
                body = await response.json()
                assert response.status == 503
        assert body["status"] == "unavailable" and body["db"] == "error"
        assert body["reason"].startswith("the database does not answer")
    finally:
        await runner.cleanup()
        await client.close()
