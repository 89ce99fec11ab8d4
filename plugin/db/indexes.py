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

__all__ = ["INDEXES", "RETIRED"]

INDEXES: Mapping[str, list[IndexModel]] = {
    c.PROFILES: [
        # Capture's upsert key: every profile write finds its profile by it.
        IndexModel([("bot_id", ASCENDING), ("user_id", ASCENDING)], unique=True,
                   name="bot_user"),
        # The audience's common filters. SecantusDB uses an index only for a
        # flat query whose fields are one index's fields, or a prefix of them
        # (see plugin.audience.filters.scoped_query); each of these is the
        # winning plan of a filter in tests/integration/test_api_audience.py.
        # Every index slows every profile write (most of all one whose field
        # capture changes each turn), so no index without a filter that needs it.
        *[IndexModel([("bot_id", ASCENDING), (field, ASCENDING)], name=f"bot_{field}")
          for field in ("last_message_at", "created_at", "current_module",
                        "attributes.email", "attributes.phone")],
        # A channel alone (its prefix), and new users of a channel.
        IndexModel([("bot_id", ASCENDING), ("channel", ASCENDING), ("created_at", ASCENDING)],
                   name="bot_channel_created_at"),
    ],
    c.EVENTS: [
        # A user's timeline (chunks by their newest event: plugin.capture.chunks).
        IndexModel([("bot_id", ASCENDING), ("user_id", ASCENDING), ("ts", ASCENDING)],
                   name="bot_user_ts"),
        # Each event is stored once, whichever chunk holds it (an event's key
        # names its bot and user: the two fields only make the index's prefix
        # the shard key, which a unique index on a sharded collection needs).
        IndexModel([("bot_id", ASCENDING), ("user_id", ASCENDING), ("keys", ASCENDING)],
                   unique=True, name="bot_user_keys"),
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
    # A turn checks its conversation out by (bot, user): unique, so two
    # processes cannot both create it (plugin.handover.store).
    c.CONVERSATIONS: [
        IndexModel([("bot_id", ASCENDING), ("user_id", ASCENDING)], unique=True,
                   name="bot_user"),
    ],
    # Each process's poll for its sockets' messages; removed once no poll looks back that far.
    c.OUTBOUND: [
        IndexModel([("to", ASCENDING), ("at", ASCENDING)], name="to_at"),
        IndexModel([("at", ASCENDING)], expireAfterSeconds=c.OUTBOUND_KEEP_S, name="at"),
    ],
}

# Indexes an earlier version created and this one does not: dropped at start,
# so a database carried over does not pay for them on every write.
RETIRED: Mapping[str, list[str]] = {
    c.PROFILES: ["bot_channel"],  # now the prefix of bot_channel_created_at
}
