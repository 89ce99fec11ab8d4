"""The observer: how the runtime reports what happens in a
conversation to whoever records it (a connector, forwarding to Audience).

The runtime depends on this class only; it never imports Audience capture.
"""

from __future__ import annotations

from typing import Any

from runtime.model import BotMessage

__all__ = ["Observer", "NullObserver"]


class Observer:
    """What happens in a conversation, as the runtime reports it. Every hook
    does nothing here: an observer overrides the ones it records.

    All methods are awaited in the order things happen. The runtime calls every
    method except :meth:`bot_message`, which the connector calls for each
    message of a :class:`TurnResult` once it has adapted it to the channel. An
    observer that raises is logged and ignored: capture never breaks a
    conversation.
    """

    async def user_message(self, text: str | None, payload: str | None) -> None: ...

    async def bot_message(self, message: BotMessage) -> None: ...

    async def module_entered(self, module: str) -> None: ...

    async def property_set(self, name: str, value: Any) -> None: ...

    async def property_rejected(self, name: str, raw_value: object, reason: str) -> None: ...

    async def api_call(
        self,
        name: str,
        method: str,
        url: str,
        status: int | None,
        latency_ms: float,
        ok: bool,
        error_kind: str | None,
    ) -> None:
        """``url`` has no userinfo and no secret query values."""

    async def branch(self, module: str, index: int, label: str, condition: str) -> None:
        """``index`` is the arm's position in the branch (the ``else`` arm included)."""

    async def faq_answered(self, name: str) -> None: ...

    async def fallback(self, text: str) -> None: ...

    async def handover(self, reason: str) -> None: ...


class NullObserver(Observer):
    """An observer that ignores everything (the default)."""
