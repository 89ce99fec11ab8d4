"""Where the runtime keeps conversations when they must outlive the process, or
be shared by several: a :class:`ConversationStore` (the host gives one, e.g.
``connectors.conversations.MongoConversations``). Without one, conversations
live in the :class:`~runtime.engine.Runtime`'s memory, as they always did.

A turn *checks a conversation out* — it takes it, waiting while another
process has it, and reads its saved state — runs, and *checks it in* — saves
the new state and lets it go. So two processes that get the same user's turns
one after the other each see the state the other left, and never run two of
that user's turns at once.

The state carries the fingerprint of the bot it was reached with
(:func:`bot_fingerprint`): a conversation checked out under another
definition of the bot ends its flow (its positions mean nothing in the new
modules), as a redeploy in one process always did; the same bot deployed again
(every process at start, a restart) changes nothing.

Imports no aiohttp, nothing from ``connectors``, ``simulator`` or ``plugin``.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from typing import Any, Protocol

from runtime.model import Bot

__all__ = ["ConversationStore", "bot_fingerprint"]


class ConversationStore(Protocol):
    async def check_out(self, bot_id: str, user_id: str) -> Mapping[str, Any] | None:
        """Take the conversation for one turn (wait while another process has it);
        its saved state, ``None`` if it has none yet."""

    async def check_in(self, bot_id: str, user_id: str, state: Mapping[str, Any]) -> None:
        """Save the conversation's state at the end of a turn, and let it go."""

    async def peek(self, bot_id: str, user_id: str) -> Mapping[str, Any] | None:
        """The saved state, without taking the conversation (``None``: none yet)."""


def bot_fingerprint(bot: Bot) -> str:
    """The same for the same definition, wherever it was loaded from."""
    text = repr(dataclasses.replace(bot, source=""))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
