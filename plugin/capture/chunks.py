"""How events are laid out in the ``events`` collection: a few to a document.

One document (a *chunk*) holds consecutive events of one user stored by one
write: a bot turn (the user's message, the modules, property sets, API calls
and replies it led to) is one document, not six, and a busy user's turns
written together share one. Each event keeps everything it had as a document
of its own (its key, id, ``seq``, type, time, channel and data);
:func:`stored_events` gives them back in that shape, so readers never see
chunks.

A chunk lists its events' keys (:func:`~plugin.capture.store.event_key`) in
``keys``, under a unique index (with the bot and user), so an event stored
once can never be stored again, in this chunk or another, however a retry
regroups it. Its ``_id`` is its first event's key; ``ts`` is its newest
event's time (the timeline reads chunks newest first by it) and
``first_ts`` its oldest.

Pure: building and encoding documents, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import bson
from bson import ObjectId
from bson.raw_bson import RawBSONDocument

from plugin.core.events import Event

__all__ = ["CHUNK_MAX_EVENTS", "Chunk", "chunk_document", "chunks_of", "encode_chunk",
           "stored_events"]

# Enough for the turns of a busy user's backlog; small enough that one read
# of a timeline page does not fetch a long history.
CHUNK_MAX_EVENTS = 100
# MongoDB's largest document (maxBsonObjectSize), less room for the insert
# command around it.
_MAX_DOCUMENT_BYTES = 16 * 1024 * 1024 - 16 * 1024
# What the BSON encoder raises for a value it cannot write.
_UNENCODABLE = (bson.errors.InvalidDocument, OverflowError, UnicodeEncodeError)


@dataclass(frozen=True, slots=True)
class Chunk:
    """Positions (in the events given to one ingest) stored as one document."""

    positions: tuple[int, ...]


def chunks_of(users: Mapping[Any, Sequence[int]]) -> list[Chunk]:
    """Each user's positions, in order, cut into chunks of at most
    :data:`CHUNK_MAX_EVENTS`."""
    return [Chunk(tuple(positions[i:i + CHUNK_MAX_EVENTS]))
            for positions in users.values()
            for i in range(0, len(positions), CHUNK_MAX_EVENTS)]


def chunk_document(members: Sequence[tuple[str, Event, ObjectId]],
                   recorded_at: datetime) -> dict[str, Any]:
    """The document of some events of one user, each given with its key and ``seq``."""
    first = members[0][1]
    times = [event.ts for _, event, _ in members]
    return {
        "_id": members[0][0],
        "bot_id": first.bot_id,
        "user_id": first.user_id,
        "keys": [key for key, _, _ in members],
        "ts": max(times),
        "first_ts": min(times),
        "recorded_at": recorded_at,
        "events": [{"eid": event.id, "seq": seq, "type": str(event.type), "ts": event.ts,
                    "channel": event.channel, "data": event.data}
                   for _, event, seq in members],
    }


def encode_chunk(document: Mapping[str, Any]) -> RawBSONDocument | str:
    """The chunk as BSON, or why the database cannot take it (a value BSON
    cannot hold, or more than a document may weigh)."""
    try:
        encoded = bson.encode(document)
    except _UNENCODABLE as exc:
        text = str(exc).encode("utf-8", "replace").decode("utf-8")
        return f"the database cannot store it: {text}"[:300]
    if len(encoded) > _MAX_DOCUMENT_BYTES:
        return (f"the database cannot store it: {len(encoded):,} bytes encoded, more than "
                f"a document may hold ({_MAX_DOCUMENT_BYTES:,})")
    return RawBSONDocument(encoded)


def stored_events(chunk: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """The events of a chunk, each as the document it would be on its own."""
    for key, event in zip(chunk["keys"], chunk["events"], strict=True):
        yield {"_id": key, "bot_id": chunk["bot_id"], "user_id": chunk["user_id"], **event,
               "recorded_at": chunk["recorded_at"]}
