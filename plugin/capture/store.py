"""Capture's collection: the events, and the ingest protocol that applies them to profiles."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import DESCENDING, UpdateOne
from pymongo.errors import BulkWriteError

from plugin.audience.property_store import PropertyStore
from plugin.capture.update import (
    Rejection,
    check_property_values,
    chunk_token,
    profile_chunks,
    profile_update,
)
from plugin.core import constants as c
from plugin.core.errors import DatabaseUnavailable
from plugin.core.events import Event, EventType, to_utc, utc_now
from plugin.core.profiles import profile_id
from plugin.crm.outbox import outbox_entries
from plugin.crm.store import WebhookStore
from plugin.db.database import Repository, duplicate_key_indexes, reports_unavailable

__all__ = ['CaptureStore', 'IngestResult', 'TimelineCursor', 'event_key', 'event_document']

log = logging.getLogger(__name__)

_PROFILE_RETRIES = 5


@dataclass(slots=True)
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[Rejection] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class TimelineCursor:
    """Position in a timeline: events strictly older than (ts, seq)."""

    ts: datetime
    seq: ObjectId | None = None


class CaptureStore(Repository):
    @reports_unavailable
    async def ingest(self, events: Iterable[Event]) -> IngestResult:
        """Store events and apply them to profiles, each exactly once.

        Safe to retry after any failure, with the same events or others.
        Events go in first, keyed by (bot, user, event id), each marked with
        the token of the chunk of the user's events it is applied to the
        profile with; each profile update is guarded by that token, which
        the profile remembers (its last ``APPLIED_CHUNKS``). An event already
        stored is applied again only if its chunk's token is not on the
        profile: its earlier write stopped between the two steps.

        Every query here is by ``_id``: SecantusDB uses an index only for a
        query that is exactly its key, and scans the collection when a
        guard is added to (bot_id, user_id).
        """
        result = IngestResult()
        unique: dict[str, Event] = {}
        for event in events:
            key = event_key(event)
            if key in unique:
                result.duplicates += 1
            else:
                unique[key] = event
        if not unique:
            return result
        properties = await PropertyStore.of(self.db).properties_for_bots(
            {e.bot_id for e in unique.values()})
        checked, result.rejected, new_defs = check_property_values(unique.values(), properties)
        if new_defs:
            await PropertyStore.of(self.db).add_inferred_properties(new_defs)
        # check_property_values keeps the order, so the keys still line up.
        key_of = {id(event): key for key, event in zip(unique, checked, strict=True)}
        chunks = [(chunk_token(chunk), chunk) for user_chunks in profile_chunks(checked).values()
                  for chunk in user_chunks]
        token_of = {id(e): token for token, chunk in chunks for e in chunk}
        recorded_at = utc_now()
        # In arrival order: ``seq`` orders the events of one millisecond.
        docs = [event_document(e, key_of[id(e)], token_of[id(e)], recorded_at) for e in checked]
        stored_before = await self._insert_events(docs)
        unfinished = await self._unfinished_chunks(stored_before) if stored_before else []
        fresh_chunks = [(token, [e for e in chunk if key_of[id(e)] not in stored_before])
                        for token, chunk in chunks]
        await self._apply_to_profiles(unfinished + [(t, c) for t, c in fresh_chunks if c])
        # Every chunk, not only the fresh ones: a batch retried after a failure
        # here rewrites its entries, and their ids make the rewrite a no-op.
        await self._write_outbox(chunks, key_of)
        redone = sum(len(chunk) for _, chunk in unfinished)
        result.accepted = len(checked) - len(stored_before) + redone
        result.duplicates += len(stored_before) - redone
        return result

    async def _insert_events(self, docs: list[dict[str, Any]]) -> set[str]:
        """Insert what is new; return the keys of the events that were already stored."""
        try:
            await self.db[c.EVENTS].insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            return {docs[i]["_id"] for i in duplicate_key_indexes(exc)}
        return set()

    async def _unfinished_chunks(self, keys: set[str]) -> list[tuple[int, list[Event]]]:
        """Chunks of already-stored events whose profile update never landed."""
        groups: dict[tuple[str, str, int], list[Event]] = defaultdict(list)
        async for doc in self.db[c.EVENTS].find({"_id": {"$in": sorted(keys)}}):
            event = Event(doc["bot_id"], doc["user_id"], EventType(doc["type"]), doc["data"],
                          doc["eid"], to_utc(doc["ts"]), doc.get("channel"))
            groups[(doc["bot_id"], doc["user_id"], doc["chunk"])].append(event)
        applied = await self._applied_chunks({(b, u) for b, u, _ in groups})
        return [(token, chunk) for (b, u, token), chunk in groups.items()
                if token not in applied.get((b, u), set())]

    async def _applied_chunks(self, users: set[tuple[str, str]]) -> dict[tuple[str, str], set[int]]:
        query = {"_id": {"$in": [profile_id(b, u) for b, u in users]}}
        projection = {"_id": 0, "bot_id": 1, "user_id": 1, "applied_chunks": 1}
        return {(doc["bot_id"], doc["user_id"]): set(doc.get("applied_chunks", []))
                async for doc in self.db[c.PROFILES].find(query, projection)}

    async def _apply_to_profiles(self, chunks: list[tuple[int, list[Event]]]) -> None:
        by_user: dict[tuple[str, str], list[tuple[int, list[Event]]]] = defaultdict(list)
        for token, chunk in chunks:
            by_user[(chunk[0].bot_id, chunk[0].user_id)].append((token, chunk))
        # A user's chunks go in successive rounds, so their order holds.
        rounds = max(len(user_chunks) for user_chunks in by_user.values()) if by_user else 0
        for round_no in range(rounds):
            await self._apply_round([user_chunks[round_no] for user_chunks in by_user.values()
                                     if round_no < len(user_chunks)])

    async def _apply_round(self, pending: list[tuple[int, list[Event]]]) -> None:
        for _ in range(_PROFILE_RETRIES):
            now = utc_now()
            ops = [
                UpdateOne(
                    {"_id": profile_id(chunk[0].bot_id, chunk[0].user_id),
                     "applied_chunks": {"$ne": token}},
                    profile_update(chunk, now, token),
                    upsert=True,
                )
                for token, chunk in pending
            ]
            try:
                await self.db[c.PROFILES].bulk_write(ops, ordered=False)
                return
            except BulkWriteError as exc:
                conflicted = [pending[i] for i in duplicate_key_indexes(exc)]
            # The guard failed: either the profile already holds this chunk (a
            # retry), or two writers raced to create it. Retry only the latter.
            applied = await self._applied_chunks(
                {(chunk[0].bot_id, chunk[0].user_id) for _, chunk in conflicted})
            pending = [(token, chunk) for token, chunk in conflicted
                       if token not in applied.get((chunk[0].bot_id, chunk[0].user_id), set())]
            if not pending:
                return
        raise DatabaseUnavailable("profile updates kept conflicting; try again")

    async def _write_outbox(self, chunks: list[tuple[int, list[Event]]],
                            key_of: Mapping[int, str]) -> None:
        webhooks = WebhookStore.of(self.db)
        subscriptions = {bot_id: subs for bot_id in {chunk[0].bot_id for _, chunk in chunks}
                         if (subs := await webhooks.subscriptions(bot_id))}
        if not subscriptions:
            return
        users = {(chunk[0].bot_id, chunk[0].user_id) for _, chunk in chunks
                 if chunk[0].bot_id in subscriptions}
        query = {"_id": {"$in": [profile_id(b, u) for b, u in users]}}
        created_by = {(doc["bot_id"], doc["user_id"]): doc.get("created_by")
                      async for doc in self.db[c.PROFILES].find(
                          query, {"_id": 0, "bot_id": 1, "user_id": 1, "created_by": 1})}
        entries = outbox_entries(chunks, subscriptions, created_by, key_of, utc_now())
        await webhooks.add_outbox_entries(entries)

    @reports_unavailable
    async def timeline(
        self, bot_id: str, user_id: str, *, limit: int, before: TimelineCursor | None = None
    ) -> tuple[list[dict[str, Any]], TimelineCursor | None]:
        """Events newest first; the cursor points past the last one returned."""
        query: dict[str, Any] = {"bot_id": bot_id, "user_id": user_id}
        if before is not None:
            if before.seq is None:
                query["ts"] = {"$lt": before.ts}
            else:
                query["$or"] = [
                    {"ts": {"$lt": before.ts}},
                    {"ts": before.ts, "seq": {"$lt": before.seq}},
                ]
        cursor = (
            self.db[c.EVENTS]
            .find(query)
            .sort([("ts", DESCENDING), ("seq", DESCENDING)])
            .limit(limit + 1)
        )
        docs = await cursor.to_list(length=limit + 1)
        next_cursor = None
        if len(docs) > limit:
            docs = docs[:limit]
            next_cursor = TimelineCursor(to_utc(docs[-1]["ts"]), docs[-1]["seq"])
        return docs, next_cursor

    @reports_unavailable
    async def stored_event_keys(self, keys: list[str]) -> set[str]:
        return {doc["_id"] async for doc in
                self.db[c.EVENTS].find({"_id": {"$in": keys}}, {"_id": 1})}


def event_key(event: Event) -> str:
    """An event's ``_id``: its id is unique within its bot and user."""
    return f"{profile_id(event.bot_id, event.user_id)}:{event.id}"


def event_document(event: Event, key: str, chunk_token: int,
                   recorded_at: datetime) -> dict[str, Any]:
    """An event as stored in the ``events`` collection (``key`` is its :func:`event_key`)."""
    return {
        "_id": key,
        "bot_id": event.bot_id,
        "user_id": event.user_id,
        "eid": event.id,
        "seq": ObjectId(),  # orders events of the same millisecond
        "type": str(event.type),
        "ts": event.ts,
        "channel": event.channel,
        "data": event.data,
        "chunk": chunk_token,
        "recorded_at": recorded_at,
    }
