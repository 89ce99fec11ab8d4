"""Webhooks aimed inside: a webhook URL is the one place a key holder makes
the server send requests where they like, so it must not reach the
server's own network — loopback, private networks, link-local and cloud
metadata addresses, the database's port — however the address is spelled,
nor get there later through a name that resolves inside.

The address checks are tested as data (no connection is ever made to a
non-loopback address); the API and the delivery worker are tested on a
server of their own whose setting is off (the session's server allows
loopback, for the receivers the other webhook tests use). The check at
delivery time is tested with ``localhost``: a name, so it is the resolver's
check that stops it, and no request reaches the loopback receiver.

Last, what a receiver answers stays with admins: viewers and editors see
the status of each attempt, not the body.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from yarl import URL

from plugin.core import constants as c
from plugin.core.errors import InvalidRequest
from plugin.core.settings import Settings
from plugin.crm import webhooks
from plugin.crm.addresses import check_url
from plugin.crm.resolver import PublicResolver, RefusedAddress
from plugin.db.database import Database
from plugin.http.app import create_app
from tests.conftest import ADMIN_KEY, Api
from tests.integration.conftest import Receiver

MakeKey = Callable[..., Awaitable[str]]
EVENT = {"events": [{"user_id": "u", "type": "user_message", "data": {"text": "hi"}}]}
NO_PRIVATE = "AUDIENCE_WEBHOOK_ALLOW_PRIVATE=1 allows"

# (URL, why it is refused, whether AUDIENCE_WEBHOOK_ALLOW_PRIVATE lets it through)
HOSTILE = [
    ("http://169.254.169.254/latest/meta-data/", "metadata", False),
    ("http://[fd00:ec2::254]/latest/meta-data/", "metadata", False),
    ("http://metadata.google.internal/computeMetadata/v1/", "metadata", False),
    ("http://[64:ff9b::a9fe:a9fe]/", "metadata", False),  # NAT64 of 169.254.169.254
    ("http://169.254.1.1/", "link-local", False),
    ("http://[fe80::1]/", "link-local", False),
    ("http://10.0.0.1/", "private", True),
    ("http://172.16.0.1/", "private", True),
    ("http://192.168.1.1:8080/hook", "private", True),
    ("http://[fd00::1]/", "private", True),
    ("http://127.0.0.1/", "loopback", True),
    ("http://127.1/", "loopback", True),
    ("http://2130706433/", "loopback", True),
    ("http://0x7f.1/", "loopback", True),
    ("http://0x7f000001/", "loopback", True),
    ("http://0177.0.0.1/", "loopback", True),
    ("http://127.0.0.1.:8080/", "loopback", True),
    ("http://[::1]/", "loopback", True),
    ("http://[::ffff:127.0.0.1]/", "loopback", True),
    ("http://[::ffff:7f00:1]/", "loopback", True),
    ("http://[::127.0.0.1]/", "loopback", True),
    ("http://[2002:7f00:1::]/", "loopback", True),  # 6to4 of 127.0.0.1
    ("http://localhost:8080/", "local name", True),
    ("http://LOCALHOST./", "local name", True),
    ("http://api.localhost/", "local name", True),
    ("http://crm.internal/", "local name", True),
    ("http://mongo:27017/", "without a domain", True),
    ("http://0.0.0.0/", "unspecified", False),
    ("http://0/", "unspecified", False),
    ("http://[::]/", "unspecified", False),
    ("http://224.0.0.1/", "multicast", False),
    ("http://[ff02::1]/", "multicast", False),
    ("http://100.64.0.1/", "reserved", False),
    ("http://198.18.0.1/", "reserved", False),
    ("http://240.0.0.1/", "reserved", False),
    ("http://255.255.255.255/", "reserved", False),
]
PUBLIC = ["https://crm.example.com/in", "http://8.8.8.8/hook", "https://[2606:4700::1111]/",
          "https://hooks.example.org:8443/a?b=c"]


@pytest.mark.parametrize(("url", "why", "lifted"), HOSTILE)
def test_a_hostile_url_is_refused_however_it_is_written(url: str, why: str,
                                                        lifted: bool) -> None:
    with pytest.raises(InvalidRequest) as refused:
        check_url(URL(url))
    assert refused.value.details["field"] == "url"
    assert why in refused.value.message
    assert (NO_PRIVATE in refused.value.message) is lifted
    if lifted:
        check_url(URL(url), allow_private=True)
    else:
        with pytest.raises(InvalidRequest):
            check_url(URL(url), allow_private=True)


@pytest.mark.parametrize("url", PUBLIC)
def test_a_public_url_is_accepted(url: str) -> None:
    check_url(URL(url))


async def test_the_resolver_refuses_a_name_that_resolves_inside() -> None:
    strict, lax = PublicResolver(), PublicResolver(allow_private=True)
    try:
        with pytest.raises(RefusedAddress, match=r"localhost resolves to .*loopback"):
            await strict.resolve("localhost", 80)
        assert {a["host"] for a in await lax.resolve("localhost", 80)} <= {"127.0.0.1", "::1"}
    finally:
        await strict.close()
        await lax.close()


# -- a server whose setting is off -----------------------------------------------------------


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def strict_server(db: Database) -> AsyncIterator[tuple[Api, Database]]:
    """A server of its own, on a database of its own (its delivery worker must
    not meet the other tests' loopback webhooks), that allows no private address."""
    own = Database(db.client, f"{db.mongo.name}_ssrf")
    await own.ensure_indexes()
    settings = Settings(admin_key=ADMIN_KEY, webhook_max_attempts=4, webhook_backoff_s=0.05,
                        webhook_backoff_max_s=0.2, webhook_timeout_s=1.0)
    assert settings.webhook_allow_private is False
    runner = web.AppRunner(create_app(settings, own))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    async with aiohttp.ClientSession() as session:
        yield Api(f"http://{host}:{port}", session), own
    await runner.cleanup()
    await db.client.drop_database(f"{db.mongo.name}_ssrf")


async def test_the_api_refuses_hostile_urls_on_create_and_update(
        strict_server: tuple[Api, Database], bot_id: str, mongo_uri: str) -> None:
    api, own = strict_server
    database_port = urlsplit(mongo_uri.replace("mongodb://", "http://", 1)).port
    hostile = [url for url, _, _ in HOSTILE] + [f"http://127.0.0.1:{database_port}/"]
    for url in hostile:
        status, error = await api.post(f"/v1/bots/{bot_id}/webhooks",
                                       {"url": url, "events": ["property.set"]})
        assert status == 400, (url, error)
        assert error["details"]["field"] == "url" and "public addresses only" in error["message"]
    assert await own[c.WEBHOOKS].count_documents({"bot_id": bot_id}) == 0

    status, hook = await api.post(f"/v1/bots/{bot_id}/webhooks",
                                  {"url": PUBLIC[0], "events": ["property.set"]})
    assert status == 201, hook
    path = f"/v1/bots/{bot_id}/webhooks/{hook['id']}"
    for url in hostile:
        status, error = await api.request("PATCH", path, {"url": url})
        assert status == 400 and error["details"]["field"] == "url", (url, error)
    assert (await api.get(path))[1]["url"] == PUBLIC[0]


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
async def test_a_delivery_to_an_inside_address_is_dead_lettered_unsent(
        strict_server: tuple[Api, Database], bot_id: str, receiver: Receiver,
        host: str) -> None:
    """The URL was allowed when it was configured (a name then resolving outside,
    or a server then allowing private addresses); it is checked again when sent."""
    api, own = strict_server
    port = URL(receiver.url).port
    hook = await webhooks.create_webhook(own, bot_id, {
        "url": f"http://{host}:{port}/hook", "events": ["message.received"]},
        allow_private=True)
    status, body = await api.post(f"/v1/bots/{bot_id}/events", EVENT)
    assert status == 202, body
    delivery = await _settled(api, bot_id, hook["id"])
    assert (delivery["state"], delivery["attempts"]) == ("dead", 1), delivery
    said = ("localhost resolves to" if host == "localhost" else "127.0.0.1 is a loopback")
    assert said in delivery["last_error"] and "public addresses only" in delivery["last_error"]
    assert delivery["last_error"].startswith("refused: ")
    assert receiver.requests == []


async def _settled(api: Api, bot_id: str, hook_id: str) -> dict[str, Any]:
    async def wait() -> dict[str, Any]:
        while True:
            status, page = await api.get(f"/v1/bots/{bot_id}/webhooks/{hook_id}/deliveries")
            assert status == 200, page
            found = page["deliveries"]
            if found and found[0]["state"] != "pending":
                return dict(found[0])
            await asyncio.sleep(0.05)
    return await asyncio.wait_for(wait(), 30)


# -- what viewers see of a receiver's answer -------------------------------------------------


async def test_viewers_and_editors_see_the_status_admins_also_the_answer(
        api: Api, bot_id: str, receiver: Receiver, make_key: MakeKey) -> None:
    receiver.answer = lambda n, got: 403  # it answers "receiver says no"
    status, hook = await api.post(f"/v1/bots/{bot_id}/webhooks",
                                  {"url": receiver.url, "events": ["message.received"]})
    assert status == 201, hook
    status, body = await api.post(f"/v1/bots/{bot_id}/events", EVENT)
    assert status == 202, body
    admin = await _settled(api, bot_id, hook["id"])
    assert admin["state"] == "dead"
    assert [h["error"] for h in admin["history"]] == ["HTTP 403: receiver says no"] * 4
    for role in ("viewer", "editor"):
        other = api.as_key(await make_key(role, bot_id))
        shown = await _settled(other, bot_id, hook["id"])
        assert "receiver says no" not in json.dumps(shown), role
        assert [h["error"] for h in shown["history"]] == ["HTTP 403"] * 4
        assert [h["status"] for h in shown["history"]] == [403] * 4
        assert shown["last_error"] == "gave up after 4 attempts; the last: HTTP 403"


def test_a_log_written_before_answers_were_kept_apart_shows_viewers_the_status() -> None:
    secret = "INTERNAL-SECRET: db=10.0.0.5 user=root"
    old = {"_id": "d1", "event": "message.received", "user_id": "u", "state": "dead",
           "attempts": 1, "occurred_at": None, "created_at": None, "next_attempt_at": None,
           "data": {}, "reason": f"gave up after 1 attempts; the last: HTTP 403: {secret}",
           "history": [{"status": 403, "error": f"HTTP 403: {secret}", "ok": False}]}
    shown = webhooks.shown_delivery(old)
    assert secret not in json.dumps(shown)
    assert shown["history"][0]["error"] == "HTTP 403"
    assert shown["last_error"] == "gave up after 1 attempts; the last: HTTP 403"

