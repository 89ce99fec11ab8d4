"""The only module that talks to MongoDB: client, indexes, writes, reads.

It accepts a PyMongo ``AsyncMongoClient`` (its own, or one handed in) or a
Motor client handed in by a host runtime; the two differ in ``aggregate``
(awaited in PyMongo) and ``close`` (a coroutine in PyMongo), which
:func:`_maybe_await` papers over.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from bson import ObjectId
from gridfs import AsyncGridFSBucket
from gridfs.errors import NoFile
from pymongo import (
    ASCENDING,
    DESCENDING,
    AsyncMongoClient,
    IndexModel,
    ReturnDocument,
    UpdateOne,
)
from pymongo.errors import (
    BulkWriteError,
    ConnectionFailure,
    DuplicateKeyError,
    ExecutionTimeout,
    PyMongoError,
    WriteConcernError,
)

from plugin.capture.update import (
    INTERNAL_PROFILE_FIELDS,
    Rejection,
    check_property_values,
    chunk_token,
    profile_chunks,
    profile_id,
    profile_update,
)
from plugin.core import constants as c
from plugin.core.errors import Conflict, DatabaseUnavailable
from plugin.core.events import Event, EventType, to_utc, utc_now
from plugin.core.properties import PropertyDef, PropertyType
from plugin.core.settings import Settings
from plugin.crm.outbox import DeliveryState, Subscription, WebhookEvent, outbox_entries
from plugin.db.embedded import EmbeddedServer

__all__ = ["Store", "IngestResult", "TimelineCursor", "profile_id", "event_key", "event_document"]

log = logging.getLogger(__name__)
_Method = TypeVar("_Method", bound=Callable[..., Awaitable[Any]])

_DUPLICATE_KEY = 11000
# Failures after which the same operation may simply be tried again later.
_TRANSIENT = (ConnectionFailure, ExecutionTimeout, WriteConcernError)
_PROPERTY_CACHE_TTL_S = 5.0
_PROFILE_RETRIES = 5
_WEBHOOK_CACHE_TTL_S = 1.0
_HISTORY_KEPT = 10
_HIDDEN = {name: 0 for name in INTERNAL_PROFILE_FIELDS}

_INDEXES: Mapping[str, list[IndexModel]] = {
    c.PROFILES: [
        IndexModel([("bot_id", ASCENDING), ("user_id", ASCENDING)], unique=True,
                   name="bot_user"),
        # The audience's common filters: SecantusDB uses an index only for a
        # flat query on exactly its fields (see plugin.audience.filters.scoped_query).
        *[IndexModel([("bot_id", ASCENDING), (field, ASCENDING)], name=f"bot_{field}")
          for field in ("last_message_at", "created_at", "channel", "current_module",
                        "attributes.email", "attributes.phone")],
    ],
    c.EVENTS: [
        IndexModel([("bot_id", ASCENDING), ("user_id", ASCENDING), ("ts", ASCENDING)],
                   name="bot_user_ts"),
    ],
    c.PROPERTIES: [
        IndexModel([("bot_id", ASCENDING), ("name", ASCENDING)], unique=True, name="bot_name"),
    ],
    c.API_KEYS: [IndexModel([("created_at", ASCENDING)], name="created_at")],
    c.OUTBOX: [
        # The delivery worker's poll and a webhook's delivery log (SecantusDB
        # serves {webhook_id} alone from this compound index too).
        IndexModel([("webhook_id", ASCENDING), ("state", ASCENDING)], name="webhook_state"),
    ],
    c.WEBHOOKS: [IndexModel([("bot_id", ASCENDING)], name="bot")],
    c.SEGMENTS: [
        IndexModel([("bot_id", ASCENDING), ("name_key", ASCENDING)], unique=True,
                   name="bot_name_key"),
    ],
}


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


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


def _unavailable_on_connection_errors(method: _Method) -> _Method:
    """Report a database that is away as :class:`DatabaseUnavailable`."""

    @functools.wraps(method)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return await method(*args, **kwargs)
        except _TRANSIENT as exc:
            raise DatabaseUnavailable(f"the database is unavailable: {exc}") from exc

    return wrapper  # type: ignore[return-value]


class Store:
    def __init__(
        self,
        client: Any,
        db_name: str,
        *,
        embedded: EmbeddedServer | None = None,
        owns_client: bool = True,
    ) -> None:
        self.client = client
        self.db = client[db_name]
        self.embedded = embedded
        self._owns_client = owns_client
        self._property_cache: dict[str, tuple[float, dict[str, PropertyDef]]] = {}
        self._webhook_cache: dict[str, tuple[float, list[Subscription]]] = {}

    @classmethod
    async def open(cls, settings: Settings) -> Store:
        """Connect to ``MONGODB_URI``, or to the embedded server for the data dir."""
        embedded = None
        uri = settings.mongodb_uri
        if uri is None:
            embedded = await EmbeddedServer.attach_or_start(settings.data_dir)
            uri = embedded.uri
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            uri, tz_aware=True, serverSelectionTimeoutMS=10_000
        )
        store = cls(client, settings.db_name, embedded=embedded)
        try:
            await store.ensure_indexes()
        except BaseException:
            await store.close()
            raise
        return store

    @classmethod
    async def from_client(cls, client: Any, db_name: str = c.DEFAULT_DB_NAME) -> Store:
        """Use a client the host runtime owns (PyMongo async or Motor); we never close it."""
        store = cls(client, db_name, owns_client=False)
        await store.ensure_indexes()
        return store

    async def close(self) -> None:
        if self._owns_client:
            await _maybe_await(self.client.close())
        if self.embedded is not None:
            await self.embedded.stop()
            self.embedded = None

    async def ensure_indexes(self) -> None:
        for collection, indexes in _INDEXES.items():
            await self.db[collection].create_indexes(indexes)

    async def ping(self, timeout: float = 2.0) -> None:
        try:
            await asyncio.wait_for(self.db.command("ping"), timeout)
        except (PyMongoError, TimeoutError) as exc:
            raise DatabaseUnavailable(f"the database does not answer: {exc or 'timeout'}") from exc

    # -- capture ----------------------------------------------------------------

    @_unavailable_on_connection_errors
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
        checked, result.rejected, new_defs = check_property_values(
            unique.values(), await self._properties_for_bots({e.bot_id for e in unique.values()})
        )
        if new_defs:
            await self._add_inferred_properties(new_defs)
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
            return {docs[i]["_id"] for i in _duplicate_key_indexes(exc)}
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
                conflicted = [pending[i] for i in _duplicate_key_indexes(exc)]
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
        subscriptions = {bot_id: subs for bot_id in {chunk[0].bot_id for _, chunk in chunks}
                         if (subs := await self.subscriptions(bot_id))}
        if not subscriptions:
            return
        users = {(chunk[0].bot_id, chunk[0].user_id) for _, chunk in chunks
                 if chunk[0].bot_id in subscriptions}
        query = {"_id": {"$in": [profile_id(b, u) for b, u in users]}}
        created_by = {(doc["bot_id"], doc["user_id"]): doc.get("created_by")
                      async for doc in self.db[c.PROFILES].find(
                          query, {"_id": 0, "bot_id": 1, "user_id": 1, "created_by": 1})}
        entries = outbox_entries(chunks, subscriptions, created_by, key_of, utc_now())
        if entries:
            try:
                await self.db[c.OUTBOX].insert_many(entries, ordered=False)
            except BulkWriteError as exc:
                _duplicate_key_indexes(exc)  # written before: fine; anything else raises

    # -- property schema ----------------------------------------------------------

    @_unavailable_on_connection_errors
    async def custom_properties(self, bot_id: str) -> dict[str, PropertyDef]:
        cached = self._property_cache.get(bot_id)
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
        self._property_cache[bot_id] = (time.monotonic(), props)
        return props

    async def _properties_for_bots(self, bot_ids: set[str]) -> dict[str, dict[str, PropertyDef]]:
        return {bot_id: await self.custom_properties(bot_id) for bot_id in bot_ids}

    @_unavailable_on_connection_errors
    async def define_property(self, bot_id: str, prop: PropertyDef) -> None:
        doc = {"bot_id": bot_id, **prop.to_dict(), "updated_at": utc_now()}
        await self.db[c.PROPERTIES].replace_one(
            {"bot_id": bot_id, "name": prop.name}, doc, upsert=True
        )
        self._property_cache.pop(bot_id, None)

    async def _add_inferred_properties(self, defs: list[tuple[str, PropertyDef]]) -> None:
        for bot_id, prop in defs:
            doc = {"bot_id": bot_id, **prop.to_dict(), "inferred": True, "updated_at": utc_now()}
            try:
                await self.db[c.PROPERTIES].insert_one(doc)
            except DuplicateKeyError:
                pass  # another writer defined it first; its definition stands
            self._property_cache.pop(bot_id, None)

    # -- profiles and timelines ---------------------------------------------------

    @_unavailable_on_connection_errors
    async def get_profile(self, bot_id: str, user_id: str) -> dict[str, Any] | None:
        return await self.db[c.PROFILES].find_one(
            {"bot_id": bot_id, "user_id": user_id}, {"_id": 0, **_HIDDEN}
        )

    @_unavailable_on_connection_errors
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

    # -- audience -----------------------------------------------------------------

    @_unavailable_on_connection_errors
    async def count_profiles(self, query: dict[str, Any]) -> int:
        return int(await self.db[c.PROFILES].count_documents(query))

    @_unavailable_on_connection_errors
    async def find_profiles(
        self, query: dict[str, Any], sort: list[tuple[str, int]], limit: int
    ) -> list[dict[str, Any]]:
        cursor = (self.db[c.PROFILES].find(query, _HIDDEN)
                  .sort(sort).limit(limit))
        docs: list[dict[str, Any]] = await cursor.to_list(length=limit)
        return docs

    async def explain_count(self, query: dict[str, Any]) -> dict[str, Any]:
        """The server's plan for counting ``query`` (tests and benchmarks check it)."""
        plan: dict[str, Any] = await self.db.command(
            {"explain": {"count": c.PROFILES, "query": query}, "verbosity": "executionStats"})
        return plan

    # -- segments -----------------------------------------------------------------

    @_unavailable_on_connection_errors
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

    @_unavailable_on_connection_errors
    async def get_segment(self, bot_id: str, segment_id: str) -> dict[str, Any] | None:
        return await self.db[c.SEGMENTS].find_one({"_id": segment_id, "bot_id": bot_id})

    @_unavailable_on_connection_errors
    async def list_segments(self, bot_id: str) -> list[dict[str, Any]]:
        return [doc async for doc in self.db[c.SEGMENTS].find({"bot_id": bot_id})]

    @_unavailable_on_connection_errors
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

    @_unavailable_on_connection_errors
    async def delete_segment(self, bot_id: str, segment_id: str) -> bool:
        result = await self.db[c.SEGMENTS].delete_one({"_id": segment_id, "bot_id": bot_id})
        return bool(result.deleted_count)

    @_unavailable_on_connection_errors
    async def known_users(self, bot_id: str, user_ids: Iterable[str]) -> set[str]:
        """Those of ``user_ids`` that have a profile with the bot."""
        query = {"_id": {"$in": [profile_id(bot_id, u) for u in user_ids]}}
        return {doc["user_id"] async for doc in
                self.db[c.PROFILES].find(query, {"_id": 0, "user_id": 1})}

    @_unavailable_on_connection_errors
    async def add_to_segment(self, bot_id: str, segment_id: str, user_ids: Iterable[str]) -> int:
        """Put ``segment_id`` on those profiles; how many were not members yet."""
        ids = [profile_id(bot_id, u) for u in user_ids]
        if not ids:
            return 0
        result = await self.db[c.PROFILES].update_many(
            {"_id": {"$in": ids}}, {"$addToSet": {"segments": segment_id}})
        return int(result.modified_count)

    @_unavailable_on_connection_errors
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

    # -- jobs (see plugin.jobs.worker; every query is by _id, or on the small jobs collection) --

    @_unavailable_on_connection_errors
    async def snapshot_user_ids(self, query: dict[str, Any]) -> list[str]:
        """The user ids of every profile matching ``query``, in profile id order."""
        cursor = self.db[c.PROFILES].find(query, {"_id": 1, "user_id": 1}).sort("_id", ASCENDING)
        return [doc["user_id"] async for doc in cursor]

    @_unavailable_on_connection_errors
    async def insert_job(self, job: dict[str, Any], targets: list[dict[str, Any]]) -> None:
        """Store a job's audience, then the job (so a worker never sees one without it)."""
        if targets:
            await self.db[c.JOB_TARGETS].insert_many(targets, ordered=False)
        await self.db[c.JOBS].insert_one(job)

    @_unavailable_on_connection_errors
    async def get_job(self, job_id: str) -> dict[str, Any] | None:
        return await self.db[c.JOBS].find_one({"_id": job_id})

    @_unavailable_on_connection_errors
    async def job_target_chunk(self, target_id: str) -> list[str]:
        doc = await self.db[c.JOB_TARGETS].find_one({"_id": target_id})
        return list(doc["user_ids"]) if doc else []

    @_unavailable_on_connection_errors
    async def claim_job(self, owner: str, lease_until: datetime,
                        now: datetime) -> dict[str, Any] | None:
        """Atomically take a queued job, or a running one whose lease ran out."""
        jobs = self.db[c.JOBS]
        claimed = await jobs.find_one_and_update(
            {"status": "queued"},
            {"$set": {"status": "running", "owner": owner, "lease_until": lease_until,
                      "started_at": now}, "$inc": {"attempts": 1}},
            sort=[("created_at", ASCENDING)], return_document=ReturnDocument.AFTER)
        if claimed is None:
            claimed = await jobs.find_one_and_update(
                {"status": "running", "lease_until": {"$lt": now}},
                {"$set": {"owner": owner, "lease_until": lease_until},
                 "$inc": {"attempts": 1}},
                sort=[("created_at", ASCENDING)], return_document=ReturnDocument.AFTER)
        return claimed

    @_unavailable_on_connection_errors
    async def update_owned_job(self, job_id: str, owner: str, guard: dict[str, Any],
                               update: dict[str, Any]) -> dict[str, Any] | None:
        """Apply ``update`` only while ``owner`` holds the running job (and ``guard``
        matches); the job after, or None when it was cancelled or taken over."""
        return await self.db[c.JOBS].find_one_and_update(
            {"_id": job_id, "status": "running", "owner": owner, **guard}, update,
            return_document=ReturnDocument.AFTER)

    @_unavailable_on_connection_errors
    async def set_job_fields(self, job_id: str, fields: dict[str, Any]) -> None:
        await self.db[c.JOBS].update_one({"_id": job_id}, {"$set": fields})

    @_unavailable_on_connection_errors
    async def cancel_job(self, job_id: str, now: datetime) -> dict[str, Any] | None:
        """Mark a queued or running job cancelled; the job as it is now."""
        await self.db[c.JOBS].update_one(
            {"_id": job_id, "status": {"$in": ["queued", "running"]}},
            {"$set": {"status": "cancelled", "finished_at": now, "owner": None}})
        return await self.get_job(job_id)

    @_unavailable_on_connection_errors
    async def job_markers(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        return {doc["_id"]: doc async for doc in
                self.db[c.JOB_MARKERS].find({"_id": {"$in": keys}})}

    @_unavailable_on_connection_errors
    async def claim_markers(self, docs: list[dict[str, Any]]) -> set[str]:
        """Insert per-user markers; return the keys that were already there."""
        if not docs:
            return set()
        try:
            await self.db[c.JOB_MARKERS].insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            return {docs[i]["_id"] for i in _duplicate_key_indexes(exc)}
        return set()

    @_unavailable_on_connection_errors
    async def settle_markers(self, outcomes: list[tuple[str, dict[str, Any]]]) -> None:
        if outcomes:
            await self.db[c.JOB_MARKERS].bulk_write(
                [UpdateOne({"_id": key}, {"$set": fields}, upsert=True)
                 for key, fields in outcomes], ordered=False)

    @_unavailable_on_connection_errors
    async def stored_event_keys(self, keys: list[str]) -> set[str]:
        return {doc["_id"] async for doc in
                self.db[c.EVENTS].find({"_id": {"$in": keys}}, {"_id": 1})}

    @_unavailable_on_connection_errors
    async def profiles_by_user(self, bot_id: str,
                               user_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        query = {"_id": {"$in": [profile_id(bot_id, u) for u in user_ids]}}
        projection = {"_id": 0, "user_id": 1, "source": 1, "channel": 1, "assigned_to": 1,
                      "attributes": 1}
        return {doc["user_id"]: doc async for doc in
                self.db[c.PROFILES].find(query, projection)}

    @_unavailable_on_connection_errors
    async def update_attributes(self, bot_id: str, user_ids: list[str], set_: dict[str, Any],
                                unset: list[str]) -> int:
        """Set and unset custom properties on those users' profiles; how many matched."""
        update: dict[str, Any] = {}
        if set_:
            update["$set"] = {f"attributes.{k}": v for k, v in set_.items()}
        if unset:
            update["$unset"] = {f"attributes.{k}": "" for k in unset}
        if not update or not user_ids:
            return 0
        update.setdefault("$set", {})["updated_at"] = utc_now()
        result = await self.db[c.PROFILES].update_many(
            {"_id": {"$in": [profile_id(bot_id, u) for u in user_ids]}}, update)
        return int(result.matched_count)

    # -- exports and imports ------------------------------------------------------

    async def iter_profiles(self, query: dict[str, Any], limit: int,
                            batch_size: int = 500) -> AsyncIterator[dict[str, Any]]:
        """Profiles matching ``query`` in profile id order, streamed from a cursor."""
        cursor = (self.db[c.PROFILES].find(query, _HIDDEN)
                  .sort("_id", ASCENDING).limit(limit).batch_size(batch_size))
        async for doc in cursor:
            yield doc

    def _bucket(self, name: str) -> AsyncGridFSBucket:
        return AsyncGridFSBucket(self.db, bucket_name=name)

    @_unavailable_on_connection_errors
    async def put_file(self, bucket: str, file_id: str, filename: str, source: Any,
                       metadata: dict[str, Any]) -> None:
        """Store a file in a GridFS bucket under ``file_id``, replacing any earlier
        attempt's (a resumed export builds its file again)."""
        await self.delete_file(bucket, file_id)
        await self._bucket(bucket).upload_from_stream_with_id(file_id, filename, source,
                                                              metadata=metadata)

    async def open_file(self, bucket: str, file_id: str) -> Any | None:
        """A GridFS download stream (``.filename``, ``.length``, ``.readchunk()``,
        ``.read()``), or None."""
        try:
            return await self._bucket(bucket).open_download_stream(file_id)
        except NoFile:
            return None

    @_unavailable_on_connection_errors
    async def delete_file(self, bucket: str, file_id: str) -> None:
        try:
            await self._bucket(bucket).delete(file_id)
        except NoFile:
            pass

    @_unavailable_on_connection_errors
    async def exports_finished_before(self, cutoff: datetime) -> list[str]:
        """Ids of export jobs whose file was built before ``cutoff`` and is still kept."""
        query = {"kind": "export", "status": "done", "file_id": {"$ne": None},
                 "finished_at": {"$lt": cutoff}}
        return [doc["_id"] async for doc in self.db[c.JOBS].find(query, {"_id": 1})]

    @_unavailable_on_connection_errors
    async def save_import(self, doc: dict[str, Any]) -> None:
        """Store an import's report (again, for a resumed import job)."""
        await self.db[c.IMPORTS].replace_one({"_id": doc["_id"]}, doc, upsert=True)

    @_unavailable_on_connection_errors
    async def get_import(self, import_id: str) -> dict[str, Any] | None:
        return await self.db[c.IMPORTS].find_one({"_id": import_id})

    # -- webhooks and their outbox (see plugin.crm.webhooks and plugin.crm.delivery) ------

    async def subscriptions(self, bot_id: str) -> list[Subscription]:
        """The bot's webhooks (paused ones too: their deliveries wait), cached
        briefly: capture asks on every batch.
        A change made through this store is seen at once; one made by another
        process, within ``_WEBHOOK_CACHE_TTL_S``."""
        cached = self._webhook_cache.get(bot_id)
        if cached and time.monotonic() - cached[0] < _WEBHOOK_CACHE_TTL_S:
            return cached[1]
        subs = [Subscription(doc["_id"], frozenset(WebhookEvent(e) for e in doc["events"]))
                async for doc in self.db[c.WEBHOOKS].find({"bot_id": bot_id})]
        self._webhook_cache[bot_id] = (time.monotonic(), subs)
        return subs

    @_unavailable_on_connection_errors
    async def insert_webhook(self, doc: dict[str, Any]) -> None:
        await self.db[c.WEBHOOKS].insert_one(doc)
        self._webhook_cache.pop(doc["bot_id"], None)

    @_unavailable_on_connection_errors
    async def get_webhook(self, bot_id: str, webhook_id: str) -> dict[str, Any] | None:
        return await self.db[c.WEBHOOKS].find_one({"_id": webhook_id, "bot_id": bot_id})

    @_unavailable_on_connection_errors
    async def list_webhooks(self, bot_id: str) -> list[dict[str, Any]]:
        cursor = self.db[c.WEBHOOKS].find({"bot_id": bot_id}).sort("created_at", ASCENDING)
        return [doc async for doc in cursor]

    @_unavailable_on_connection_errors
    async def update_webhook(self, bot_id: str, webhook_id: str,
                             changes: dict[str, Any]) -> dict[str, Any] | None:
        self._webhook_cache.pop(bot_id, None)
        return await self.db[c.WEBHOOKS].find_one_and_update(
            {"_id": webhook_id, "bot_id": bot_id}, {"$set": changes},
            return_document=ReturnDocument.AFTER)

    @_unavailable_on_connection_errors
    async def delete_webhook(self, bot_id: str, webhook_id: str) -> bool:
        """Delete a webhook and its delivery log (pending deliveries are dropped)."""
        self._webhook_cache.pop(bot_id, None)
        result = await self.db[c.WEBHOOKS].delete_one({"_id": webhook_id, "bot_id": bot_id})
        if result.deleted_count:
            await self.db[c.OUTBOX].delete_many({"webhook_id": webhook_id})
        return bool(result.deleted_count)

    @_unavailable_on_connection_errors
    async def active_webhooks(self) -> list[dict[str, Any]]:
        """Every bot's webhooks that are not paused."""
        return [doc async for doc in self.db[c.WEBHOOKS].find({"active": True})]

    @_unavailable_on_connection_errors
    async def pending_deliveries(self, webhook_id: str, limit: int) -> list[dict[str, Any]]:
        """A webhook's oldest pending outbox entries, in ``seq`` order."""
        cursor = (self.db[c.OUTBOX].find({"webhook_id": webhook_id,
                                          "state": str(DeliveryState.PENDING)})
                  .sort("seq", ASCENDING).limit(limit))
        return await cursor.to_list(length=limit)

    @_unavailable_on_connection_errors
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

    @_unavailable_on_connection_errors
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

    @_unavailable_on_connection_errors
    async def profiles_by_key(
            self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        """Whole profiles (bookkeeping left out) for (bot id, user id) pairs."""
        query = {"_id": {"$in": [profile_id(b, u) for b, u in keys]}}
        return {(doc["bot_id"], doc["user_id"]): doc async for doc in
                self.db[c.PROFILES].find(query, _HIDDEN)}

    @_unavailable_on_connection_errors
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

    @_unavailable_on_connection_errors
    async def count_deliveries(self, webhook_id: str) -> dict[str, int]:
        """How many of the webhook's deliveries are in each state."""
        return {state: await self.db[c.OUTBOX].count_documents(
                    {"webhook_id": webhook_id, "state": str(state)})
                for state in DeliveryState}

    @_unavailable_on_connection_errors
    async def get_delivery(self, webhook_id: str, entry_id: str) -> dict[str, Any] | None:
        return await self.db[c.OUTBOX].find_one({"_id": entry_id, "webhook_id": webhook_id})

    @_unavailable_on_connection_errors
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

    # -- API keys -----------------------------------------------------------------

    @_unavailable_on_connection_errors
    async def insert_api_key(self, doc: dict[str, Any]) -> None:
        await self.db[c.API_KEYS].insert_one(doc)

    @_unavailable_on_connection_errors
    async def find_api_key(self, key_hash: str) -> dict[str, Any] | None:
        return await self.db[c.API_KEYS].find_one({"_id": key_hash})


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


def _duplicate_key_indexes(exc: BulkWriteError) -> list[int]:
    """Indexes of the operations that hit a unique index; any other error is re-raised."""
    errors = exc.details.get("writeErrors", [])
    if any(err.get("code") != _DUPLICATE_KEY for err in errors) or exc.details.get(
        "writeConcernErrors"
    ):
        raise exc
    return [err["index"] for err in errors]

