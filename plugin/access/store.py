"""API keys, by the hash of the key."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, ReturnDocument

from plugin.core import constants as c
from plugin.db.database import Repository, reports_unavailable

__all__ = ['KeyStore']

log = logging.getLogger(__name__)


class KeyStore(Repository):
    @reports_unavailable
    async def insert_api_key(self, doc: dict[str, Any]) -> None:
        await self.db[c.API_KEYS].insert_one(doc)

    @reports_unavailable
    async def find_api_key(self, key_hash: str) -> dict[str, Any] | None:
        return await self.db[c.API_KEYS].find_one({"_id": key_hash})

    @reports_unavailable
    async def find_by_id(self, key_id: str) -> dict[str, Any] | None:
        """The key whose hash starts with ``key_id`` (lower-case hex digits)."""
        # Every hash with that start sorts between it and it + "g" (after "f").
        return await self.db[c.API_KEYS].find_one({"_id": {"$gte": key_id, "$lt": key_id + "g"}})

    @reports_unavailable
    async def list_api_keys(self) -> list[dict[str, Any]]:
        return [doc async for doc in self.db[c.API_KEYS].find().sort(
            [("created_at", ASCENDING), ("_id", ASCENDING)])]

    @reports_unavailable
    async def record_use(self, key_hash: str, now: datetime, unless_since: datetime) -> None:
        """Set the key's last use to ``now``, unless one after ``unless_since`` is
        already there (another request, another process): one write a while."""
        await self.db[c.API_KEYS].update_one(
            {"_id": key_hash, "$or": [{"last_used_at": None},
                                      {"last_used_at": {"$lte": unless_since}}]},
            {"$set": {"last_used_at": now}})

    @reports_unavailable
    async def revoke(self, key_hash: str, now: datetime) -> dict[str, Any] | None:
        return await self.db[c.API_KEYS].find_one_and_update(
            {"_id": key_hash}, {"$set": {"revoked": True, "revoked_at": now}},
            return_document=ReturnDocument.AFTER)
