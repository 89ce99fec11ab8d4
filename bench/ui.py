"""The web tab against the JSON API, measured side by side in one run:

* the first page of a filtered audience rendered as the Audience tab's page
  (the filter builder, the table, the total) ÷ the JSON API's query for the
  same page and filter; and the same page with what it asks for once shown,
  each condition's own count (one more count per condition);
* a profile with 2,000 timeline events rendered as its page (details, the
  first 50 events as bubbles) ÷ the JSON API's profile and first timeline
  page for it.

Goal: both ratios ≤ 1.3.

    .venv/bin/python bench/ui.py [--profiles 100000] [--events 2000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from pymongo import AsyncMongoClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.datasets import conversation_events, profile_documents
from bench.results import save
from bench.timing import median_seconds
from plugin.audience.property_store import PropertyStore
from plugin.capture.store import CaptureStore
from plugin.core import constants
from plugin.core.properties import custom_property
from plugin.core.settings import Settings
from plugin.db.database import Database
from plugin.db.embedded import EmbeddedServer
from plugin.http.app import create_app
from plugin.web import install_web

BOT = "bench"
KEY = "bench-admin-key"
PAGE = 25
FILTER = {"conditions": [{"property": "email", "operator": "is_set"},
                         {"property": "channel", "operator": "equals", "value": "whatsapp"}],
          "expression": "1 and 2"}
PAGE_QUERY = ("p1=email&o1=is_set&p2=channel&o2=equals&v2=whatsapp&expr=1+and+2"
              f"&limit={PAGE}")
CHATTY = "user-0"


async def load(db: Database, profiles: int, events: int) -> float:
    started = time.perf_counter()
    docs = profile_documents(profiles, BOT)
    for i in range(0, len(docs), 5000):
        await db.mongo[constants.PROFILES].insert_many(docs[i:i + 5000], ordered=False)
        print(f"\rloading profiles {min(i + 5000, profiles):>7,}/{profiles:,}", end="",
              flush=True)
    print()
    for name, type_ in (("email", "email"), ("phone", "phone"), ("age", "number")):
        await PropertyStore.of(db).define_property(BOT, custom_property(name, type_))
    timeline = conversation_events(events, users=1, bot_id=BOT)  # all of them user-0's
    for i in range(0, len(timeline), 500):
        await CaptureStore.of(db).ingest(timeline[i:i + 500])
    return time.perf_counter() - started


async def signed_in(base: str) -> aiohttp.ClientSession:
    """A browser-like client: the sign-in form's token, then a session cookie."""
    session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with session.get(base + "/") as response:
        token = re.search(r'name="signin_token" value="([^"]+)"', await response.text())
    assert token is not None
    async with session.post(base + "/", data={"signin_token": token[1], "api_key": KEY},
                            allow_redirects=False) as response:
        assert response.status == 303, await response.text()
    return session


async def main(profiles: int, events: int, repeat: int) -> None:
    server = await EmbeddedServer.start()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(server.uri, tz_aware=True)
    runner = None
    try:
        db = await Database.from_client(client, "bench_ui")
        load_s = await load(db, profiles, events)
        app = create_app(Settings(admin_key=KEY), db)
        install_web(app)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        base = f"http://{host}:{port}"
        browser = await signed_in(base)
        api = aiohttp.ClientSession(headers={"Authorization": f"Bearer {KEY}"})
        try:
            async def ui_list() -> None:
                async with browser.get(f"{base}/bots/{BOT}/audience?{PAGE_QUERY}") as response:
                    assert response.status == 200, await response.text()
                    await response.read()

            async def api_list() -> None:
                async with api.post(f"{base}/v1/bots/{BOT}/audience/query",
                                    json={"filter": FILTER, "limit": PAGE}) as response:
                    assert response.status == 200, await response.text()
                    await response.read()

            async def ui_list_and_counts() -> None:
                await ui_list()  # then what the page asks for once shown:
                async with browser.get(f"{base}/bots/{BOT}/audience/matches?{PAGE_QUERY}"
                                       ) as response:
                    assert response.status == 200, await response.text()
                    await response.read()

            async def ui_profile() -> None:
                async with browser.get(f"{base}/bots/{BOT}/users/{CHATTY}") as response:
                    assert response.status == 200, await response.text()
                    await response.read()

            async def api_profile() -> None:
                for path in (f"/v1/bots/{BOT}/users/{CHATTY}",
                             f"/v1/bots/{BOT}/users/{CHATTY}/timeline?limit=50"):
                    async with api.get(base + path) as response:
                        assert response.status == 200, await response.text()
                        await response.read()

            results: dict[str, Any] = {"profiles": profiles, "events": events,
                                       "load_s": round(load_s, 1)}
            print(f"\n{'what':34} {'web tab':>9} {'JSON API':>9} {'ratio':>6}")
            for name, ui, json_api in (
                    ("filtered audience, first page", ui_list, api_list),
                    ("  and each condition's count", ui_list_and_counts, api_list),
                    (f"profile with {events:,} events", ui_profile, api_profile)):
                ui_s = await median_seconds(ui, repeat, warm=True)
                api_s = await median_seconds(json_api, repeat, warm=True)
                results[name] = {"web_s": ui_s, "api_s": api_s, "ratio": ui_s / api_s}
                print(f"{name:34} {ui_s * 1e3:>7.1f}ms {api_s * 1e3:>7.1f}ms "
                      f"{ui_s / api_s:>6.2f}")
        finally:
            await browser.close()
            await api.close()
        print(f"\n(goal: ratio ≤ 1.3; results in {save('ui', results)})")
    finally:
        if runner is not None:
            await runner.cleanup()
        await client.drop_database("bench_ui")
        await client.close()
        await server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.profiles, args.events, args.repeat))
