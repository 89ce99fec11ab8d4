"""Segments: named groups of a bot's users.

A dynamic segment is a saved filter, its membership computed whenever it is
asked for; a static segment is a list of users kept on the profiles
themselves (their ``segments`` ids), changed only by adding or removing
users. Either can be used as a condition in any filter
(``{"property": "segment", "operator": "in", "value": id}``), which
:func:`plugin.audience.query.compile_audience_filter` resolves.

A service over the :class:`~plugin.db.database.Database`; it knows no HTTP.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from typing import Any

from plugin.audience import query as audience
from plugin.audience.filters import SEGMENT_PROPERTY, compile_filter
from plugin.audience.profile_store import ProfileStore
from plugin.audience.segment_store import SegmentStore
from plugin.core.errors import Conflict, InvalidRequest, NotFound
from plugin.core.events import utc_now
from plugin.db.database import Database

__all__ = [
    "MAX_NAME_LENGTH",
    "MAX_MEMBERS_PER_CALL",
    "create_segment",
    "list_segments",
    "get_segment",
    "update_segment",
    "delete_segment",
    "add_members",
    "remove_members",
    "query_members",
    "membership_filter",
]

MAX_NAME_LENGTH = 100
MAX_MEMBERS_PER_CALL = 10_000
DYNAMIC, STATIC = "dynamic", "static"


def membership_filter(segment_id: str) -> dict[str, Any]:
    """The filter whose matches are the segment's members."""
    return {"conditions": [{"property": SEGMENT_PROPERTY, "operator": "in",
                            "value": segment_id}]}


