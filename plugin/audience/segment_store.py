"""Segments, and static segments' members (marked on their profiles)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from plugin.core import constants as c
from plugin.core.errors import Conflict
from plugin.core.profiles import profile_id
from plugin.db.database import Repository, reports_unavailable

__all__ = ['SegmentStore']

log = logging.getLogger(__name__)


class SegmentStore(Repository):
    @reports_unavailable
    async def insert_segment(self, doc: dict[str, Any]) -> None:
        """Store a new segment.

        Raises:
            Conflict: the bot already has a segment of that name (any case).
        """
        try:
            await self.db[c.SEGMENTS].insert_one(doc)
        except DuplicateKeyError as exc:
            raise Conflict(f"a segment named {doc['name']!r} already exists",
                           field="name") from exc

    @reports_unavailable
    async def get_segment(self, bot_id: str, segment_id: str) -> dict[str, Any] | None:
        return await self.db[c.SEGMENTS].find_one({"_id": segment_id, "bot_id": bot_id})

    @reports_unavailable
    async def list_segments(self, bot_id: str) -> list[dict[str, Any]]:
        return [doc async for doc in self.db[c.SEGMENTS].find({"bot_id": bot_id})]

    @reports_unavailable
    async def update_segment(self, bot_id: str, segment_id: str,
                             changes: dict[str, Any]) -> dict[str, Any] | None:
        """Set ``changes`` on a segment; the segment as it is now, or None if it is gone.

        Raises:
            Conflict: a new name is taken by another segment of the bot.
        """
        try:
            return await self.db[c.SEGMENTS].find_one_and_update(
                {"_id": segment_id, "bot_id": bot_id}, {"$set": changes},
                return_document=ReturnDocument.AFTER)
        except DuplicateKeyError as exc:
            raise Conflict(f"a segment named {changes.get('name')!r} already exists",
                           field="name") from exc

    @reports_unavailable
    async def delete_segment(self, bot_id: str, segment_id: str) -> bool:
        result = await self.db[c.SEGMENTS].delete_one({"_id": segment_id, "bot_id": bot_id})
        return bool(result.deleted_count)

    @reports_unavailable
    async def add_to_segment(self, bot_id: str, segment_id: str, user_ids: Iterable[str]) -> int:
        """Put ``segment_id`` on those profiles; how many were not members yet."""
        ids = [profile_id(bot_id, u) for u in user_ids]
        if not ids:
            return 0
        result = await self.db[c.PROFILES].update_many(
            {"_id": {"$in": ids}}, {"$addToSet": {"segments": segment_id}})
        return int(result.modified_count)

    @reports_unavailable
    async def remove_from_segment(self, bot_id: str, segment_id: str,
                                  user_ids: Iterable[str] | None = None) -> int:
        """Take ``segment_id`` off those profiles (all of the bot's, without
        ``user_ids``); how many were members."""
        query: dict[str, Any] = {"bot_id": bot_id, "segments": segment_id}
        if user_ids is not None:
            query = {"_id": {"$in": [profile_id(bot_id, u) for u in user_ids]},
                     "segments": segment_id}
        result = await self.db[c.PROFILES].update_many(query, {"$pull": {"segments": segment_id}})
        return int(result.modified_count)
