"""Roles as data: every route of the server (the dummy channel's included)
with the least role it needs, checked with a key of each role; and API keys
listed and revoked (by the API and the command line), a revoked key refused
at once.

The model: a *viewer* reads; an *editor* changes the audience's data —
ingests events, manages segments, runs bulk actions, imports, exports,
connects the CRM (webhooks), takes conversations over, talks on the dummy
channel; an *admin* configures — bot definitions, properties, API keys — and
sees what webhook receivers answered. A key of a role below the one a
route needs gets 403 before anything is read; one at or above it never gets
401 or 403 (nor a 5xx) whatever else is wrong with the request.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web

from plugin.access.keys import Role, create_key, hash_key, key_id
from plugin.core import constants as c
from plugin.core.events import utc_now
from plugin.db.database import Database
from plugin.http.endpoint import endpoint_of
from tests.conftest import Api
from tests.integration.test_cli import _run, running_server

MakeKey = Callable[..., Awaitable[str]]
OPEN = None
V, E, A = Role.VIEWER, Role.EDITOR, Role.ADMIN
BOT = "roles-bot"

# (method, route) -> the least role it needs (OPEN: no key at all).
ROLE_TABLE: dict[tuple[str, str], Role | None] = {
    ("GET", "/health"): OPEN,
    ("GET", "/openapi.json"): OPEN,
    ("GET", "/v1/exports/{job_id}/download"): OPEN,  # the signed link is the credential
    # viewer: reads
    ("GET", "/v1/bots"): V,
    ("GET", "/v1/bots/{bot_id}/users/{user_id}"): V,
    ("GET", "/v1/bots/{bot_id}/users/{user_id}/timeline"): V,
    ("GET", "/v1/bots/{bot_id}/users"): V,
    ("POST", "/v1/bots/{bot_id}/audience/query"): V,
    ("POST", "/v1/bots/{bot_id}/audience/count"): V,
    ("GET", "/v1/bots/{bot_id}/properties"): V,
    ("GET", "/v1/bots/{bot_id}/segments"): V,
    ("GET", "/v1/bots/{bot_id}/segments/{segment_id}"): V,
    ("POST", "/v1/bots/{bot_id}/segments/{segment_id}/query"): V,
    ("GET", "/v1/jobs/{job_id}"): V,
    ("GET", "/v1/bots/{bot_id}/webhooks"): V,
    ("GET", "/v1/bots/{bot_id}/webhooks/{webhook_id}"): V,
    ("GET", "/v1/bots/{bot_id}/webhooks/{webhook_id}/deliveries"): V,  # statuses, not answers
    ("GET", "/v1/channels/dummy/{bot_id}/ws"): V,
    # editor: changes the audience's data
    ("POST", "/v1/bots/{bot_id}/events"): E,
    ("POST", "/v1/bots/{bot_id}/segments"): E,
    ("PATCH", "/v1/bots/{bot_id}/segments/{segment_id}"): E,
    ("DELETE", "/v1/bots/{bot_id}/segments/{segment_id}"): E,
    ("POST", "/v1/bots/{bot_id}/segments/{segment_id}/members"): E,
    ("DELETE", "/v1/bots/{bot_id}/segments/{segment_id}/members"): E,
    ("POST", "/v1/bots/{bot_id}/broadcasts"): E,
    ("POST", "/v1/bots/{bot_id}/workflows/run"): E,
    ("POST", "/v1/bots/{bot_id}/bulk-update"): E,
    ("POST", "/v1/jobs/{job_id}/cancel"): E,
    ("POST", "/v1/bots/{bot_id}/exports"): E,
    ("GET", "/v1/exports/{job_id}"): E,  # it hands out the download link
    ("POST", "/v1/bots/{bot_id}/imports"): E,
    ("GET", "/v1/imports/{import_id}"): E,
    ("GET", "/v1/imports/{import_id}/rejections.csv"): E,
    ("POST", "/v1/bots/{bot_id}/users/{user_id}/takeover"): E,
    ("POST", "/v1/bots/{bot_id}/users/{user_id}/messages"): E,
    ("POST", "/v1/bots/{bot_id}/users/{user_id}/assign-to-bot"): E,
    ("POST", "/v1/channels/dummy/{bot_id}/messages"): E,
    ("POST", "/v1/channels/dummy/{bot_id}/start"): E,
    # admin: configures
    ("PUT", "/v1/bots/{bot_id}/properties"): A,
    ("PUT", "/v1/bots/{bot_id}/definition"): A,
    ("POST", "/v1/bots/{bot_id}/webhooks"): E,
    ("PATCH", "/v1/bots/{bot_id}/webhooks/{webhook_id}"): E,
    ("DELETE", "/v1/bots/{bot_id}/webhooks/{webhook_id}"): E,
    ("POST", "/v1/bots/{bot_id}/webhooks/{webhook_id}/deliveries/{delivery_id}/replay"): E,
    ("POST", "/v1/bots/{bot_id}/webhooks/{webhook_id}/replay"): E,
    ("GET", "/v1/keys"): A,
    ("DELETE", "/v1/keys/{key_id}"): A,
}
# What the other path parameters are: ids of nothing (a role check comes first).
FILLERS = {"bot_id": BOT, "user_id": "u1", "segment_id": "no-segment", "job_id": "no-job",
           "import_id": "no-import", "webhook_id": "no-webhook", "delivery_id": "no-delivery",
           "key_id": "0" * 16}


def concrete(route: str) -> str:
    return route.format(**FILLERS)


def is_api(path: str) -> bool:
    """The JSON API's routes; the web tab's pages (plugin/web) sign in with a session."""
    return path.startswith("/v1/") or path in ("/health", "/openapi.json")


def test_the_table_covers_every_route(app_server: tuple[web.Application, str]) -> None:
    app = app_server[0]
    routes = {(r.method, r.resource.canonical): endpoint_of(r.handler)
              for r in app.router.routes()
              if r.method != "HEAD" and r.resource is not None and is_api(r.resource.canonical)}
    assert set(routes) == set(ROLE_TABLE)
    for route, meta in routes.items():
        assert meta is not None and meta.role == ROLE_TABLE[route], route


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def role_keys(db: Database) -> dict[Role, str]:
    return {role: await create_key(db, role, [BOT], label=f"roles {role}") for role in Role}


@pytest.mark.parametrize(("method", "route"), sorted(ROLE_TABLE, key=lambda r: (r[1], r[0])))
async def test_each_route_asks_for_its_role(api: Api, role_keys: dict[Role, str], method: str,
                                            route: str) -> None:
    await api.post(f"/v1/bots/{BOT}/events", {"events": [
        {"user_id": "u1", "type": "user_message", "data": {"text": "hi"}}]})  # a known bot
    needed = ROLE_TABLE[(method, route)]
    path = concrete(route)
    if needed is OPEN:
        status, body = await api.as_key(None).request(method, path)
        assert status not in (401, 500), body
        return
    for role, key in role_keys.items():
        status, body = await api.as_key(key).request(method, path)
        if role.rank >= needed.rank:
            assert status not in (401, 403) and status < 500, (role, status, body)
        else:
            assert status == 403, (role, status, body)
            assert body["message"] == f"this needs the {needed} role; the key has {role}"


# -- keys: list, revoke, last use ------------------------------------------------------------


async def test_keys_are_listed_without_their_secret_and_a_revoked_key_is_refused_at_once(
        api: Api, bot_id: str, make_key: MakeKey, db: Database) -> None:
    viewer = await create_key(db, Role.VIEWER, [bot_id], label="dashboard")
    as_viewer = api.as_key(viewer)
    assert (await as_viewer.get("/v1/bots"))[0] == 200

    scoped_admin = api.as_key(await make_key(Role.ADMIN, bot_id))
    status, listed = await scoped_admin.get("/v1/keys")
    assert status == 200, listed
    ours = [k for k in listed["keys"] if k["id"] == key_id(hash_key(viewer))]
    assert len(ours) == 1
    shown = ours[0]
    assert (shown["role"], shown["bots"], shown["label"]) == ("viewer", [bot_id], "dashboard")
    assert shown["created_at"] and shown["last_used_at"] and shown["revoked_at"] is None
    assert shown["prefix"] == viewer[:10]
    assert viewer not in json.dumps(listed) and hash_key(viewer) not in json.dumps(listed)
    # A key for bots the caller does not cover all of is neither listed nor revocable.
    assert all(set(k["bots"]) <= {bot_id} for k in listed["keys"])
    other_admin = api.as_key(await make_key(Role.ADMIN, bot_id + "-other"))
    _, theirs = await other_admin.get("/v1/keys")
    assert shown["id"] not in {k["id"] for k in theirs["keys"]}
    assert (await other_admin.request("DELETE", f"/v1/keys/{shown['id']}"))[0] == 404

    editor = api.as_key(await make_key(Role.EDITOR, bot_id))
    assert (await editor.request("DELETE", f"/v1/keys/{shown['id']}"))[0] == 403

    status, revoked = await scoped_admin.request("DELETE", f"/v1/keys/{shown['id']}")
    assert status == 200 and revoked["revoked_at"] and revoked["id"] == shown["id"], revoked
    status, body = await as_viewer.get("/v1/bots")
    assert (status, body["message"]) == (401, "unknown or revoked API key")
    again = await scoped_admin.request("DELETE", f"/v1/keys/{shown['id']}")
    assert again == (200, revoked)  # nothing more to do
    for unknown in ("f" * 16, "nope", "0" * 64):
        assert (await api.request("DELETE", f"/v1/keys/{unknown}"))[0] == 404


async def test_the_last_use_is_written_at_most_once_a_minute(
        api: Api, bot_id: str, db: Database) -> None:
    key = await create_key(db, Role.VIEWER, [bot_id])
    stored = {"_id": hash_key(key)}
    assert (await db[c.API_KEYS].find_one(stored)).get("last_used_at") is None  # type: ignore[union-attr]
    assert (await api.as_key(key).get("/v1/bots"))[0] == 200
    first = (await db[c.API_KEYS].find_one(stored))["last_used_at"]  # type: ignore[index]
    assert first is not None
    assert (await api.as_key(key).get("/v1/bots"))[0] == 200
    assert (await db[c.API_KEYS].find_one(stored))["last_used_at"] == first  # type: ignore[index]
    long_ago = utc_now() - timedelta(seconds=c.KEY_USE_RECORD_S + 5)
    await db[c.API_KEYS].update_one(stored, {"$set": {"last_used_at": long_ago}})
    assert (await api.as_key(key).get("/v1/bots"))[0] == 200
    latest = (await db[c.API_KEYS].find_one(stored))["last_used_at"]  # type: ignore[index]
    assert latest > long_ago + timedelta(seconds=5)


@pytest_asyncio.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[str, str, dict[str, str]]]:
    data_dir = str(tmp_path / "data")
    env = {k: v for k, v in os.environ.items() if k not in ("MONGODB_URI", "AUDIENCE_ADMIN_KEY")}
    async with running_server(data_dir, env=env) as url:
        yield url, data_dir, env


def table(out: str) -> list[list[str]]:
    """The rows of a printed table, cells apart (a cell holds single spaces only)."""
    return [[cell.strip() for cell in line.split("  ") if cell.strip()]
            for line in out.splitlines()]


async def test_keys_from_the_command_line(served: tuple[str, str, dict[str, str]]) -> None:
    url, data_dir, env = served
    data = ("--data-dir", data_dir)
    code, key, err = await _run("keys", "create", "--role", "editor", "--bot", "b1",
                                "--label", "ops team", *data, env=env)
    assert code == 0, err
    key = key.strip()

    async def status_with_key() -> int:
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {key}"}) as http:
            async with http.get(f"{url}/v1/bots") as response:
                return response.status

    assert await status_with_key() == 200
    code, out, err = await _run("keys", "list", *data, env=env)
    assert code == 0, err
    header, row = table(out)
    assert header == ["id", "role", "bots", "label", "created", "last_used", "revoked"]
    assert row[:4] == [key_id(hash_key(key)), "editor", "b1", "ops team"]
    assert row[5] != "-" and row[6] == "-"  # used once, not revoked
    assert key not in out and hash_key(key) not in out

    code, out, err = await _run("keys", "revoke", row[0], *data, env=env)
    assert (code, out.strip()) == (0, f"revoked key {row[0]} (editor of b1)"), err
    assert await status_with_key() == 401
    code, out, err = await _run("keys", "list", *data, env=env)
    assert code == 0, err
    assert table(out)[1][6] != "-"
    code, _, err = await _run("keys", "revoke", "0123456789abcdef", *data, env=env)
    assert (code, err) == (2, "audience: no API key '0123456789abcdef'\n")
