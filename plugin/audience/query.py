"""The audience as an operator sees it: filter, count, page through and search
the profiles of one bot, and read or change its property schema.

A service over the :class:`~plugin.db.database.Database`: it compiles filters with
:mod:`plugin.audience.filters` and runs them through ProfileStore; it knows no HTTP.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from plugin.audience.cursors import CursorScope, decode_cursor, encode_cursor, sortable
from plugin.audience.filters import (
    SEGMENT_PROPERTY,
    SegmentRef,
    compile_filter,
    operators_for,
    scoped_query,
)
from plugin.audience.profile_store import ProfileStore
from plugin.audience.property_store import PropertyStore
from plugin.audience.segment_store import SegmentStore
from plugin.core.errors import InvalidRequest
from plugin.core.profiles import INTERNAL_PROFILE_FIELDS
from plugin.core.properties import SYSTEM_PROPERTIES, InvalidValue, PropertyDef, custom_property
from plugin.db.database import Database

__all__ = [
    "DEFAULT_SORT",
    "AudiencePage",
    "catalog",
    "compile_audience_filter",
    "segment_refs",
    "count_audience",
    "query_audience",
    "search_users",
    "searched",
    "sort_order",
    "describe_properties",
    "define_properties",
    "public_profile",
]

DEFAULT_SORT = "-last_message_at"
SEARCH_FIELDS = ("user_id", "attributes.first_name", "attributes.last_name", "attributes.name",
                 "attributes.email", "attributes.phone")
_PHONE_SEPARATORS = re.compile(r"[\s().\-]")
_PROFILE_DEFAULTS: Mapping[str, Any] = {"attributes": {}, "message_count": 0, "segments": [],
                                        "assigned_to": "bot"}


@dataclass(frozen=True, slots=True)
class AudiencePage:
    total: int
    users: list[dict[str, Any]]
    next: str | None
    previous: str | None = None  # set when paging with a key, past the first page


def public_profile(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A stored profile as the API shows it: no internal fields, defaults filled."""
    shown = {k: v for k, v in doc.items() if k != "_id" and k not in INTERNAL_PROFILE_FIELDS}
    return {**_PROFILE_DEFAULTS, **shown}


async def catalog(db: Database, bot_id: str) -> dict[str, PropertyDef]:
    """Every property of the bot, system ones first."""
    return {**SYSTEM_PROPERTIES, **await PropertyStore.of(db).custom_properties(bot_id)}


async def compile_audience_filter(
    db: Database, bot_id: str, filter_: Mapping[str, Any] | None, *, now: datetime | None = None
) -> dict[str, Any]:
    filter_ = dict(filter_ or {"conditions": []})
    segments = await segment_refs(db, bot_id) if _names_a_segment(filter_) else None
    compiled = compile_filter(filter_, await catalog(db, bot_id), now=now, segments=segments)
    return scoped_query(compiled, bot_id)


async def segment_refs(db: Database, bot_id: str) -> dict[str, SegmentRef]:
    """Every segment of the bot, as segment conditions in a filter resolve them."""
    return {doc["_id"]: SegmentRef(doc["_id"], doc["name"],
                                   doc.get("filter") if doc["kind"] == "dynamic" else None)
            for doc in await SegmentStore.of(db).list_segments(bot_id)}


def _names_a_segment(filter_: Mapping[str, Any]) -> bool:
    conditions = filter_.get("conditions")
    return isinstance(conditions, list) and any(
        isinstance(c, Mapping) and c.get("property") == SEGMENT_PROPERTY for c in conditions)


async def count_audience(db: Database, bot_id: str, filter_: Mapping[str, Any] | None) -> int:
    query = await compile_audience_filter(db, bot_id, filter_)
    return await ProfileStore.of(db).count_profiles(query)


async def query_audience(
    db: Database,
    bot_id: str,
    filter_: Mapping[str, Any] | None,
    *,
    sort: str = DEFAULT_SORT,
    limit: int = 50,
    cursor: str | None = None,
    cursor_key: bytes | None = None,
    backward: bool = False,
    search: str | None = None,
) -> AudiencePage:
    """One page of the users matching ``filter_`` (and, with ``search``, found by
    it as :func:`search_users` finds them), with the total.

    Pages are keyed on (sort value, profile id), not skipped over, so a page
    costs the same however deep it is and no user is shown twice or skipped
    when others arrive meanwhile. The cursor to the next page is signed with
    ``cursor_key`` and bound to the bot, the sort and the filter
    (:mod:`plugin.audience.cursors`); without a key (a one-off query: the
    CLI) the page has no ``next`` and takes no ``cursor``. ``backward`` reads
    the page before ``cursor`` (a ``previous`` cursor) instead of after it.

    Raises:
        InvalidRequest: an unknown or list property to sort by; a cursor that is
            not this server's, or is for another bot, sort or filter.
        FilterError: a filter that does not compile.
    """
    if cursor is not None and cursor_key is None:
        raise ValueError("a cursor is checked with the key it was signed with: pass cursor_key")
    properties = await catalog(db, bot_id)
    prop, direction = _sort_property(sort, properties)
    query = await compile_audience_filter(db, bot_id, filter_)
    if search is not None:
        query = searched(query, search)
    total = await ProfileStore.of(db).count_profiles(query)
    scope = CursorScope.of(bot_id, sort, filter_ if search is None
                           else {"filter": filter_, "search": search})
    backward = backward and cursor is not None
    step = -direction if backward else direction  # the order rows are read in
    page_query = query
    if cursor is not None and cursor_key is not None:
        value, last_id = decode_cursor(cursor_key, scope, prop, cursor)
        page_query = {"$and": [query, _keyset_condition(prop.field, step, value, last_id)]}
    docs = await ProfileStore.of(db).find_profiles(
        page_query, [(prop.field, step), ("_id", step)], limit + 1)
    more = len(docs) > limit
    docs = docs[:limit][::-1] if backward else docs[:limit]
    next_cursor = previous = None
    if cursor_key is not None and docs:
        # Read backward, there are rows after (the page it came from); read
        # forward from a cursor, there are rows before.
        if more or backward:
            next_cursor = encode_cursor(cursor_key, scope, prop,
                                        _get_path(docs[-1], prop.field), docs[-1]["_id"])
        if (more and backward) or (cursor is not None and not backward):
            previous = encode_cursor(cursor_key, scope, prop,
                                     _get_path(docs[0], prop.field), docs[0]["_id"])
    return AudiencePage(total, [public_profile(d) for d in docs], next_cursor, previous)


