"""How a profile is identified, and what on it is capture's own bookkeeping."""

from __future__ import annotations

__all__ = ["INTERNAL_PROFILE_FIELDS", "profile_id"]

# Bookkeeping on profiles that no reader outside capture is shown.
INTERNAL_PROFILE_FIELDS = ("rev", "last_place", "events_folded", "created_by")


def profile_id(bot_id: str, user_id: str) -> str:
    """The profile's ``_id``: unambiguous for any pair of ids (length-prefixed)."""
    return f"{len(bot_id)}:{bot_id}:{len(user_id)}:{user_id}"
