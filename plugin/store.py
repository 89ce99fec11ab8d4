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
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, IndexModel, UpdateOne
from pymongo.errors import (
    BulkWriteError,
    ConnectionFailure,
    DuplicateKeyError,
    ExecutionTimeout,
    PyMongoError,
    WriteConcernError,
)

from . import constants as c
from .capture import Rejection, check_property_values, profile_update
from .embedded import EmbeddedServer
from .errors import DatabaseUnavailable
from .events import Event, to_utc, utc_now
from .properties import PropertyDef, PropertyType
from .settings import Settings

__all__ = ["Store", "IngestResult", "TimelineCursor", "profile_id"]

log = logging.getLogger(__name__)
_Method = TypeVar("_Method", bound=Callable[..., Awaitable[Any]])

_DUPLICATE_KEY = 11000
# Failures after which the same operation may simply be tried again later.
_TRANSIENT = (ConnectionFailure, ExecutionTimeout, WriteConcernError)
_PROPERTY_CACHE_TTL_S = 5.0
_PROFILE_RETRIES = 5

_INDEXES: Mapping[str, list[IndexModel]] = {
    c.PROFILES: [
        IndexModel([("bot_id", ASCENDING), ("user_id", ASCENDING)], unique=True,
                   name="bot_user"),
        IndexModel([("bot_id", ASCENDING), ("last_message_at", DESCENDING)],
                   name="bot_last_message_at"),
    ],
    c.EVENTS: [
        IndexModel([("bot_id", ASCENDING), ("user_id", ASCENDING), ("eid", ASCENDING)],
                   unique=True, name="bot_user_eid"),
        IndexModel([("bot_id", ASCENDING), ("user_id", ASCENDING), ("ts", ASCENDING)],
                   name="bot_user_ts"),
    ],
    c.PROPERTIES: [
        IndexModel([("bot_id", ASCENDING), ("name", ASCENDING)], unique=True, name="bot_name"),
    ],
    c.API_KEYS: [IndexModel([("created_at", ASCENDING)], name="created_at")],
}


