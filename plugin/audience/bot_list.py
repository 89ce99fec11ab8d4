"""The bots a key may see, each with its name, its users and its last activity
(the web tab's bot picker and ``GET /v1/bots``).

A bot has no record of its own: it is known by its data (see
:mod:`plugin.audience.bots`). Its name is the one its definition gave when it
was deployed, else its id.

A service over the :class:`~plugin.db.database.Database`; it knows no HTTP.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from plugin.audience.bot_store import BotStore
from plugin.core.bot_ids import ALL_BOTS
from plugin.db.database import Database

__all__ = ["BotSummary", "list_bots", "bot_name"]


@dataclass(frozen=True, slots=True)
class BotSummary:
    id: str
    name: str
    users: int
    last_activity: datetime | None


async def list_bots(db: Database, allowed: Collection[str]) -> list[BotSummary]:
    """The known bots among ``allowed`` (``{"*"}``: all of them), the most
    recently active first."""
    store = BotStore.of(db)
    known = await store.bot_ids()
    ids = sorted(known if ALL_BOTS in allowed else known & set(allowed))
    names = await store.names(ids)
    activity = await asyncio.gather(*(store.activity(bot_id) for bot_id in ids))
    found = [BotSummary(bot_id, names.get(bot_id, bot_id), users, last)
             for bot_id, (users, last) in zip(ids, activity, strict=True)]
    found.sort(key=lambda b: (b.last_activity is None, -(b.last_activity.timestamp()
                                                        if b.last_activity else 0), b.id))
    return found


async def bot_name(db: Database, bot_id: str) -> str:
    """The name ``bot_id`` is shown by."""
    return (await BotStore.of(db).names([bot_id])).get(bot_id, bot_id)
