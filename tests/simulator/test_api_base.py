"""A server started with --api-base (as `make demo` does) still gives each
simulator deployment its own stubs: a deployment's api_base wins for that
deployment, --api-base stays the base of the bots given with --bot."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from aiohttp import web

from connectors.dummy_extension import DummyExtension
from connectors.dummy_http import DUMMY
from plugin.core.settings import Settings
from plugin.db.database import Database
from plugin.http.app import create_app
from simulator.loader import load_scenarios
from simulator.model import AudienceTarget
from simulator.runner import Simulator
from tests.conftest import ADMIN_KEY

from .conftest import EXAMPLES

SERVER_BASE = "http://127.0.0.1:9/nowhere"  # nothing listens there


@pytest_asyncio.fixture
async def server_with_api_base(db: Database) -> AsyncIterator[tuple[web.Application, str]]:
    extension = DummyExtension()
    extension.api_base = SERVER_BASE
    extension.bot_files = [EXAMPLES / "bots" / "leads.yaml"]
    app = create_app(Settings(admin_key=ADMIN_KEY), db, [extension])
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield app, "http://{}:{}".format(*runner.addresses[0][:2])
    await runner.cleanup()


async def test_each_deployment_keeps_its_own_api_base(
        server_with_api_base: tuple[web.Application, str]) -> None:
    app, url = server_with_api_base
    target = AudienceTarget(url, ADMIN_KEY)
    scenarios = [s for s in load_scenarios(EXAMPLES / "suites" / "api_failures.yaml",
                                           target=target)
                 if s.name in ("a slow but timely registration succeeds",
                               "registration answers 500 and the bot says it was refused",
                               "the CRM answers 500 and the quote goes on without it")]
    async with Simulator() as simulator:
        suite = await simulator.run_all(scenarios, concurrency=3)
    assert len(suite.results) == 3
    assert not suite.failed, "\n".join(r.describe_failure() for r in suite.failed)
    # The bot given with --bot still calls the server's base.
    calls = app[DUMMY].runtime._calls  # what ${API_BASE} each bot gets
    leads = app[DUMMY].runtime.bot("leads")
    assert calls.env(leads)["API_BASE"] == SERVER_BASE
