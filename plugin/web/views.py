"""What a view of the audience list shows: the builder's filter, within a
segment when one is open. Pure: no I/O."""

from __future__ import annotations

from typing import Any

from plugin.audience.segments import membership_filter

__all__ = ["view_filter", "without_test_users", "names_test_users", "hides_test_users",
           "TEST_PROPERTY"]

TEST_PROPERTY = "test"  # true on test users' profiles (simulated, or from the test-bot page)


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


def without_test_users(filter_: dict[str, Any] | None) -> dict[str, Any]:
    """``filter_`` (None: everyone) without the test users: ``test`` false or
    not set (a profile from before the property), joined with AND as
    :func:`view_filter` adds a segment."""
    kept = [*((filter_ or {}).get("conditions") or [])]
    n = len(kept)
    conditions = [*kept, {"property": TEST_PROPERTY, "operator": "is_false"},
                  {"property": TEST_PROPERTY, "operator": "is_not_set"}]
    if not kept:
        return {"conditions": conditions, "expression": "1 or 2"}
    assert filter_ is not None
    expression = filter_.get("expression") or " and ".join(str(i) for i in range(1, n + 1))
    return {"conditions": conditions, "expression": f"({expression}) and ({n + 1} or {n + 2})"}


def names_test_users(filter_: dict[str, Any] | None) -> bool:
    """Whether the filter asks about test users itself (then none is hidden)."""
    return any(isinstance(c, dict) and c.get("property") == TEST_PROPERTY
               for c in (filter_ or {}).get("conditions") or [])


def hides_test_users(built: dict[str, Any] | None, show_test_users: bool) -> bool:
    """The list's rule, which exports and bulk actions follow: test users are
    left out unless "Show test users" is on or the filter asks about them."""
    return not show_test_users and not names_test_users(built)
