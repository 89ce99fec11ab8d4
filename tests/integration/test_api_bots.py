"""GET /v1/bots: the bots a key may see, with names, users and last activity."""

from __future__ import annotations

from plugin import schemas
from plugin.audience.bot_store import BotStore
from plugin.capture.store import CaptureStore
from plugin.core import events as ev
from plugin.db.database import Database
from tests.conftest import Api


async def test_bots_lists_each_bot_with_users_and_last_activity(
        api: Api, db: Database, bot_id: str, make_key) -> None:  # type: ignore[no-untyped-def]
    other = bot_id + "-other"
    await CaptureStore.of(db).ingest([ev.user_message(bot_id, "ann", "hi"),
                                      ev.user_message(bot_id, "bob", "hi"),
                                      ev.user_message(other, "cy", "hi")])
    await BotStore.of(db).name_bot(bot_id, "Shop")

    status, body = await api.get("/v1/bots")
    assert status == 200, body
    schemas.check("bot.list", body, "the response")
    listed = {b["id"]: b for b in body["bots"]}
    assert listed[bot_id]["name"] == "Shop" and listed[bot_id]["users"] == 2
    assert listed[other]["name"] == other and listed[other]["users"] == 1
    assert listed[bot_id]["last_activity"] is not None

    only_other = await make_key("viewer", other)
    status, body = await api.as_key(only_other).get("/v1/bots")
    assert status == 200
    assert [b["id"] for b in body["bots"]] == [other]


async def test_bots_needs_a_key(api: Api) -> None:
    status, body = await api.as_key(None).get("/v1/bots")
    assert status == 401, body