async def search_users(db: Database, bot_id: str, text: str, limit: int) -> list[dict[str, Any]]:
    """Users whose id, name, email or phone starts with ``text`` (any case)."""
    docs = await ProfileStore.of(db).find_profiles(
        {"bot_id": bot_id, "$or": _search_alternatives(text)},
        [("last_message_at", -1), ("_id", -1)], limit)
    return [public_profile(d) for d in docs]


def searched(query: dict[str, Any], text: str) -> dict[str, Any]:
    """``query`` narrowed to the users ``text`` finds, as :func:`search_users` finds them.

    Raises:
        InvalidRequest: empty text, or longer than 200 characters.
    """
    return {"$and": [query, {"$or": _search_alternatives(text)}]}


def sort_order(sort: str, properties: Mapping[str, PropertyDef]) -> list[tuple[str, int]]:
    """The order ``sort`` (a property; a leading '-' for descending) reads
    profiles in, as :func:`query_audience` pages them: by its field, then by
    profile id.

    Raises:
        InvalidRequest: an unknown or list property.
    """
    prop, direction = _sort_property(sort, properties)
    return [(prop.field, direction), ("_id", direction)]


def _search_alternatives(text: str) -> list[dict[str, Any]]:
    """The conditions of which one a user found by ``text`` meets."""
    text = text.strip()
    if not text:
        raise InvalidRequest("query parameter 'q' must not be empty", parameter="q")
    if len(text) > 200:
        raise InvalidRequest("query parameter 'q' is longer than 200 characters", parameter="q")
    prefix = {"$regex": "^" + re.escape(text), "$options": "i"}
    alternatives: list[dict[str, Any]] = [{field: prefix} for field in SEARCH_FIELDS]
    digits = _PHONE_SEPARATORS.sub("", text)
    if digits != text and digits:
        alternatives.append({"attributes.phone": {"$regex": "^" + re.escape(digits)}})
    return alternatives


def describe_properties(properties: Mapping[str, PropertyDef]) -> list[dict[str, Any]]:
    return [{**prop.to_dict(), "operators": operators_for(prop.type)}
            for prop in properties.values()]


async def define_properties(db: Database, bot_id: str, raw: list[dict[str, Any]]) -> None:
    """Define or change custom properties: all of them, or none if one is invalid."""
    checked: list[PropertyDef] = []
    seen: set[str] = set()
    for position, item in enumerate(raw):
        name = item["name"]
        if name in seen:
            raise InvalidRequest(f"properties/{position}: {name!r} is defined twice",
                                 errors=[{"path": f"properties/{position}/name",
                                          "message": f"{name!r} is defined twice"}])
        seen.add(name)
        try:
            checked.append(custom_property(name, item["type"], item.get("label", ""),
                                           tuple(item.get("choices", ()))))
        except InvalidValue as exc:
            raise InvalidRequest(f"properties/{position}: {exc.reason}",
                                 errors=[{"path": f"properties/{position}",
                                          "message": exc.reason}]) from None
    for prop in checked:
        await PropertyStore.of(db).define_property(bot_id, prop)


def _sort_property(sort: str, properties: Mapping[str, PropertyDef]) -> tuple[PropertyDef, int]:
    name, direction = (sort[1:], -1) if sort.startswith("-") else (sort, 1)
    prop = properties.get(name)
    if prop is None:
        raise InvalidRequest(f"cannot sort by unknown property {name!r}", field="sort")
    if not sortable(prop):
        raise InvalidRequest(f"cannot sort by {prop.type} property {name!r}: a list has no "
                             "one value to order by", field="sort")
    return prop, direction


def _get_path(doc: Mapping[str, Any], field: str) -> Any:
    value: Any = doc
    for part in field.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def _keyset_condition(field: str, direction: int, value: Any, last_id: Any) -> dict[str, Any]:
    """Profiles after (value, last_id) in the order (field, _id) both ``direction``.

    MongoDB puts missing and null values before every other value, so they
    come first going up and last going down.
    """
    after, beyond = ("$gt", "$gt") if direction == 1 else ("$lt", "$lt")
    if value is None:
        tie = {field: None, "_id": {beyond: last_id}}
        return {"$or": [tie, {field: {"$ne": None}}]} if direction == 1 else tie
    options = [{field: {after: value}}, {field: value, "_id": {beyond: last_id}}]
    if direction == -1:
        options.append({field: None})
    return {"$or": options}
