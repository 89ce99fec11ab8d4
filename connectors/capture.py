"""The runtime's observer that forwards what happens to the Audience recorder.

One observer per turn: it knows the bot, the user and the channel, so the
runtime only reports facts. Calls only buffer events (the recorder writes in
the background), so capture stays off the bot's reply path.
"""

from __future__ import annotations

from typing import Any

from plugin.capture.recorder import Recorder
from plugin.handover.takeover import QUEUE
from runtime.model import BotMessage
from runtime.observer import Observer

__all__ = ["RecorderObserver"]


class RecorderObserver(Observer):
    def __init__(self, recorder: Recorder, bot_id: str, user_id: str, channel: str,
                 source: str) -> None:
        self._recorder = recorder
        self._bot_id = bot_id
        self._user_id = user_id
        # The source is set here so the recorder need not copy each event to add it.
        self._meta = {"channel": channel, "source": source}

    async def user_message(self, text: str | None, payload: str | None) -> None:
        await self._recorder.user_message(self._bot_id, self._user_id, text, payload=payload,
                                          **self._meta)

    async def bot_message(self, message: BotMessage) -> None:
        await self.delivered(message.to_dict())

    async def delivered(self, message: dict[str, Any]) -> None:
        await self._recorder.bot_message(
            self._bot_id, self._user_id, message.get("text"), buttons=message.get("buttons"),
            quick_replies=message.get("quick_replies"), cards=message.get("cards"), **self._meta)

    async def module_entered(self, module: str) -> None:
        await self._recorder.module_entered(self._bot_id, self._user_id, module, **self._meta)

    async def property_set(self, name: str, value: Any) -> None:
        await self._recorder.property_set(self._bot_id, self._user_id, name, value, **self._meta)

    async def property_rejected(self, name: str, raw_value: object, reason: str) -> None:
        await self._recorder.property_rejected(self._bot_id, self._user_id, name, raw_value,
                                               reason, **self._meta)

    async def api_call(self, name: str, method: str, url: str, status: int | None,
                       latency_ms: float, ok: bool, error_kind: str | None) -> None:
        await self._recorder.api_call(self._bot_id, self._user_id, name, method=method, url=url,
                                      status=status, latency_ms=latency_ms, ok=ok,
                                      error=error_kind, **self._meta)

    async def branch(self, module: str, index: int, label: str, condition: str) -> None:
        await self._recorder.branch(self._bot_id, self._user_id, label, module=module,
                                    condition=condition, **self._meta)

    async def faq_answered(self, name: str) -> None:
        await self._recorder.custom(self._bot_id, self._user_id, "faq_answered",
                                    {"faq": name}, **self._meta)

    async def fallback(self, text: str) -> None:
        await self._recorder.custom(self._bot_id, self._user_id, "fallback", {"text": text},
                                    **self._meta)

    async def handover(self, reason: str) -> None:
        await self._recorder.handover(self._bot_id, self._user_id, QUEUE, reason=reason,
                                      **self._meta)
