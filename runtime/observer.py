"""The observer: how the runtime reports what happens in a
conversation to whoever records it (a connector, forwarding to Audience).

The runtime depends on this class only; it never imports Audience capture.
"""

from __future__ import annotations

import logging
from typing import Any

from runtime.model import BotMessage

__all__ = ["Observer", "NullObserver", "Observers"]

log = logging.getLogger(__name__)


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

    async def step(self, module: str, index: int) -> None:
        """Step ``index`` (0-based) of ``module`` is about to run. For tools
        that follow the flow step by step (coverage); capture ignores it."""

    async def faq_answered(self, name: str) -> None: ...

    async def fallback(self, text: str) -> None: ...

    async def handover(self, reason: str) -> None: ...


class NullObserver(Observer):
    """An observer that ignores everything (the default)."""


class Observers(Observer):
    """Several observers as one: each hook is passed to each, in order."""

    def __init__(self, *observers: Observer) -> None:
        self.observers = observers

    async def _each(self, hook: str, *args: Any) -> None:
        for observer in self.observers:
            # As for a single observer: one that fails is logged, the others still hear.
            try:
                await getattr(observer, hook)(*args)
            except Exception:
                log.exception("observer %s.%s failed", type(observer).__name__, hook)

    async def user_message(self, text: str | None, payload: str | None) -> None:
        await self._each("user_message", text, payload)

    async def bot_message(self, message: BotMessage) -> None:
        await self._each("bot_message", message)

    async def module_entered(self, module: str) -> None:
        await self._each("module_entered", module)

    async def property_set(self, name: str, value: Any) -> None:
        await self._each("property_set", name, value)

    async def property_rejected(self, name: str, raw_value: object, reason: str) -> None:
        await self._each("property_rejected", name, raw_value, reason)

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
        await self._each("api_call", name, method, url, status, latency_ms, ok, error_kind)

    async def branch(self, module: str, index: int, label: str, condition: str) -> None:
        await self._each("branch", module, index, label, condition)

    async def step(self, module: str, index: int) -> None:
        await self._each("step", module, index)

    async def faq_answered(self, name: str) -> None:
        await self._each("faq_answered", name)

    async def fallback(self, text: str) -> None:
        await self._each("fallback", text)

    async def handover(self, reason: str) -> None:
        await self._each("handover", reason)