async def create_segment(db: Database, bot_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """Create a segment (and, for a static one, add ``user_ids``); it as the API shows it.

    Raises:
        InvalidRequest: a bad name; FilterError for a bad filter.
        Conflict: the name is taken.
    """
    name = _name(body["name"])
    kind = body["kind"]
    segment_id = uuid.uuid4().hex
    user_ids = _user_ids(body.get("user_ids", []))
    doc: dict[str, Any] = {"_id": segment_id, "bot_id": bot_id, "name": name,
                           "name_key": name.casefold(), "kind": kind, "favourite": False}
    if kind == DYNAMIC:
        doc["filter"] = await _checked_filter(db, bot_id, segment_id, body["filter"])
    now = utc_now()
    doc["created_at"] = doc["updated_at"] = now
    unknown: list[str] = []
    if kind == STATIC and user_ids:
        known = await ProfileStore.of(db).known_users(bot_id, user_ids)
        unknown = [u for u in user_ids if u not in known]
    await SegmentStore.of(db).insert_segment(doc)
    added = 0
    if user_ids:
        added = await SegmentStore.of(db).add_to_segment(bot_id, segment_id,
                                           [u for u in user_ids if u not in unknown])
    shown = await _shown(db, doc)
    if kind == STATIC:
        shown.update(added=added, unknown=unknown)
    return shown


async def list_segments(db: Database, bot_id: str) -> list[dict[str, Any]]:
    """Every segment of the bot, favourites first, then by name (any case)."""
    docs = await SegmentStore.of(db).list_segments(bot_id)
    docs.sort(key=lambda d: (not d.get("favourite", False), d["name_key"], d["_id"]))
    return list(await asyncio.gather(*(_shown(db, doc) for doc in docs)))


async def get_segment(db: Database, bot_id: str, segment_id: str) -> dict[str, Any]:
    return await _shown(db, await _load(db, bot_id, segment_id))


async def update_segment(db: Database, bot_id: str, segment_id: str,
                         body: Mapping[str, Any]) -> dict[str, Any]:
    """Rename, (un)favourite, or change a dynamic segment's filter.

    Raises:
        NotFound: no such segment.
        Conflict: a filter for a static segment, or a name taken.
        InvalidRequest: a bad name; FilterError for a bad filter (or one that
            refers back to this segment).
    """
    doc = await _load(db, bot_id, segment_id)
    changes: dict[str, Any] = {}
    if "name" in body:
        changes["name"] = _name(body["name"])
        changes["name_key"] = changes["name"].casefold()
    if "favourite" in body:
        changes["favourite"] = body["favourite"]
    if "filter" in body:
        if doc["kind"] != DYNAMIC:
            raise Conflict("a static segment has no filter: add or remove its members instead",
                           field="filter")
        changes["filter"] = await _checked_filter(db, bot_id, segment_id, body["filter"])
    changes["updated_at"] = utc_now()
    updated = await SegmentStore.of(db).update_segment(bot_id, segment_id, changes)
    if updated is None:
        raise NotFound(f"no segment {segment_id!r}", segment=segment_id)
    return await _shown(db, updated)


async def delete_segment(db: Database, bot_id: str, segment_id: str) -> None:
    """Delete a segment; a static one's id is taken off its members' profiles.

    Raises:
        NotFound: no such segment.
        Conflict: another segment's filter uses it.
    """
    doc = await _load(db, bot_id, segment_id)
    users = [other["name"] for other in await SegmentStore.of(db).list_segments(bot_id)
             if other["_id"] != segment_id and _refers_to(other.get("filter"), segment_id)]
    if users:
        raise Conflict(f"segment {doc['name']!r} is used in the filter of: "
                       f"{', '.join(sorted(users))}; change those first", used_by=sorted(users))
    await SegmentStore.of(db).delete_segment(bot_id, segment_id)
    if doc["kind"] == STATIC:
        await SegmentStore.of(db).remove_from_segment(bot_id, segment_id)


async def add_members(db: Database, bot_id: str, segment_id: str,
                      raw_ids: list[str]) -> dict[str, Any]:
    """Add users to a static segment: ``{"added", "unknown"}``.

    Raises:
        NotFound, Conflict (a dynamic segment), InvalidRequest (bad ids).
    """
    user_ids = await _static_call(db, bot_id, segment_id, raw_ids)
    known = await ProfileStore.of(db).known_users(bot_id, user_ids)
    added = await SegmentStore.of(db).add_to_segment(
        bot_id, segment_id, [u for u in user_ids if u in known])
    return {"added": added, "unknown": [u for u in user_ids if u not in known]}


async def remove_members(db: Database, bot_id: str, segment_id: str,
                         raw_ids: list[str]) -> dict[str, Any]:
    """Remove users from a static segment: ``{"removed", "unknown"}``."""
    user_ids = await _static_call(db, bot_id, segment_id, raw_ids)
    known = await ProfileStore.of(db).known_users(bot_id, user_ids)
    removed = await SegmentStore.of(db).remove_from_segment(bot_id, segment_id,
                                              [u for u in user_ids if u in known])
    return {"removed": removed, "unknown": [u for u in user_ids if u not in known]}


async def query_members(db: Database, bot_id: str, segment_id: str, *, sort: str, limit: int,
                        cursor: str | None, cursor_key: bytes) -> audience.AudiencePage:
    """One page of the segment's members (computed now for a dynamic one); the
    cursors are bound to the segment (see :func:`plugin.audience.query.query_audience`)."""
    await _load(db, bot_id, segment_id)
    return await audience.query_audience(db, bot_id, membership_filter(segment_id),
                                         sort=sort, limit=limit, cursor=cursor,
                                         cursor_key=cursor_key)


async def _static_call(db: Database, bot_id: str, segment_id: str,
                       raw_ids: list[str]) -> list[str]:
    user_ids = _user_ids(raw_ids)
    doc = await _load(db, bot_id, segment_id)
    if doc["kind"] != STATIC:
        raise Conflict(f"segment {doc['name']!r} is dynamic: its members are the users its "
                       "filter matches, and cannot be added or removed", segment=segment_id)
    return user_ids


async def _load(db: Database, bot_id: str, segment_id: str) -> dict[str, Any]:
    doc = await SegmentStore.of(db).get_segment(bot_id, segment_id)
    if doc is None:
        raise NotFound(f"no segment {segment_id!r}", segment=segment_id)
    return doc


async def _shown(db: Database, doc: Mapping[str, Any]) -> dict[str, Any]:
    shown: dict[str, Any] = {"id": doc["_id"], "name": doc["name"], "kind": doc["kind"],
                             "favourite": doc.get("favourite", False),
                             "created_at": doc["created_at"], "updated_at": doc["updated_at"]}
    if doc["kind"] == DYNAMIC:
        shown["filter"] = doc["filter"]
    shown["count"] = await audience.count_audience(db, doc["bot_id"],
                                                   membership_filter(doc["_id"]))
    return shown


async def _checked_filter(db: Database, bot_id: str, segment_id: str,
                          filter_: Mapping[str, Any]) -> dict[str, Any]:
    """``filter_`` once it compiles as this segment's filter (no cycle through it)."""
    refs = await audience.segment_refs(db, bot_id)
    compile_filter(dict(filter_), await audience.catalog(db, bot_id),
                   segments=refs, inside=segment_id)
    return {"conditions": list(filter_.get("conditions", [])),
            "expression": filter_.get("expression")}


def _name(raw: str) -> str:
    name = raw.strip()
    if not 1 <= len(name) <= MAX_NAME_LENGTH:
        raise InvalidRequest(f"'name' must be 1 to {MAX_NAME_LENGTH} characters once trimmed",
                             field="name")
    return name


def _user_ids(raw: list[str]) -> list[str]:
    if len(raw) > MAX_MEMBERS_PER_CALL:
        raise InvalidRequest(f"at most {MAX_MEMBERS_PER_CALL} user ids per call, got {len(raw)}",
                             field="user_ids")
    return list(dict.fromkeys(raw))


def _refers_to(filter_: Mapping[str, Any] | None, segment_id: str) -> bool:
    if not filter_:
        return False
    return any(isinstance(c, Mapping) and c.get("property") == SEGMENT_PROPERTY
               and c.get("value") == segment_id for c in filter_.get("conditions", []))
