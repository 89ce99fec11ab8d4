"""Webhooks and their outbox (see plugin.crm.webhooks and plugin.crm.delivery)."""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, ReturnDocument, UpdateOne
from pymongo.errors import BulkWriteError

from plugin.core import constants as c
from plugin.crm.outbox import DeliveryState, Subscription, WebhookEvent
from plugin.db.database import Database, Repository, duplicate_key_indexes, reports_unavailable

__all__ = ['WebhookStore']

log = logging.getLogger(__name__)

_WEBHOOK_CACHE_TTL_S = 1.0
_HISTORY_KEPT = 10


class WebhookStore(Repository):
    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self._cache: dict[str, tuple[float, list[Subscription]]] = {}

    async def subscriptions(self, bot_id: str) -> list[Subscription]:
        """The bot's webhooks (paused ones too: their deliveries wait), cached
        briefly: capture asks on every batch.
        A change made through this store is seen at once; one made by another
        process, within ``_WEBHOOK_CACHE_TTL_S``."""
        cached = self._cache.get(bot_id)
        if cached and time.monotonic() - cached[0] < _WEBHOOK_CACHE_TTL_S:
            return cached[1]
        subs = [Subscription(doc["_id"], frozenset(WebhookEvent(e) for e in doc["events"]))
                async for doc in self.db[c.WEBHOOKS].find({"bot_id": bot_id})]
        self._cache[bot_id] = (time.monotonic(), subs)
        return subs

    @reports_unavailable
    async def add_outbox_entries(self, entries: list[dict[str, Any]]) -> None:
        """Queue deliveries; an entry written before (a retried batch) is left as it is."""
        if entries:
            try:
                await self.db[c.OUTBOX].insert_many(entries, ordered=False)
            except BulkWriteError as exc:
                duplicate_key_indexes(exc)  # written before: fine; anything else raises

    @reports_unavailable
    async def insert_webhook(self, doc: dict[str, Any]) -> None:
        await self.db[c.WEBHOOKS].insert_one(doc)
        self._cache.pop(doc["bot_id"], None)

    @reports_unavailable
    async def get_webhook(self, bot_id: str, webhook_id: str) -> dict[str, Any] | None:
        return await self.db[c.WEBHOOKS].find_one({"_id": webhook_id, "bot_id": bot_id})

    @reports_unavailable
    async def list_webhooks(self, bot_id: str) -> list[dict[str, Any]]:
        cursor = self.db[c.WEBHOOKS].find({"bot_id": bot_id}).sort("created_at", ASCENDING)
        return [doc async for doc in cursor]

    @reports_unavailable
    async def update_webhook(self, bot_id: str, webhook_id: str,
                             changes: dict[str, Any]) -> dict[str, Any] | None:
        self._cache.pop(bot_id, None)
        return await self.db[c.WEBHOOKS].find_one_and_update(
            {"_id": webhook_id, "bot_id": bot_id}, {"$set": changes},
            return_document=ReturnDocument.AFTER)

    @reports_unavailable
    async def delete_webhook(self, bot_id: str, webhook_id: str) -> bool:
        """Delete a webhook and its delivery log (pending deliveries are dropped)."""
        self._cache.pop(bot_id, None)
        result = await self.db[c.WEBHOOKS].delete_one({"_id": webhook_id, "bot_id": bot_id})
        if result.deleted_count:
            await self.db[c.OUTBOX].delete_many({"webhook_id": webhook_id})
        return bool(result.deleted_count)

    @reports_unavailable
    async def active_webhooks(self) -> list[dict[str, Any]]:
        """Every bot's webhooks that are not paused."""
        return [doc async for doc in self.db[c.WEBHOOKS].find({"active": True})]

    @reports_unavailable
    async def pending_deliveries(self, webhook_id: str, limit: int) -> list[dict[str, Any]]:
        """A webhook's oldest pending outbox entries, in ``seq`` order."""
        cursor = (self.db[c.OUTBOX].find({"webhook_id": webhook_id,
                                          "state": str(DeliveryState.PENDING)})
                  .sort("seq", ASCENDING).limit(limit))
        return await cursor.to_list(length=limit)

    @reports_unavailable
    async def claim_deliveries(self, entry_ids: list[str], claim: str, now: datetime,
                               lease_until: datetime) -> set[str]:
        """Lease those of the entries that are pending, due and not leased by
        another worker to ``claim`` (unique per attempt); the ids it got.

        ``update_many`` by ``_id``, then a read: SecantusDB writes a
        ``find_one_and_update`` with ``{_id, $and: [query]}``, which scans the
        collection.
        """
        outbox = self.db[c.OUTBOX]
        await outbox.update_many(
            {"_id": {"$in": entry_ids}, "state": str(DeliveryState.PENDING),
             "next_attempt_at": {"$lte": now}, "lease_until": {"$lte": now}},
            {"$set": {"lease_until": lease_until, "owner": claim}})
        return {doc["_id"] async for doc in
                outbox.find({"_id": {"$in": entry_ids}, "owner": claim}, {"_id": 1})}

    @reports_unavailable
    async def settle_deliveries(
            self, claim: str,
            outcomes: list[tuple[str, dict[str, Any], dict[str, Any] | None]]) -> None:
        """Record each (entry id, fields to set, attempt or None) of a claim,
        in one round trip; an entry no longer held by ``claim`` is left alone."""
        ops = []
        for entry_id, fields, attempt in outcomes:
            update: dict[str, Any] = {"$set": {**fields, "owner": None}}
            if attempt is not None:
                update["$inc"] = {"attempts": 1}
                update["$push"] = {"history": {"$each": [attempt], "$slice": -_HISTORY_KEPT}}
            ops.append(UpdateOne({"_id": entry_id, "owner": claim}, update))
        if ops:
            await self.db[c.OUTBOX].bulk_write(ops, ordered=False)

    @reports_unavailable
    async def list_deliveries(self, webhook_id: str, state: str | None, limit: int,
                              before: ObjectId | None) -> list[dict[str, Any]]:
        """A webhook's delivery log, newest first."""
        query: dict[str, Any] = {"webhook_id": webhook_id}
        if state is not None:
            query["state"] = state
        if before is not None:
            query["seq"] = {"$lt": before}
        cursor = self.db[c.OUTBOX].find(query).sort("seq", DESCENDING).limit(limit)
        return await cursor.to_list(length=limit)

    @reports_unavailable
    async def count_deliveries(self, webhook_id: str) -> dict[str, int]:
        """How many of the webhook's deliveries are in each state."""
        return {state: await self.db[c.OUTBOX].count_documents(
                    {"webhook_id": webhook_id, "state": str(state)})
                for state in DeliveryState}

    @reports_unavailable
    async def get_delivery(self, webhook_id: str, entry_id: str) -> dict[str, Any] | None:
        return await self.db[c.OUTBOX].find_one({"_id": entry_id, "webhook_id": webhook_id})

    @reports_unavailable
    async def replay_deliveries(self, webhook_id: str, entry_id: str | None,
                                now: datetime) -> int:
        """Put dead (or, by id, delivered/skipped) entries back in the queue."""
        query: dict[str, Any] = {"webhook_id": webhook_id}
        if entry_id is None:
            query["state"] = str(DeliveryState.DEAD)
        else:
            query["_id"] = entry_id
            query["state"] = {"$ne": str(DeliveryState.PENDING)}
        result = await self.db[c.OUTBOX].update_many(query, {"$set": {
            "state": str(DeliveryState.PENDING), "attempts": 0, "next_attempt_at": now,
            "lease_until": now, "replayed_at": now, "reason": None}})
        return int(result.modified_count)
