"""Human takeover: an agent starts a chat with a user, writes to them through
their channel, and assigns the conversation back to the bot.

Every step is recorded on the user's timeline as it happens (written at once,
not batched: an operator who just clicked "Start Chat" must see it).
"""

from __future__ import annotations

from typing import Any

from plugin.audience.profile_store import ProfileStore
from plugin.capture.store import CaptureStore
from plugin.core import events as ev
from plugin.core.errors import Conflict, NotFound
from plugin.db.database import Database
from plugin.handover.channels import ConnectorRegistry

__all__ = ["take_over", "assign_to_bot", "send_agent_message", "AGENT_SOURCE", "QUEUE"]

AGENT_SOURCE = "agent"
# Who holds a conversation the bot handed over before any agent took it.
QUEUE = "human:queue"


async def _profile(db: Database, bot_id: str, user_id: str) -> dict[str, Any]:
    profile = await ProfileStore.of(db).get_profile(bot_id, user_id)
    if profile is None:
        raise NotFound(f"user {user_id!r} not found in bot {bot_id!r}")
    return profile


async def take_over(db: Database, connectors: ConnectorRegistry, bot_id: str, user_id: str,
                    agent: str) -> dict[str, Any]:
    """"Start Chat": ``agent`` holds the conversation; the bot stays silent."""
    profile = await _profile(db, bot_id, user_id)
    holder = profile.get("assigned_to", "bot")
    if holder == f"human:{agent}":
        return profile
    if holder not in ("bot", QUEUE):
        raise Conflict(f"{holder.removeprefix('human:')} is already chatting with this user",
                       assigned_to=holder)
    await _assign(db, connectors, profile, f"human:{agent}", "takeover")
    return await _profile(db, bot_id, user_id)


async def assign_to_bot(db: Database, connectors: ConnectorRegistry, bot_id: str,
                        user_id: str) -> dict[str, Any]:
    """"Assign to Bot": the bot answers the user again."""
    profile = await _profile(db, bot_id, user_id)
    await _assign(db, connectors, profile, "bot", "assigned to bot")
    return await _profile(db, bot_id, user_id)


async def send_agent_message(db: Database, connectors: ConnectorRegistry, bot_id: str,
                             user_id: str, message: dict[str, Any]) -> list[dict[str, Any]]:
    """Deliver a message the agent holding the conversation wrote; return it as delivered."""
    profile = await _profile(db, bot_id, user_id)
    holder = profile.get("assigned_to", "bot")
    if not holder.startswith("human:"):
        raise Conflict("the bot holds this conversation: start a chat (takeover) first",
                       assigned_to=holder)
    connector = connectors.require(profile.get("source"))
    delivered = await connector.deliver(bot_id, user_id, profile.get("channel"), message)
    agent = holder.removeprefix("human:")
    await CaptureStore.of(db).ingest(
        [_agent_message(bot_id, user_id, m, agent, profile.get("channel")) for m in delivered])
    return delivered


def _agent_message(bot_id: str, user_id: str, message: dict[str, Any], agent: str,
                   channel: str | None) -> ev.Event:
    event = ev.bot_message(bot_id, user_id, message.get("text"), buttons=message.get("buttons"),
                           quick_replies=message.get("quick_replies"), cards=message.get("cards"),
                           channel=channel, source=AGENT_SOURCE)
    return event.with_data({**event.data, "agent": agent})


async def _assign(db: Database, connectors: ConnectorRegistry, profile: dict[str, Any],
                  assigned_to: str, reason: str) -> None:
    bot_id, user_id = profile["bot_id"], profile["user_id"]
    await CaptureStore.of(db).ingest([ev.handover(bot_id, user_id, assigned_to, reason=reason,
                                    channel=profile.get("channel"), source=AGENT_SOURCE)])
    connector = connectors.get(profile.get("source"))
    if connector is not None:
        await connector.assignment_changed(bot_id, user_id, assigned_to)
