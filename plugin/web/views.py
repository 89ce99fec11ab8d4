"""What a view of the audience list shows: the builder's filter, within a
segment when one is open. Pure: no I/O."""

from __future__ import annotations

from typing import Any

from plugin.audience.segments import membership_filter

__all__ = ["view_filter"]


def view_filter(built: dict[str, Any] | None, segment_id: str | None) -> dict[str, Any] | None:
    """The builder's filter (None: everyone), narrowed to a segment's members.

    The segment becomes one more condition, after the builder's, joined to
    the builder's expression with AND.
    """
    if segment_id is None:
        return built
    member = membership_filter(segment_id)["conditions"][0]
    if built is None:
        return membership_filter(segment_id)
    conditions = [*built["conditions"], member]
    return {"conditions": conditions,
            "expression": f"({built['expression']}) and {len(conditions)}"}
