"""Every collection's indexes, in one table to review together.

Capability-neutral data, like the collection names in
:mod:`plugin.core.constants`: what a query needs indexed is decided with the
query, but which indexes exist (each one slows every write to its
collection) is weighed here.
"""

from __future__ import annotations

from collections.abc import Mapping

from pymongo import ASCENDING, IndexModel

from plugin.core import constants as c

__all__ = ["INDEXES"]

INDEXES: Mapping[str, list[IndexModel]] = {
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
    # The server removes a session once it has expired (it is also checked on every read).
    c.WEB_SESSIONS: [IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=0,
                                name="expires_at")],
    c.OUTBOX: [
        # The delivery worker's poll and a webhook's delivery log (SecantusDB
        # serves {webhook_id} alone from this compound index too).
        IndexModel([("webhook_id", ASCENDING), ("state", ASCENDING)], name="webhook_state"),
    ],
    c.WEBHOOKS: [IndexModel([("bot_id", ASCENDING)], name="bot")],
    # A bot's jobs, listed (the web tab's jobs page); workers claim by status.
    c.JOBS: [IndexModel([("bot_id", ASCENDING)], name="bot")],
    c.SEGMENTS: [
        IndexModel([("bot_id", ASCENDING), ("name_key", ASCENDING)], unique=True,
                   name="bot_name_key"),
    ],
}
