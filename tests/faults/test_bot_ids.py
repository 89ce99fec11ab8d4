"""Bot ids that are no bot ids, and bot ids nobody has heard of.

One rule (:mod:`plugin.core.bot_ids`) for every door a bot id comes through:
every API route with ``{bot_id}`` (checked once, in the auth middleware), the
CLI's ``--bot`` and key creation, where ``*`` alone still means every bot. A
refused id is a 400 naming the rule and changes nothing.

A well-formed id of a bot with no users and no properties (a typo: ``lead``
for ``leads``) is a 404 that says so on the routes that read a bot's data,
not an answer about an empty bot; ingestion, imports and defining
properties still bring a new bot into being.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp import web

from plugin.access.keys import Role, create_key
from plugin.core import constants as c
from plugin.core.bot_ids import BOT_ID_PATTERN, check_bot_id, is_bot_id
from plugin.core.errors import InvalidRequest
from plugin.db.database import Database
from plugin.http.openapi import build_document
from runtime.loader import bot_schema
from tests.conftest import Api
from tests.integration.test_cli import _run

# (as sent in the URL path, what the route sees)
HOSTILE_IDS = {
    "the all-bots marker": "*",
    "an operator": quote("$ne"),
    "a NUL": "%00",
    "5,000 characters": "b" * 5000,
    "an option": "-x",
    "a parent folder": "..x",
    "a space": "lead%20bot",
    "not ASCII": quote("léad"),
    "a newline at the end": "lead%0A",
    "65 characters": "b" * 65,
}
EMAIL_SET = {"conditions": [{"property": "email", "operator": "is_set"}]}


def routes_with_a_bot(app: web.Application) -> list[tuple[str, str]]:
    """(method, path template) of every route that names a bot."""
    found = []
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("formatter", info.get("path", ""))
        if "{bot_id}" in path and route.method != "HEAD":
            found.append((route.method, path))
    return sorted(set(found))


def with_bot(path: str, bot_id: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: bot_id if m.group(1) == "bot_id" else "x", path)


@pytest.mark.parametrize("sent", list(HOSTILE_IDS.values()), ids=list(HOSTILE_IDS))
async def test_every_route_refuses_a_bot_id_that_breaks_the_rule(
        api: Api, app_server: tuple[web.Application, str], db: Database, sent: str) -> None:
    routes = routes_with_a_bot(app_server[0])
    assert len(routes) >= 30
    events_before = await db[c.EVENTS].count_documents({})
    for method, template in routes:
        status, body = await api.request(method, with_bot(template, sent), {})
        assert status == 400, (method, template, status, body)
        assert "is not a valid bot id" in body["message"], body
        assert "1 to 64 letters, digits" in body["message"]
        assert body["details"] == {"field": "bot_id"}
        assert len(body["message"]) < 300  # 5,000 characters are not echoed back
    assert await db[c.EVENTS].count_documents({}) == events_before


async def test_a_key_for_one_bot_still_answers_400_for_a_malformed_id(
        api: Api, db: Database, bot_id: str) -> None:
    key = await create_key(db, Role.VIEWER, [bot_id])
    status, body = await api.as_key(key).post("/v1/bots/*/audience/count", {})
    assert status == 400 and "is not a valid bot id" in body["message"]
    status, _ = await api.as_key(None).post("/v1/bots/*/audience/count", {})
    assert status == 401  # no key: nothing else is said


def test_the_rule_is_the_bot_files_rule() -> None:
    assert bot_schema()["properties"]["bot"]["properties"]["id"]["pattern"] == BOT_ID_PATTERN
    assert is_bot_id("leads") and is_bot_id("shop.eu-1_a") and is_bot_id("b" * 64)
    assert not any(is_bot_id(v) for v in ("", "*", "$ne", "a\x00", "b" * 65, "lead\n", "-x",
                                          ".x", "léad", None, 7))


def test_the_openapi_document_states_the_rule(app_server: tuple[web.Application, str]) -> None:
    document = build_document(app_server[0])
    for path, operations in document["paths"].items():
        if "{bot_id}" not in path:
            continue
        for operation in operations.values():
            bot = next(p for p in operation["parameters"] if p["name"] == "bot_id")
            assert bot["schema"]["pattern"] == BOT_ID_PATTERN, path
            assert "400" in operation["responses"], path


async def test_key_creation_takes_bot_ids_or_the_all_bots_marker(db: Database) -> None:
    for bad in ("$ne", "a\x00b", "b" * 5000, "* "):
        with pytest.raises(InvalidRequest, match="is not a valid bot id"):
            await create_key(db, Role.VIEWER, ["leads", bad])
    assert (await create_key(db, Role.VIEWER, ["*"])).startswith("aud_")
    assert (await create_key(db, Role.EDITOR, ["leads", "shop.eu"])).startswith("aud_")
    with pytest.raises(InvalidRequest):
        check_bot_id("*")


@pytest.mark.parametrize("args", [
    ("query", "--bot", "*"),
    ("query", "--bot", "$ne"),
    ("export", "--bot", "b" * 5000, "-o", "out.csv"),
    ("segments", "list", "--bot", "-"),
    ("webhooks", "list", "--bot", "lead bot"),
    ("keys", "create", "--role", "viewer", "--bot", "$ne"),
], ids=["all-bots marker", "operator", "5,000 characters", "dash", "space", "key"])
async def test_the_cli_refuses_a_bot_id_that_breaks_the_rule(args: tuple[str, ...],
                                                             tmp_path: Any) -> None:
    # No database in the environment: the id is refused before one is needed.
    code, _, err = await _run(*args, "--data-dir", str(tmp_path / "data"), cwd=tmp_path)
    assert code == 2, err
    assert re.fullmatch(r"audience: [^\n]+\n", err), err
    assert "is not a valid bot id" in err and len(err) < 400
    assert not (tmp_path / "data").exists()


# --- a well-formed id of a bot nobody has heard of ---------------------------

READING_ROUTES = [
    ("POST", "/audience/count", {"filter": EMAIL_SET}),
    ("POST", "/audience/query", {"filter": EMAIL_SET}),
    ("GET", "/users?q=ann", None),
    ("GET", "/properties", None),
    ("GET", "/segments", None),
    ("POST", "/segments", {"name": "Leads", "kind": "dynamic", "filter": EMAIL_SET}),
    ("GET", "/segments/x", None),
    ("POST", "/segments/x/query", {}),
    ("POST", "/exports", {"filter": EMAIL_SET, "format": "csv"}),
]


@pytest.mark.parametrize(("method", "path", "body"), READING_ROUTES,
                         ids=[f"{m} {p}" for m, p, _ in READING_ROUTES])
async def test_a_mistyped_bot_is_a_404_that_says_so(api: Api, db: Database, bot_id: str,
                                                    method: str, path: str,
                                                    body: object) -> None:
    typo = bot_id + "-typo"
    status, answer = await api.request(method, f"/v1/bots/{typo}{path}", body)
    assert status == 404, answer
    assert answer["message"].startswith(f"bot {typo!r} has no users and no properties")
    assert answer["details"] == {"bot": typo}
    assert await db[c.SEGMENTS].count_documents({"bot_id": typo}) == 0
    assert await db[c.JOBS].count_documents({"bot_id": typo}) == 0


async def test_a_bot_is_known_by_its_first_event(api: Api, bot_id: str) -> None:
    count = f"/v1/bots/{bot_id}/audience/count"
    assert (await api.post(count, {}))[0] == 404
    status, _ = await api.post(f"/v1/bots/{bot_id}/events", {"events": [
        {"user_id": "ann", "type": "user_message", "data": {"text": "hi"}}]})
    assert status == 202  # ingestion creates the bot
    status, body = await api.post(count, {})
    assert (status, body) == (200, {"total": 1})
    status, body = await api.post(count, {"filter": EMAIL_SET})
    assert status == 400 and "unknown property 'email'" in body["message"]


async def test_a_bot_is_known_by_its_properties(api: Api, bot_id: str) -> None:
    status, _ = await api.request("PUT", f"/v1/bots/{bot_id}/properties",
                                  {"properties": [{"name": "email", "type": "email"}]})
    assert status == 200  # defining properties needs no known bot: it makes one
    status, body = await api.post(f"/v1/bots/{bot_id}/audience/count", {"filter": EMAIL_SET})
    assert (status, body) == (200, {"total": 0})
    status, body = await api.get(f"/v1/bots/{bot_id}/segments")
    assert (status, body) == (200, {"segments": []})


async def test_a_key_for_other_bots_gets_the_plain_404(api: Api, db: Database,
                                                       bot_id: str) -> None:
    key = await create_key(db, Role.VIEWER, [bot_id])
    status, body = await api.as_key(key).post("/v1/bots/someone-else/audience/count", {})
    assert (status, body["message"]) == (404, "bot 'someone-else' not found")
