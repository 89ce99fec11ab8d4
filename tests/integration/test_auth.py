"""Keys, roles and bot isolation."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from plugin.access.keys import hash_key
from plugin.core import constants
from plugin.db.database import Database
from tests.conftest import Api

MakeKey = Callable[..., Awaitable[str]]
EVENT = {"events": [{"user_id": "u", "type": "user_message", "data": {"text": "hi"}}]}


async def test_missing_or_malformed_authorization_is_401(api: Api, bot_id: str) -> None:
    path = f"/v1/bots/{bot_id}/users/u"
    status, body = await api.as_key(None).get(path)
    assert status == 401 and "missing Authorization header" in body["message"]
    status, body = await api.as_key(None).get(path, headers={"Authorization": "Basic abc"})
    assert status == 401 and "Bearer" in body["message"]
    status, body = await api.as_key("aud_not-a-real-key").get(path)
    assert status == 401 and body["message"] == "unknown or revoked API key"


async def test_key_for_one_bot_gets_404_on_another(
    api: Api, bot_id: str, make_key: MakeKey
) -> None:
    other_bot = bot_id + "-other"
    await api.post(f"/v1/bots/{other_bot}/events", EVENT)
    key = await make_key("editor", bot_id)
    scoped = api.as_key(key)
    assert (await scoped.post(f"/v1/bots/{bot_id}/events", EVENT))[0] == 202
    assert (await scoped.get(f"/v1/bots/{bot_id}/users/u"))[0] == 200
    status, body = await scoped.get(f"/v1/bots/{other_bot}/users/u")
    assert status == 404 and body["message"] == f"bot {other_bot!r} not found"
    assert (await scoped.post(f"/v1/bots/{other_bot}/events", EVENT))[0] == 404


async def test_viewer_reads_but_cannot_ingest(api: Api, bot_id: str, make_key: MakeKey) -> None:
    await api.post(f"/v1/bots/{bot_id}/events", EVENT)
    viewer = api.as_key(await make_key("viewer", bot_id))
    assert (await viewer.get(f"/v1/bots/{bot_id}/users/u"))[0] == 200
    assert (await viewer.get(f"/v1/bots/{bot_id}/users/u/timeline"))[0] == 200
    status, body = await viewer.post(f"/v1/bots/{bot_id}/events", EVENT)
    assert status == 403
    assert body["message"] == "this needs the editor role; the key has viewer"
    _, profile = await api.get(f"/v1/bots/{bot_id}/users/u")
    assert profile["message_count"] == 1


async def test_all_bots_key_and_env_admin_key(api: Api, bot_id: str, make_key: MakeKey) -> None:
    wide = api.as_key(await make_key("admin", "*"))
    assert (await wide.post(f"/v1/bots/{bot_id}/events", EVENT))[0] == 202
    assert (await api.post(f"/v1/bots/{bot_id}-2/events", EVENT))[0] == 202  # AUDIENCE_ADMIN_KEY


async def test_keys_are_stored_hashed(db: Database, make_key: MakeKey, bot_id: str) -> None:
    key = await make_key("viewer", bot_id)
    stored = await db[constants.API_KEYS].find_one({"_id": hash_key(key)})
    assert stored is not None and stored["role"] == "viewer" and stored["bots"] == [bot_id]
    assert key not in str(stored)


async def test_health_and_openapi_need_no_key(api: Api) -> None:
    assert await api.as_key(None).get("/health") == (200, {"status": "ok", "db": "ok"})
    assert (await api.as_key(None).get("/openapi.json"))[0] == 200
