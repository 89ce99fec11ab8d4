"""Whether Audience knows a bot: what tells a mistyped bot id from an empty bot.

There is no list of bots: a bot comes into being with its data. A bot is
known once it has

* a profile — a user talked to it (ingestion creates the bot) or was imported;
* or a custom property — defined through the API or the CLI, inferred by
  capture, or declared by a bot definition deployed on the dummy channel.

Routes that read a bot's data (its audience, segments, properties, exports)
answer 404 for a bot that is not known, where they would otherwise answer as
if it were empty ("unknown property 'email'" for a typo in the bot id). Routes
that bring data in (events, imports, defining properties) do not ask.

A service over the :class:`~plugin.db.database.Database`; it knows no HTTP.
"""

from __future__ import annotations

from plugin.audience.profile_store import ProfileStore
from plugin.audience.property_store import PropertyStore
from plugin.core.errors import NotFound
from plugin.db.database import Database

__all__ = ["is_known_bot", "require_known_bot"]


async def is_known_bot(db: Database, bot_id: str) -> bool:
    """Whether the bot has a custom property or a profile (properties first: cached)."""
    if await PropertyStore.of(db).custom_properties(bot_id):
        return True
    return await ProfileStore.of(db).has_profiles(bot_id)


async def require_known_bot(db: Database, bot_id: str) -> None:
    """Raises:
        NotFound: the bot has no profile and no custom property.
    """
    if not await is_known_bot(db, bot_id):
        raise NotFound(f"bot {bot_id!r} has no users and no properties: check the bot id "
                       "(a bot is known once a user talks to it, users are imported or "
                       "properties are defined)", bot=bot_id)
