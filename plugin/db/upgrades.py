"""Documents an earlier version wrote in a shape this one no longer reads,
rewritten once per database at start (:meth:`Database.ensure_indexes`, before
the indexes that assume the new shape are built).

Each upgrade is recorded in the ``upgrades`` collection once done, so a
start does not look through old data again; each can run twice at once
(servers starting together), rewriting only what is still in the old shape.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from pymongo import ReplaceOne

from plugin.core import constants as c
from plugin.core.events import utc_now

__all__ = ["UPGRADES", "run_upgrades"]

_BATCH = 1000


async def events_into_chunks(mongo: Any) -> None:
    """Events were stored one to a document; now a document holds a list of
    them (plugin.capture.chunks): each old one becomes a list of one."""
    events = mongo[c.EVENTS]
    batch: list[ReplaceOne[Any]] = []
    async for doc in events.find({"keys": {"$exists": False}}):
        batch.append(ReplaceOne({"_id": doc["_id"], "keys": {"$exists": False}}, {
            "_id": doc["_id"], "bot_id": doc["bot_id"], "user_id": doc["user_id"],
            "keys": [doc["_id"]], "ts": doc["ts"], "first_ts": doc["ts"],
            "recorded_at": doc.get("recorded_at"),
            "events": [{"eid": doc["eid"], "seq": doc["seq"], "type": doc["type"],
                        "ts": doc["ts"], "channel": doc.get("channel"),
                        "data": doc.get("data", {})}]}))
        if len(batch) == _BATCH:
            await events.bulk_write(batch, ordered=False)
            batch = []
    if batch:
        await events.bulk_write(batch, ordered=False)


UPGRADES: Mapping[str, Callable[[Any], Awaitable[None]]] = {
    "events-into-chunks": events_into_chunks,
}


async def run_upgrades(mongo: Any) -> None:
    done = {doc["_id"] async for doc in mongo[c.UPGRADES].find({}, {"_id": 1})}
    for name, upgrade in UPGRADES.items():
        if name not in done:
            await upgrade(mongo)
            await mongo[c.UPGRADES].update_one(
                {"_id": name}, {"$setOnInsert": {"done_at": utc_now()}}, upsert=True)
