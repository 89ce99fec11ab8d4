"""The bot's custom property definitions, cached briefly: capture asks on every batch."""

from __future__ import annotations

import logging
import time

from pymongo.errors import DuplicateKeyError

from plugin.core import constants as c
from plugin.core.events import utc_now
from plugin.core.properties import PropertyDef, PropertyType
from plugin.db.database import Database, Repository, reports_unavailable

__all__ = ['PropertyStore']

log = logging.getLogger(__name__)

_PROPERTY_CACHE_TTL_S = 5.0


class PropertyStore(Repository):
    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self._cache: dict[str, tuple[float, dict[str, PropertyDef]]] = {}

    @reports_unavailable
    async def custom_properties(self, bot_id: str) -> dict[str, PropertyDef]:
        cached = self._cache.get(bot_id)
        if cached and time.monotonic() - cached[0] < _PROPERTY_CACHE_TTL_S:
            return cached[1]
        props = {}
        async for doc in self.db[c.PROPERTIES].find({"bot_id": bot_id}):
            props[doc["name"]] = PropertyDef(
                name=doc["name"],
                type=PropertyType(doc["type"]),
                label=doc.get("label", ""),
                choices=tuple(doc.get("choices", ())),
            )
        self._cache[bot_id] = (time.monotonic(), props)
        return props

    async def properties_for_bots(self, bot_ids: set[str]) -> dict[str, dict[str, PropertyDef]]:
        return {bot_id: await self.custom_properties(bot_id) for bot_id in bot_ids}

    @reports_unavailable
    async def define_property(self, bot_id: str, prop: PropertyDef) -> None:
        doc = {"bot_id": bot_id, **prop.to_dict(), "updated_at": utc_now()}
        await self.db[c.PROPERTIES].replace_one(
            {"bot_id": bot_id, "name": prop.name}, doc, upsert=True
        )
        self._cache.pop(bot_id, None)

    async def add_inferred_properties(self, defs: list[tuple[str, PropertyDef]]) -> None:
        for bot_id, prop in defs:
            doc = {"bot_id": bot_id, **prop.to_dict(), "inferred": True, "updated_at": utc_now()}
            try:
                await self.db[c.PROPERTIES].insert_one(doc)
            except DuplicateKeyError:
                pass  # another writer defined it first; its definition stands
            self._cache.pop(bot_id, None)
