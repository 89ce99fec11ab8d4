"""The seam between Audience and the connectors that own conversations.

Audience does not talk to channels itself. A connector (the dummy channel,
a Rasa adapter, …) registers here under the ``source`` its users' profiles
carry, and Audience calls it to deliver a message a human agent wrote, or to
say who holds a conversation now. ``plugin`` defines the protocol; it never
imports a connector.
"""

from __future__ import annotations

from typing import Any, Protocol

from plugin.core.errors import Conflict

__all__ = ["ChannelConnector", "ConnectorRegistry"]


class ChannelConnector(Protocol):
    source: str

    async def deliver(self, bot_id: str, user_id: str, channel: str | None,
                      message: dict[str, Any]) -> list[dict[str, Any]]:
        """Send ``message`` to the user; return the messages as delivered."""

    async def assignment_changed(self, bot_id: str, user_id: str, assigned_to: str) -> None:
        """``assigned_to`` (``bot`` or ``human:<agent>``) now holds the conversation."""

    def has_module(self, bot_id: str, module: str) -> bool:
        """Whether ``bot_id``, as this connector runs it, has conversation module ``module``."""

    def modules(self, bot_id: str) -> list[str]:
        """The conversation modules of ``bot_id`` as this connector runs it (none
        if it does not run it): what a workflow may start."""

    async def start_module(self, bot_id: str, user_id: str, channel: str | None,
                           module: str) -> list[dict[str, Any]]:
        """Start ``module`` for the user as if they had triggered it (workflows); the
        connector records the turn itself. Return the messages as delivered."""


class ConnectorRegistry:
    def __init__(self) -> None:
        self._by_source: dict[str, ChannelConnector] = {}

    def register(self, connector: ChannelConnector) -> None:
        self._by_source[connector.source] = connector

    def get(self, source: str | None) -> ChannelConnector | None:
        return self._by_source.get(source or "")

    def all(self) -> list[ChannelConnector]:
        return list(self._by_source.values())

    def require(self, source: str | None) -> ChannelConnector:
        connector = self.get(source)
        if connector is None:
            raise Conflict(f"this user came through {source!r}, which has no connector in this "
                           "server to deliver messages", source=source)
        return connector
