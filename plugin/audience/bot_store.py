"""Which bots there are (by their data), their display names, their activity."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pymongo import DESCENDING

from plugin.core import constants as c
from plugin.db.database import Repository, reports_unavailable

__all__ = ["BotStore"]


class BotStore(Repository):
    @reports_unavailable
    async def name_bot(self, bot_id: str, name: str) -> None:
        """Remember the name a bot is shown by (its definition's, when deployed)."""
        await self.db[c.BOTS].update_one({"_id": bot_id}, {"$set": {"name": name}}, upsert=True)

    @reports_unavailable
    async def names(self, bot_ids: Iterable[str]) -> dict[str, str]:
        return {doc["_id"]: doc["name"] async for doc in
                self.db[c.BOTS].find({"_id": {"$in": list(bot_ids)}})}

    @reports_unavailable
    async def bot_ids(self) -> set[str]:
        """Every bot with a profile or a custom property."""
        found = set(await self.db[c.PROFILES].distinct("bot_id"))
        return found | set(await self.db[c.PROPERTIES].distinct("bot_id"))

    @reports_unavailable
    async def activity(self, bot_id: str) -> tuple[int, datetime | None]:
        """How many users the bot has, and when the last one wrote."""
        users = int(await self.db[c.PROFILES].count_documents({"bot_id": bot_id}))
        latest: dict[str, Any] | None = await self.db[c.PROFILES].find_one(
            {"bot_id": bot_id}, {"_id": 0, "last_message_at": 1},
            sort=[("last_message_at", DESCENDING)])
        return users, (latest or {}).get("last_message_at")
