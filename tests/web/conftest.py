"""The web tab in a real browser: Debian's Chromium driven by Playwright.

One browser for the session (pytest-playwright-asyncio's ``browser``, launched
with the system Chromium: Playwright cannot download its own here) and one
app server with the web tab for every web test, on the session's event loop
beside the API server of :mod:`tests.conftest`. Each test gets a fresh
browser context (``page``), so cookies never leak between tests.

Without Chromium the web tests skip on a developer's machine and fail in CI
(``CI`` set): ``make test`` installs it (see the Makefile).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Page, expect

from plugin.access.keys import create_key
from plugin.db.database import Database
from tests.conftest import ADMIN_KEY

WEB_ADMIN_KEY = ADMIN_KEY  # the session server's (tests/conftest.py)
SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"
# axe-core findings at these levels fail a test.
BLOCKING_IMPACTS = ("serious", "critical")

# A busy CI machine runs two to three times slower than a developer's: wait up
# to 15 s for what a page should show (Playwright's default is 5 s). A page
# that shows something else still fails, only later.
expect.set_options(timeout=15_000)


def _chromium() -> str | None:
    return os.environ.get("AUDIENCE_CHROMIUM") or shutil.which("chromium") or shutil.which(
        "chromium-browser")


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    path = _chromium()
    if path is None:
        why = "Chromium is not installed (apt-get install chromium; make test does it)"
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)
    return {**browser_type_launch_args, "executable_path": path}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_context_args, "viewport": {"width": 1280, "height": 860},
            "locale": "en-GB", "timezone_id": "UTC"}


@pytest.fixture(scope="session")
def base_url(web_server: WebServer) -> str:
    """Overrides pytest-base-url's (whose plugin-method fixture pytest deprecates)."""
    return web_server.url


@dataclass(frozen=True)
class WebServer:
    app: web.Application
    url: str
    db: Database


@pytest.fixture(scope="session")
def web_server(app_server: tuple[web.Application, str], db: Database) -> WebServer:
    """The session's one ``audience serve`` app (tests/conftest.py), which
    carries the web tab as ``serve`` does. One app, not a second one: a second
    server's job and delivery workers would take the API tests' jobs and
    webhooks over the same database."""
    app, url = app_server
    return WebServer(app, url, db)


async def sign_in(page: Page, server: WebServer, key: str = WEB_ADMIN_KEY) -> None:
    await page.goto(server.url + "/")
    await page.get_by_label("API key").fill(key)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("button", name="Sign out")).to_be_visible()


async def settled(page: Page) -> None:
    """Wait until htmx has no request in flight and nothing swapping or settling."""
    await expect(page.locator(
        ".htmx-request, .htmx-swapping, .htmx-settling, .htmx-added")).to_have_count(0)


@contextlib.asynccontextmanager
async def rebuilding(page: Page) -> AsyncIterator[None]:
    """Around a change of the builder's structure (a property, an operator): wait
    for the builder to come back, which it does once the user pauses."""
    async with page.expect_response(
            lambda r: r.request.headers.get("hx-target") == "filters"):
        yield
    await settled(page)


async def new_key(db: Database, role: str, *bots: str) -> str:
    return await create_key(db, role, bots)


async def check_accessibility(page: Page) -> None:
    """axe-core on the page as it is now: no serious or critical violation."""
    results = await Axe().run(page)
    blocking = [(v["id"], v["impact"], v["help"], [n["target"] for n in v["nodes"]][:3])
                for v in results.response["violations"] if v["impact"] in BLOCKING_IMPACTS]
    assert blocking == []


async def screenshot(page: Page, name: str) -> None:
    """Save the page as build/screenshots/NAME.png (the README's come from here)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
