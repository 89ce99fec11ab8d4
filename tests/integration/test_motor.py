"""A Motor client handed in by a host runtime works like PyMongo's async client."""

from __future__ import annotations

import uuid

from motor.motor_asyncio import AsyncIOMotorClient

from plugin.audience.profile_store import ProfileStore
from plugin.capture.store import CaptureStore
from plugin.core import events as ev
from plugin.db.database import Database


async def test_store_on_a_motor_client(mongo_uri: str, bot_id: str) -> None:
    client = AsyncIOMotorClient(mongo_uri, tz_aware=True)
    db_name = f"audience_motor_{uuid.uuid4().hex[:8]}"
    try:
        db = await Database.from_client(client, db_name)
        batch = [ev.user_message(bot_id, "u", "hi", channel="web"),
                 ev.property_set(bot_id, "u", "email", "A@B.io"),
                 ev.bot_message(bot_id, "u", "hello")]
        assert (await CaptureStore.of(db).ingest(batch)).accepted == 3
        assert (await CaptureStore.of(db).ingest(batch)).duplicates == 3
        profile = await ProfileStore.of(db).get_profile(bot_id, "u")
        assert profile is not None
        assert profile["message_count"] == 2 and profile["attributes"] == {"email": "a@b.io"}
        docs, next_cursor = await CaptureStore.of(db).timeline(bot_id, "u", limit=2)
        assert [d["type"] for d in docs] == ["bot_message", "property_set"]
        assert next_cursor is not None
        await db.close()  # a handed-in client stays open for its owner
        assert await client[db_name].command("ping") == {"ok": 1.0}
    finally:
        await client.drop_database(db_name)
        client.close()
