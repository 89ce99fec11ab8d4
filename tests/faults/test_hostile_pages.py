"""The web tab's pages against hostile or broken requests: whatever is in the
URL or the form, the answer is a page that says what is wrong (a 4xx, or the
list with an alert), never a 500, and what was typed comes back as text."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio

from plugin.capture.store import CaptureStore
from plugin.core import events as ev
from plugin.db.database import Database
from tests.web.conftest import WEB_ADMIN_KEY, WebServer

SCRIPT = "<script>alert(1)</script>"


@pytest_asyncio.fixture(scope="module")
async def bot(db: Database) -> str:
    bot_id = f"hostile-{uuid.uuid4().hex[:8]}"
    await CaptureStore.of(db).ingest([ev.user_message(bot_id, "ann", "hi"),
                                      ev.property_set(bot_id, "ann", "email", "a@x.io")])
    return bot_id


@pytest_asyncio.fixture
async def signed_in(web_server: WebServer) -> AsyncIterator[tuple[aiohttp.ClientSession, str]]:
    """A signed-in client, and the CSRF token of its session."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        async with session.get(web_server.url + "/") as response:
            token = re.search(r'name="signin_token" value="([^"]+)"', await response.text())
        assert token is not None
        async with session.post(web_server.url + "/", data={
                "signin_token": token[1], "api_key": WEB_ADMIN_KEY}) as response:
            page = await response.text()
        csrf = re.search(r'hx-headers=\'([^\']+)\'', page)
        assert csrf is not None
        yield session, json.loads(csrf[1].replace("&#34;", '"'))["X-CSRF-Token"]


@pytest.mark.parametrize(("query", "expected"), [
    ("after=not-a-cursor", "not a cursor this API returned"),
    ("before=QUFB.QUFB", "not a cursor this API returned"),
    ("sort=-nonexistent", "cannot sort by unknown property"),
    (f"p1={SCRIPT}&o1=is_set", "unknown property"),
    ("p1=email&o1=is_set&expr=" + "(" * 3000, "expression"),
    ("p1=message_count&o1=gt&v1=1e999", "number"),
    ("p1=created_at&o1=before&v1=" + "9" * 80, "date"),
    ("q=" + "x" * 500, "longer than 200 characters"),
])
async def test_a_bad_view_is_the_page_with_an_alert(
        web_server: WebServer, bot: str, signed_in: tuple[aiohttp.ClientSession, str],
        query: str, expected: str) -> None:
    session, _ = signed_in
    async with session.get(f"{web_server.url}/bots/{bot}/audience?{query}") as response:
        text = await response.text()
        assert response.status == 200, text[:500]
        assert "content-security-policy" in response.headers
    alert = re.search(r'role="alert">(.*?)</div>', text, re.S)
    assert alert is not None and expected in alert[1].replace("&#39;", "'"), text[:2000]
    assert SCRIPT not in text


@pytest.mark.parametrize(("path", "status"), [
    ("/bots/BAD%20BOT!/audience", 400),
    ("/bots/{bot}x/audience", 404),
    ("/bots/{bot}/audience?segment=nope", 404),
    ("/bots/{bot}/users/nobody", 404),
    ("/bots/{bot}/users/ann/events?before=123.zz", 400),
    ("/bots/{bot}/users/ann/events?before=999999999999999.0123456789abcdef01234567", 400),
])
async def test_a_bad_address_is_a_page_with_its_status(
        web_server: WebServer, bot: str, signed_in: tuple[aiohttp.ClientSession, str],
        path: str, status: int) -> None:
    session, _ = signed_in
    async with session.get(web_server.url + path.format(bot=bot)) as response:
        assert response.status == status, await response.text()
        assert response.content_type == "text/html"


@pytest.mark.parametrize(("path", "form", "status", "expected"), [
    ("/bots/{bot}/segments", {"name": "   "}, 400, "name"),
    ("/bots/{bot}/segments", {"name": "x" * 300}, 400, "name"),
    ("/bots/{bot}/segments/members", {"target": "__new__", "new_name": "n"}, 400,
     "select at least one user"),
    ("/bots/{bot}/segments/members", {"target": "nope", "user": "ann"}, 404, "segment"),
    ("/bots/{bot}/segments/nope/star", {"favourite": "true"}, 404, "segment"),
    ("/bots/{bot}/users/ann/takeover", {"agent": ""}, 400, "agent"),
    ("/bots/{bot}/users/ann/messages", {"text": "hi"}, 409, "start a chat"),
    ("/bots/{bot}/users/nobody/assign-to-bot", {}, 404, "nobody"),
])
async def test_a_bad_form_changes_nothing_and_says_why(
        web_server: WebServer, bot: str, signed_in: tuple[aiohttp.ClientSession, str],
        path: str, form: dict[str, str], status: int, expected: str) -> None:
    session, csrf = signed_in
    async with session.post(web_server.url + path.format(bot=bot), data={**form, "csrf": csrf},
                            allow_redirects=False) as response:
        text = await response.text()
        assert response.status == status, text[:1000]
        assert expected in text.replace("&#39;", "'")
