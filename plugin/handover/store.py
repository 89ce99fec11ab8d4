"""What the processes of one deployment share about conversations, so a user's
turns and messages may land on any of them.

:class:`ConversationStore` keeps a runtime's conversation state between turns
(one document per bot and user). A turn *checks it out*: one atomic update
takes it for this process, for at most ``CONVERSATION_LEASE_S``, and returns
the state saved last; a turn of the same user on another process meanwhile
waits until it is *checked in* (state saved, hold let go) or the lease has run
out (its process died mid-turn). The check-in is guarded by the holder: a
process whose lease ran out and was taken over saves nothing, so it never
overwrites a newer turn's state. The document also keeps the numbered options
a channel last offered the user, so that "2" typed on one process answers
the list another process sent.

:class:`DefinitionStore` keeps the bot definitions deployed through the API
(each server deployed its ``--bot`` files itself), so every server runs the
version deployed last.

:class:`OutboundStore` holds the messages for a user's WebSockets, written by
the process that sends them and read by every process for the sockets it
holds (:mod:`plugin.handover.relay`); a TTL index removes them.

The state is opaque here: the runtime decides what it holds.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from plugin.core import constants as c
from plugin.core.events import utc_now
from plugin.db.database import Database, Repository, reports_unavailable

__all__ = ["ConversationStore", "DefinitionStore", "OutboundStore", "PROCESS_ID",
           "recipient"]

log = logging.getLogger(__name__)

# This process, among a deployment's: who holds a conversation, who wrote a message.
PROCESS_ID = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
_WAIT_FIRST_S, _WAIT_MAX_S = 0.01, 0.1


def recipient(bot_id: str, user_id: str) -> str:
    """One key for a bot's user (an indexable string; the unit separator is in neither id)."""
    return f"{bot_id}\x1f{user_id}"


class ConversationStore(Repository):
    """Implements :class:`runtime.conversations.ConversationStore` over MongoDB."""

    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self.owner = PROCESS_ID  # who holds a conversation this store checked out
        self.lease_s = c.CONVERSATION_LEASE_S

    @reports_unavailable
    async def check_out(self, bot_id: str, user_id: str) -> Mapping[str, Any] | None:
        """Hold the conversation for this process; its saved state (``None``: none yet).
        Waits while another process holds it, at most until that hold runs out."""
        wait = _WAIT_FIRST_S
        while True:
            now = utc_now()
            try:
                doc = await self.db[c.CONVERSATIONS].find_one_and_update(
                    {"bot_id": bot_id, "user_id": user_id,
                     "$or": [{"held_by": None}, {"held_until": {"$lt": now}}]},
                    {"$set": {"held_by": self.owner,
                              "held_until": now + timedelta(seconds=self.lease_s)}},
                    upsert=True, return_document=ReturnDocument.AFTER)
            except DuplicateKeyError:
                # It exists and another process holds it: the upsert's insert collided.
                await asyncio.sleep(wait)
                wait = min(wait * 2, _WAIT_MAX_S)
                continue
            state: Mapping[str, Any] | None = doc.get("state")
            return state

    @reports_unavailable
    async def check_in(self, bot_id: str, user_id: str, state: Mapping[str, Any]) -> None:
        """Save the state and let the conversation go — unless this process's hold
        ran out and another took it (then the newer state stays)."""
        result = await self.db[c.CONVERSATIONS].update_one(
            {"bot_id": bot_id, "user_id": user_id, "held_by": self.owner},
            {"$set": {"state": dict(state), "updated_at": utc_now(),
                      "held_by": None, "held_until": None}})
        if result.matched_count == 0:
            log.warning("the conversation of %r with bot %r was taken over after its turn "
                        "outlasted %.0fs; this turn's state is not saved", user_id, bot_id,
                        self.lease_s)

    @reports_unavailable
    async def peek(self, bot_id: str, user_id: str) -> Mapping[str, Any] | None:
        doc = await self.db[c.CONVERSATIONS].find_one({"bot_id": bot_id, "user_id": user_id},
                                                      {"state": 1})
        state: Mapping[str, Any] | None = doc.get("state") if doc else None
        return state

    @reports_unavailable
    async def options(self, bot_id: str, user_id: str) -> list[dict[str, str]]:
        """The numbered options the user's channel offered last (see the module docstring)."""
        doc = await self.db[c.CONVERSATIONS].find_one({"bot_id": bot_id, "user_id": user_id},
                                                      {"options": 1})
        return list(doc.get("options") or []) if doc else []

    @reports_unavailable
    async def set_options(self, bot_id: str, user_id: str,
                          options: Sequence[Mapping[str, str]]) -> None:
        await self.db[c.CONVERSATIONS].update_one(
            {"bot_id": bot_id, "user_id": user_id},
            {"$set": {"options": [dict(o) for o in options]}}, upsert=True)


class DefinitionStore(Repository):
    """Bot definitions deployed through the API, each with a version that every
    deploy increases, so that a server running an older one (or none) knows."""

    @reports_unavailable
    async def save(self, bot_id: str, text: str) -> int:
        """Keep ``text`` as the bot's definition; its new version."""
        doc = await self.db[c.BOT_DEFINITIONS].find_one_and_update(
            {"_id": bot_id}, {"$set": {"text": text, "updated_at": utc_now()},
                              "$inc": {"version": 1}},
            upsert=True, return_document=ReturnDocument.AFTER)
        return int(doc["version"])

    @reports_unavailable
    async def version(self, bot_id: str) -> int | None:
        doc = await self.db[c.BOT_DEFINITIONS].find_one({"_id": bot_id}, {"version": 1})
        return int(doc["version"]) if doc else None

    @reports_unavailable
    async def definition(self, bot_id: str) -> tuple[str, int] | None:
        """The definition and its version, if the bot was deployed through the API."""
        doc = await self.db[c.BOT_DEFINITIONS].find_one({"_id": bot_id})
        return (str(doc["text"]), int(doc["version"])) if doc else None


class OutboundStore(Repository):
    @reports_unavailable
    async def publish(self, bot_id: str, user_id: str, frames: Sequence[Mapping[str, Any]],
                      origin: str) -> None:
        """Frames (WebSocket JSON messages) for the user's sockets on every process
        (``origin``: the one writing, which has pushed them to its own)."""
        await self.db[c.OUTBOUND].insert_one({
            "to": recipient(bot_id, user_id), "frames": [dict(f) for f in frames],
            "origin": origin, "at": utc_now()})

    @reports_unavailable
    async def for_recipients(self, recipients: Sequence[str], since: datetime,
                             origin: str) -> list[dict[str, Any]]:
        """Messages for ``recipients`` written since ``since`` by processes other
        than ``origin``, oldest first."""
        cursor = self.db[c.OUTBOUND].find(
            {"to": {"$in": list(recipients)}, "at": {"$gte": since},
             "origin": {"$ne": origin}}).sort([("at", 1), ("_id", 1)])
        return [doc async for doc in cursor]