@dataclass(slots=True)
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[Rejection] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class TimelineCursor:
    """Position in a timeline: events strictly older than (ts, oid)."""

    ts: datetime
    oid: ObjectId | None = None


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

        Safe to retry with the same events after any failure. The profile
        update is guarded by the event ids the profile remembers (its last
        ``RECENT_EVENT_IDS``), the event insert by the unique (bot, user,
        event id) index, so a retry skips whichever half already landed. An id older than the profile's memory
        is still refused by the events collection, but would count on the
        profile again: retries come within minutes, not hundreds of events.

        The guard is matched by ``_id`` (see :func:`profile_id`): SecantusDB
        only uses an index for a query that is exactly its key, and scans
        the whole collection when a guard is added to (bot_id, user_id).
        """
        result = IngestResult()
        unique: dict[tuple[str, str, str], Event] = {}
        for event in events:
            key = (event.bot_id, event.user_id, event.id)
            if key in unique:
                result.duplicates += 1
            else:
                unique[key] = event
        if not unique:
            return result
        fresh = list(unique.values())
        fresh, result.rejected, new_defs = check_property_values(
            fresh, await self._properties_for_bots({e.bot_id for e in fresh})
        )
        if new_defs:
            await self._add_inferred_properties(new_defs)
        await self._apply_to_profiles(fresh)
        inserted = await self._insert_events(fresh)
        result.accepted += inserted
        result.duplicates += len(fresh) - inserted
        return result

    async def _apply_to_profiles(self, events: list[Event]) -> None:
        groups: dict[tuple[str, str], list[Event]] = defaultdict(list)
        for event in events:
            groups[(event.bot_id, event.user_id)].append(event)
        pending = groups
        for _ in range(_PROFILE_RETRIES):
            now = utc_now()
            keys = list(pending)
            ops = [
                UpdateOne(
                    {"_id": profile_id(b, u),
                     "recent_event_ids": {"$nin": [e.id for e in pending[(b, u)]]}},
                    profile_update(pending[(b, u)], now),
                    upsert=True,
                )
                for b, u in keys
            ]
            try:
                await self.db[c.PROFILES].bulk_write(ops, ordered=False)
                return
            except BulkWriteError as exc:
                conflicted = _duplicate_key_indexes(exc)
            # The guard failed: either a profile already holds some of these
            # events (a retry) or two writers raced to create it. Drop what it
            # already holds and try the rest again.
            pending = await self._without_applied({keys[i]: pending[keys[i]] for i in conflicted})
            if not pending:
                return
        raise DatabaseUnavailable("profile updates kept conflicting; try again")

    async def _without_applied(
        self, groups: dict[tuple[str, str], list[Event]]
    ) -> dict[tuple[str, str], list[Event]]:
        query = {"_id": {"$in": [profile_id(b, u) for b, u in groups]}}
        applied: dict[tuple[str, str], set[str]] = {}
        async for doc in self.db[c.PROFILES].find(
            query, {"_id": 0, "bot_id": 1, "user_id": 1, "recent_event_ids": 1}
        ):
            applied[(doc["bot_id"], doc["user_id"])] = set(doc.get("recent_event_ids", []))
        remaining = {}
        for key, events in groups.items():
            left = [e for e in events if e.id not in applied.get(key, set())]
            if left:
                remaining[key] = left
        return remaining

    async def _insert_events(self, events: list[Event]) -> int:
        recorded_at = utc_now()
        docs = [
            {
                "bot_id": e.bot_id,
                "user_id": e.user_id,
                "eid": e.id,
                "type": str(e.type),
                "ts": e.ts,
                "channel": e.channel,
                "data": e.data,
                "recorded_at": recorded_at,
            }
            for e in events
        ]
        try:
            result = await self.db[c.EVENTS].insert_many(docs, ordered=False)
            return len(result.inserted_ids)
        except BulkWriteError as exc:
            duplicates = _duplicate_key_indexes(exc)
            return len(docs) - len(duplicates)

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
            {"bot_id": bot_id, "user_id": user_id}, {"_id": 0, "recent_event_ids": 0}
        )

    @_unavailable_on_connection_errors
    async def timeline(
        self, bot_id: str, user_id: str, *, limit: int, before: TimelineCursor | None = None
    ) -> tuple[list[dict[str, Any]], TimelineCursor | None]:
        """Events newest first; the cursor points past the last one returned."""
        query: dict[str, Any] = {"bot_id": bot_id, "user_id": user_id}
        if before is not None:
            if before.oid is None:
                query["ts"] = {"$lt": before.ts}
            else:
                query["$or"] = [
                    {"ts": {"$lt": before.ts}},
                    {"ts": before.ts, "_id": {"$lt": before.oid}},
                ]
        cursor = (
            self.db[c.EVENTS]
            .find(query)
            .sort([("ts", DESCENDING), ("_id", DESCENDING)])
            .limit(limit + 1)
        )
        docs = await cursor.to_list(length=limit + 1)
        next_cursor = None
        if len(docs) > limit:
            docs = docs[:limit]
            next_cursor = TimelineCursor(to_utc(docs[-1]["ts"]), docs[-1]["_id"])
        return docs, next_cursor

    # -- API keys -----------------------------------------------------------------

    @_unavailable_on_connection_errors
    async def insert_api_key(self, doc: dict[str, Any]) -> None:
        await self.db[c.API_KEYS].insert_one(doc)

    @_unavailable_on_connection_errors
    async def find_api_key(self, key_hash: str) -> dict[str, Any] | None:
        return await self.db[c.API_KEYS].find_one({"_id": key_hash})


def profile_id(bot_id: str, user_id: str) -> str:
    """The profile's ``_id``: unambiguous for any pair of ids (length-prefixed)."""
    return f"{len(bot_id)}:{bot_id}:{user_id}"


def _duplicate_key_indexes(exc: BulkWriteError) -> list[int]:
    """Indexes of the operations that hit a unique index; any other error is re-raised."""
    errors = exc.details.get("writeErrors", [])
    if any(err.get("code") != _DUPLICATE_KEY for err in errors) or exc.details.get(
        "writeConcernErrors"
    ):
        raise exc
    return [err["index"] for err in errors]

