"""Capture's collection, the events, and the protocol that applies them to profiles.

The protocol, and why each event counts exactly once
----------------------------------------------------
Events are the truth: each is stored once, under a key made of its bot, user
and id (:func:`event_key`) that the database holds unique (the events of a
write are stored a few to a document, see :mod:`plugin.capture.chunks`), so a
retried event is a duplicate the database refuses, however it is regrouped.
Events are ordered by time, and events of one millisecond by ``seq``, the
order they were stored in; an event's *place* (:func:`place`) is that order
written as one string. A profile is the fold of some of its
user's stored events (:func:`plugin.capture.update.fold`) and carries
``last_place``, the place of the latest of them, ``events_folded``, how many
they are, and ``rev``, a revision every write increases.

For a user whose events in a batch all went in new, ``ingest`` adds them to
the profile with :func:`~plugin.capture.update.delta_update`, guarded by
``last_place`` < the place of the first of them. Every write leaves
``last_place`` at the latest event the profile holds, so while the guard
holds the profile holds none of these events and nothing after them: the
delta applies each once, in order.

Everything else is rebuilt from the timeline
(:func:`~plugin.capture.update.rebuild_update`): a user with an event that
was already stored (a retry, or a re-send after a crash, however the client
regrouped it: it is unknown whether that earlier write reached the profile),
or whose delta's guard failed (an older event, or another writer got in
first). A rebuild reads ``rev``, *then* the timeline, and writes the fold
guarded by that ``rev``, retrying while other writers get in first. Its
timeline holds every event stored before it read, so the fold it writes is
exact, and it leaves ``last_place`` past all of them, so no delta of those
events can land after it. A profile only ever holds stored events, so one
that holds as many as the user has stored holds them all: a rebuild that
finds that is done.

Nothing here depends on how events are grouped into batches or how late a
retry comes. Every query is by ``_id``, by event key (the ``bot_user_keys``
index) or a user's timeline (``bot_user_ts``): SecantusDB uses an index only
for a query that is exactly its key.

An event the database cannot store (a number too large for BSON, a lone
surrogate, a key it refuses) is refused alone: it is stored as a ``custom``
event named ``unstorable`` holding the reason, and the rest of the batch goes
on.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from bson.raw_bson import RawBSONDocument
from pymongo import DESCENDING, UpdateOne
from pymongo.errors import BulkWriteError, DuplicateKeyError

from plugin.audience.property_store import PropertyStore
from plugin.capture.chunks import Chunk, chunk_document, chunks_of, encode_chunk, stored_events
from plugin.capture.update import (
    Rejection,
    by_user,
    check_property_values,
    chunk_token,
    delta_update,
    rebuild_update,
)
from plugin.core import constants as c
from plugin.core.errors import DatabaseUnavailable
from plugin.core.events import Event, EventType, to_utc, utc_now
from plugin.core.profiles import profile_id
from plugin.crm.outbox import outbox_entries
from plugin.crm.store import WebhookStore
from plugin.db.database import Repository, duplicate_key_indexes, reports_unavailable

__all__ = ["CaptureStore", "IngestResult", "TimelineCursor", "UNSTORABLE", "event_key",
           "event_from_document", "place"]

log = logging.getLogger(__name__)

UNSTORABLE = "unstorable"
_REBUILD_ATTEMPTS = 20
_REBUILDS_AT_ONCE = 8
# Writes of one batch's events: enough to halve a chunk down to one event
# twice over, and for writers of the same events to finish first.
_INSERT_ROUNDS = 20
_DUPLICATE_KEY = 11000
_User = tuple[str, str]


@dataclass(slots=True)
class IngestResult:
    accepted: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    # Events the database refused, stored as ``unstorable`` events instead.
    unstorable: list[Rejection] = field(default_factory=list)
    # Where the duplicates were in the events given (0-based): an event
    # stored before, or one given twice (its later places).
    duplicate_positions: set[int] = field(default_factory=set)

    @property
    def duplicates(self) -> int:
        return len(self.duplicate_positions)


@dataclass(frozen=True, slots=True)
class TimelineCursor:
    """Position in a timeline: events strictly older than (ts, seq)."""

    ts: datetime
    seq: ObjectId | None = None




class CaptureStore(Repository):
    @reports_unavailable
    async def ingest(self, events: Iterable[Event]) -> IngestResult:
        """Store events and bring their users' profiles up to date, each event
        exactly once (see the module's docstring). Safe to retry after any
        failure, with the same events or others, grouped in any way."""
        result = IngestResult()
        unique: dict[str, Event] = {}
        first_position: dict[str, int] = {}
        for position, event in enumerate(events):
            key = event_key(event)
            if key in unique:
                result.duplicate_positions.add(position)
            else:
                unique[key] = event
                first_position[key] = position
        if not unique:
            return result
        properties = await PropertyStore.of(self.db).properties_for_bots(
            {e.bot_id for e in unique.values()})
        checked, result.rejected, new_defs = check_property_values(unique.values(), properties)
        keys = list(unique)  # check_property_values keeps the order
        groups = by_user(checked)
        # In arrival order: ``seq`` orders the events of one millisecond.
        seqs = [ObjectId() for _ in keys]
        stored_before, refused = await self._insert_events(keys, checked, seqs)
        if refused:
            result.unstorable = [Rejection(checked[i].id, checked[i].user_id, "", why)
                                 for i, why in sorted(refused.items())]
            checked = [_unstorable(e, refused[i]) if i in refused else e
                       for i, e in enumerate(checked)]
            groups = by_user(checked)
            # A property first seen in a refused value is not defined by it.
            new_defs = check_property_values(checked, properties)[2]
        if new_defs:
            await PropertyStore.of(self.db).add_inferred_properties(new_defs)
        key_of = {id(event): key for key, event in zip(keys, checked, strict=True)}
        seq_of = {id(event): seq for seq, event in zip(seqs, checked, strict=True)}
        created_by = {user: key_of[id(group[0])] for user, group in groups.items()}
        to_rebuild: set[_User] = set()
        deltas: dict[_User, list[tuple[Event, str]]] = {}
        for user, group in groups.items():
            if any(key_of[id(e)] in stored_before for e in group):
                to_rebuild.add(user)
            else:
                deltas[user] = [(e, place(e.ts, seq_of[id(e)])) for e in group]
        to_rebuild |= await self._apply_deltas(deltas, created_by)
        await self._rebuild(to_rebuild, {u: groups[u][0] for u in to_rebuild}, created_by)
        # Every group, not only the fresh ones: a batch retried after a failure
        # here rewrites its entries, and their ids make the rewrite a no-op.
        await self._write_outbox(groups, key_of)
        result.accepted = len(checked) - len(stored_before)
        result.duplicate_positions |= {first_position[key] for key in stored_before}
        return result

    async def _insert_events(self, keys: list[str], events: list[Event], seqs: list[ObjectId]
                             ) -> tuple[set[str], dict[int, str]]:
        """Insert what is new, each user's events together
        (:mod:`plugin.capture.chunks`). The keys of the events already stored,
        and the positions of the events the database refused, with the reason
        (those are stored as ``unstorable`` events instead)."""
        recorded_at = utc_now()
        refused: dict[int, str] = {}
        stored_before: set[str] = set()
        positions: dict[_User, list[int]] = defaultdict(list)
        for i, event in enumerate(events):
            positions[(event.bot_id, event.user_id)].append(i)
        pending = chunks_of(positions)
        for _ in range(_INSERT_ROUNDS):
            if not pending:
                break
            encoded = _encoded(pending, keys, events, seqs, recorded_at, refused)
            collided, failed = await self._insert_chunks([doc for _, doc in encoded])
            pending = []
            for index, reason in failed.items():
                chunk = encoded[index][0]
                if len(chunk.positions) == 1:
                    refused[chunk.positions[0]] = reason  # stored as ``unstorable`` next round
                    pending.append(chunk)
                else:
                    pending.extend(_halves(chunk))
            if collided:
                # Some of their events were stored before: write the others again.
                chunks = [encoded[index][0] for index in collided]
                stored = await self.stored_event_keys(
                    [events[p] for chunk in chunks for p in chunk.positions])
                stored_before |= stored
                pending.extend(Chunk(rest) for chunk in chunks
                               if (rest := tuple(p for p in chunk.positions
                                                 if keys[p] not in stored)))
        if pending:
            raise DatabaseUnavailable("other writers kept storing the same events; try again")
        if refused:
            log.warning("the database refused %d of %d events; stored as %r events instead",
                        len(refused), len(events), UNSTORABLE)
        return stored_before, refused

    async def _insert_chunks(self, docs: list[RawBSONDocument]
                             ) -> tuple[list[int], dict[int, str]]:
        """The indexes of the chunks refused because one of their events is
        stored already, and of those refused for another reason (with it)."""
        try:
            await self.db[c.EVENTS].insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            failed = {e["index"]: f"the database refused it: {e.get('errmsg', '')}"[:300]
                      for e in errors if e.get("code") != _DUPLICATE_KEY}
            if failed and exc.details.get("writeConcernErrors"):
                raise
            return [e["index"] for e in errors if e.get("code") == _DUPLICATE_KEY], failed
        return [], {}

    async def _apply_deltas(self, deltas: Mapping[_User, Sequence[tuple[Event, str]]],
                            created_by: Mapping[_User, str]) -> set[_User]:
        """Add each user's new events (with their places, in order) to the
        profile; the users whose guard failed."""
        if not deltas:
            return set()
        now = utc_now()
        users = list(deltas)
        ops = [UpdateOne({**_profile_key(user), "last_place": {"$lt": deltas[user][0][1]}},
                         delta_update([e for e, _ in deltas[user]], now, created_by[user],
                                      deltas[user][-1][1]),
                         upsert=True)
               for user in users]
        try:
            await self.db[c.PROFILES].bulk_write(ops, ordered=False)
        except BulkWriteError as exc:
            # The profile holds events at or after these (the upsert then
            # collides with it): rebuild it instead.
            return {users[i] for i in duplicate_key_indexes(exc)}
        return set()

    async def _rebuild(self, users: set[_User], origins: Mapping[_User, Event],
                       created_by: Mapping[_User, str]) -> None:
        limit = asyncio.Semaphore(_REBUILDS_AT_ONCE)

        async def one(user: _User) -> None:
            async with limit:
                await self._rebuild_one(user, origins.get(user), created_by.get(user, ""))

        await asyncio.gather(*(one(user) for user in sorted(users)))

    async def _rebuild_one(self, user: _User, origin: Event | None, created_by: str) -> None:
        pid = profile_id(*user)
        for attempt in range(_REBUILD_ATTEMPTS):
            found = await self.db[c.PROFILES].find_one(
                {"_id": pid}, {"rev": 1, "events_folded": 1, "last_place": 1})
            stored = await self.stored_event_count(*user)
            if found is not None and found.get("last_place") is not None and \
                    found.get("events_folded") == stored:
                # It folds as many events as are stored, each of them stored:
                # it folds them all (someone else's rebuild got there first).
                return
            timeline, last = await self._timeline_events(*user)
            if not timeline:
                return
            update = rebuild_update(timeline, utc_now(), origin or timeline[0], created_by, last)
            guard = {"rev": found["rev"]} if found and "rev" in found else {
                "rev": {"$exists": False}}
            try:
                await self.db[c.PROFILES].update_one({**_profile_key(user), **guard}, update,
                                                     upsert=True)
                return
            except DuplicateKeyError:
                # Written meanwhile: look again after a moment (spread out, so
                # writers of one user do not keep colliding).
                await asyncio.sleep(random.uniform(0, 0.005 * 2 ** min(attempt, 6)))
        raise DatabaseUnavailable(f"the profile of {user[1]!r} kept changing while it was "
                                  "rebuilt; try again")

    async def _timeline_events(self, bot_id: str, user_id: str) -> tuple[list[Event], str]:
        """A user's whole timeline, oldest first, as the fold reads it, and
        the place of its last event."""
        chunks = await self.db[c.EVENTS].find({"bot_id": bot_id, "user_id": user_id}).to_list(
            length=None)
        docs = sorted((doc for chunk in chunks for doc in stored_events(chunk)), key=_order)
        last = place(to_utc(docs[-1]["ts"]), docs[-1]["seq"]) if docs else ""
        return [event_from_document(doc) for doc in docs], last

    async def _write_outbox(self, groups: Mapping[_User, list[Event]],
                            key_of: Mapping[int, str]) -> None:
        webhooks = WebhookStore.of(self.db)
        subscriptions = {bot_id: subs for bot_id in {bot for bot, _ in groups}
                         if (subs := await webhooks.subscriptions(bot_id))}
        if not subscriptions:
            return
        users = [user for user in groups if user[0] in subscriptions]
        query = {"_id": {"$in": [profile_id(b, u) for b, u in users]}}
        created_by = {(doc["bot_id"], doc["user_id"]): doc.get("created_by")
                      async for doc in self.db[c.PROFILES].find(
                          query, {"_id": 0, "bot_id": 1, "user_id": 1, "created_by": 1})}
        chunks = [(chunk_token(groups[user]), groups[user]) for user in users]
        entries = outbox_entries(chunks, subscriptions, created_by, key_of, utc_now())
        await webhooks.add_outbox_entries(entries)

    @reports_unavailable
    async def timeline(
        self, bot_id: str, user_id: str, *, limit: int, before: TimelineCursor | None = None
    ) -> tuple[list[dict[str, Any]], TimelineCursor | None]:
        """Events newest first; the cursor points past the last one returned.

        Chunks are read newest first (by their newest event) until no chunk
        left can hold an event among the ``limit`` newest: a chunk's events
        may be older than the next chunk's when events came late."""
        query: dict[str, Any] = {"bot_id": bot_id, "user_id": user_id}
        if before is not None:
            query["first_ts"] = {"$lte": before.ts}
        found: list[dict[str, Any]] = []
        cursor = (self.db[c.EVENTS].find(query)
                  .sort([("ts", DESCENDING), ("_id", DESCENDING)]))
        try:
            async for chunk in cursor:
                if len(found) > limit and to_utc(chunk["ts"]) < to_utc(found[limit]["ts"]):
                    break
                found.extend(doc for doc in stored_events(chunk)
                             if before is None or _before(doc, before))
                found = sorted(found, key=_order, reverse=True)[:limit + 1]
        finally:
            await cursor.close()
        next_cursor = None
        if len(found) > limit:
            found = found[:limit]
            next_cursor = TimelineCursor(to_utc(found[-1]["ts"]), found[-1]["seq"])
        return found, next_cursor

    @reports_unavailable
    async def stored_event_count(self, bot_id: str, user_id: str | None = None) -> int:
        """How many events of the bot (or of one of its users) are stored."""
        query = {"bot_id": bot_id} if user_id is None else {"bot_id": bot_id, "user_id": user_id}
        return sum([len(chunk["keys"]) async for chunk in
                    self.db[c.EVENTS].find(query, {"keys": 1})])

    @reports_unavailable
    async def stored_event_keys(self, events: Iterable[Event]) -> set[str]:
        """The keys (:func:`event_key`) of those of these events that are stored."""
        asked: dict[_User, set[str]] = defaultdict(set)
        for event in events:
            asked[(event.bot_id, event.user_id)].add(event_key(event))
        found: set[str] = set()
        # One query per user: the index serves equality on bot and user only.
        for (bot_id, user_id), keys in asked.items():
            query = {"bot_id": bot_id, "user_id": user_id, "keys": {"$in": sorted(keys)}}
            found |= {key async for chunk in self.db[c.EVENTS].find(query, {"keys": 1})
                      for key in chunk["keys"] if key in keys}
        return found


def event_key(event: Event) -> str:
    """An event's ``_id``: its id is unique within its bot and user."""
    return f"{profile_id(event.bot_id, event.user_id)}:{event.id}"


def event_from_document(doc: Mapping[str, Any]) -> Event:
    return Event(doc["bot_id"], doc["user_id"], EventType(doc["type"]), doc["data"], doc["eid"],
                 to_utc(doc["ts"]), doc.get("channel"))


def _encoded(chunks: list[Chunk], keys: list[str], events: list[Event], seqs: list[ObjectId],
             recorded_at: datetime, refused: dict[int, str]
             ) -> list[tuple[Chunk, RawBSONDocument]]:
    """The chunks as BSON, the events in ``refused`` as ``unstorable`` ones.
    A chunk the database cannot take is halved until the events it cannot
    take are alone; those are added to ``refused``."""
    done: list[tuple[Chunk, RawBSONDocument]] = []
    todo = list(reversed(chunks))
    while todo:
        chunk = todo.pop()
        members = [(keys[p], _unstorable(events[p], refused[p]) if p in refused else events[p],
                    seqs[p]) for p in chunk.positions]
        encoded = encode_chunk(chunk_document(members, recorded_at))
        if not isinstance(encoded, str):
            done.append((chunk, encoded))
        elif len(chunk.positions) > 1:
            todo.extend(reversed(_halves(chunk)))
        elif chunk.positions[0] not in refused:
            refused[chunk.positions[0]] = encoded
            todo.append(chunk)
        else:
            raise AssertionError(f"an unstorable event cannot be stored either: {encoded}")
    return done


def _profile_key(user: _User) -> dict[str, str]:
    """What a profile upsert is filtered by: its id, and the shard key a
    sharded cluster takes an upsert only with (docs/deploy.md)."""
    return {"_id": profile_id(*user), "bot_id": user[0], "user_id": user[1]}


def _halves(chunk: Chunk) -> list[Chunk]:
    middle = len(chunk.positions) // 2
    return [Chunk(chunk.positions[:middle]), Chunk(chunk.positions[middle:])]


def _order(doc: Mapping[str, Any]) -> tuple[datetime, ObjectId]:
    """A stored event's place in its timeline, as a sort key."""
    return to_utc(doc["ts"]), doc["seq"]


def _before(doc: Mapping[str, Any], cursor: TimelineCursor) -> bool:
    ts = to_utc(doc["ts"])
    return ts < cursor.ts or (cursor.seq is not None and ts == cursor.ts
                              and doc["seq"] < cursor.seq)


def _unstorable(event: Event, reason: str) -> Event:
    data = {"name": UNSTORABLE, "type": str(event.type), "reason": reason}
    return replace(event, type=EventType.CUSTOM, data=data)


_EPOCH = datetime(1, 1, 1, tzinfo=UTC)


def place(ts: datetime, seq: ObjectId) -> str:
    """An event's place in its timeline as a string that sorts the same way:
    milliseconds since year 1, then ``seq``."""
    return f"{(ts - _EPOCH) // timedelta(milliseconds=1):015d}:{seq}"
