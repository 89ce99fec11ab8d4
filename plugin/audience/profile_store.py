"""Reading profiles: one, a page, a count, a stream; and bulk property changes."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable
from typing import Any

from pymongo import ASCENDING

from plugin.core import constants as c
from plugin.core.profiles import INTERNAL_PROFILE_FIELDS, profile_id
from plugin.db.database import Repository, reports_unavailable

__all__ = ['ProfileStore']

log = logging.getLogger(__name__)

_HIDDEN = {name: 0 for name in INTERNAL_PROFILE_FIELDS}


class ProfileStore(Repository):
    @reports_unavailable
    async def get_profile(self, bot_id: str, user_id: str) -> dict[str, Any] | None:
        return await self.db[c.PROFILES].find_one(
            {"bot_id": bot_id, "user_id": user_id}, {"_id": 0, **_HIDDEN}
        )

    @reports_unavailable
    async def has_profiles(self, bot_id: str) -> bool:
        """Whether the bot has at least one profile."""
        found = await self.db[c.PROFILES].find_one({"bot_id": bot_id}, {"_id": 1})
        return found is not None

    @reports_unavailable
    async def count_profiles(self, query: dict[str, Any]) -> int:
        return int(await self.db[c.PROFILES].count_documents(query))

    @reports_unavailable
    async def find_profiles(
        self, query: dict[str, Any], sort: list[tuple[str, int]], limit: int
    ) -> list[dict[str, Any]]:
        cursor = (self.db[c.PROFILES].find(query, _HIDDEN)
                  .sort(sort).limit(limit))
        docs: list[dict[str, Any]] = await cursor.to_list(length=limit)
        return docs

    async def explain_count(self, query: dict[str, Any]) -> dict[str, Any]:
        """The server's plan for counting ``query`` (tests and benchmarks check it)."""
        plan: dict[str, Any] = await self.db.mongo.command(
            {"explain": {"count": c.PROFILES, "query": query}, "verbosity": "executionStats"})
        return plan

    @reports_unavailable
    async def known_users(self, bot_id: str, user_ids: Iterable[str]) -> set[str]:
        """Those of ``user_ids`` that have a profile with the bot."""
        query = {"_id": {"$in": [profile_id(bot_id, u) for u in user_ids]}}
        return {doc["user_id"] async for doc in
                self.db[c.PROFILES].find(query, {"_id": 0, "user_id": 1})}

    @reports_unavailable
    async def snapshot_user_ids(self, query: dict[str, Any]) -> list[str]:
        """The user ids of every profile matching ``query``, in profile id order."""
        cursor = self.db[c.PROFILES].find(query, {"_id": 1, "user_id": 1}).sort("_id", ASCENDING)
        return [doc["user_id"] async for doc in cursor]

    @reports_unavailable
    async def profiles_by_user(self, bot_id: str,
                               user_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        query = {"_id": {"$in": [profile_id(bot_id, u) for u in user_ids]}}
        projection = {"_id": 0, "user_id": 1, "source": 1, "channel": 1, "assigned_to": 1,
                      "attributes": 1}
        return {doc["user_id"]: doc async for doc in
                self.db[c.PROFILES].find(query, projection)}

    @reports_unavailable
    async def profiles_by_key(
            self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        """Whole profiles (bookkeeping left out) for (bot id, user id) pairs."""
        query = {"_id": {"$in": [profile_id(b, u) for b, u in keys]}}
        return {(doc["bot_id"], doc["user_id"]): doc async for doc in
                self.db[c.PROFILES].find(query, _HIDDEN)}

    async def iter_profiles(self, query: dict[str, Any], limit: int, batch_size: int = 500,
                            sort: list[tuple[str, int]] | None = None,
                            ) -> AsyncIterator[dict[str, Any]]:
        """Profiles matching ``query`` in ``sort`` order (by default, profile id
        order), streamed from a cursor."""
        cursor = (self.db[c.PROFILES].find(query, _HIDDEN)
                  .sort(sort or [("_id", ASCENDING)]).limit(limit).batch_size(batch_size))
        async for doc in cursor:
            yield doc
