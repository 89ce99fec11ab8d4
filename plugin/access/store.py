"""API keys, by the hash of the key."""

from __future__ import annotations

import logging
from typing import Any

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
