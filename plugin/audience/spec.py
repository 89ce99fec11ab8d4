"""Audience specs: who a bulk action, an export or a webhook is about.

A spec names either a segment or an inline filter::

    {"segment": "5f0c…"}                                     # a segment's members
    {"filter": {"conditions": [...], "expression": "1"}}     # the users a filter matches

Jobs, exports and webhooks store the spec as given and resolve it here,
each time the same way: :func:`audience_filter` turns it into a filter,
:func:`resolve_audience` also checks the segment exists and compiles the
query. :func:`find_segment` finds a segment by the name (or id) a person typed.

A service over the audience repositories; it knows no HTTP and no job.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from plugin.audience import query as audience
from plugin.audience import segments
from plugin.audience.segment_store import SegmentStore
from plugin.core.errors import NotFound
from plugin.db.database import Database

__all__ = ["ResolvedAudience", "audience_filter", "find_segment", "resolve_audience"]


class ResolvedAudience(NamedTuple):
    spec: dict[str, Any]  # as stored: {"segment": id} or {"filter": {...}}
    query: dict[str, Any]  # the compiled profile query


async def find_segment(db: Database, bot_id: str, name: str) -> dict[str, Any]:
    """The bot's segment named ``name`` (case and surrounding spaces ignored) or
    with that id.

    Raises:
        NotFound: the bot has no such segment.
    """
    key = name.strip().casefold()
    for doc in await SegmentStore.of(db).list_segments(bot_id):
        if doc["name_key"] == key or doc["_id"] == name:
            return doc
    raise NotFound(f"bot {bot_id!r} has no segment named {name!r}", segment=name)


def audience_filter(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The filter of a stored spec (a segment's membership, or the filter itself)."""
    if "segment" in spec:
        return segments.membership_filter(spec["segment"])
    return dict(spec["filter"])


async def resolve_audience(db: Database, bot_id: str,
                           spec: Mapping[str, Any]) -> ResolvedAudience:
    """The spec as it is stored, and its compiled query.

    Raises:
        NotFound: the segment does not exist. FilterError: a bad filter.
    """
    if "segment" in spec:
        segment_id = spec["segment"]
        if await SegmentStore.of(db).get_segment(bot_id, segment_id) is None:
            raise NotFound(f"no segment {segment_id!r}", segment=segment_id)
        stored: dict[str, Any] = {"segment": segment_id}
    else:
        stored = {"filter": dict(spec["filter"])}
    query = await audience.compile_audience_filter(db, bot_id, audience_filter(stored))
    return ResolvedAudience(stored, query)
