"""Signed-in sessions of the web tab, by the hash of their token."""

from __future__ import annotations

from typing import Any

from plugin.core import constants as c
from plugin.db.database import Repository, reports_unavailable

__all__ = ["SessionStore"]


class SessionStore(Repository):
    @reports_unavailable
    async def insert_session(self, doc: dict[str, Any]) -> None:
        await self.db[c.WEB_SESSIONS].insert_one(doc)

    @reports_unavailable
    async def find_session(self, token_hash: str) -> dict[str, Any] | None:
        return await self.db[c.WEB_SESSIONS].find_one({"_id": token_hash})

    @reports_unavailable
    async def delete_session(self, token_hash: str) -> None:
        await self.db[c.WEB_SESSIONS].delete_one({"_id": token_hash})
