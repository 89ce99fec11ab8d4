"""Bot messages that arrive outside a turn's answer: a bot that answers in
several messages over time, an agent, a workflow. A target puts them in the
conversation's :class:`LateInbox` as they come (the dummy channel's
WebSocket on a server, its push in-process); a step collects them until the
bot has been quiet for the scenario's quiet period.

>>> import asyncio
>>> inbox = LateInbox()
>>> inbox.put({"text": "one moment"})
>>> asyncio.run(inbox.collect(0))
[{'text': 'one moment'}]
"""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["LateInbox", "InboxSubscriber"]


class LateInbox:
    """Messages in arrival order, collected until the sender is quiet."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    def put(self, message: dict[str, Any]) -> None:
        self._queue.put_nowait(message)

    async def collect(self, quiet: float) -> list[dict[str, Any]]:
        """Every message there now, then each that follows within ``quiet``
        seconds of the one before (of the call, for the first)."""
        found: list[dict[str, Any]] = []
        while True:
            while not self._queue.empty():
                found.append(self._queue.get_nowait())
            if quiet <= 0:
                return found
            try:
                found.append(await asyncio.wait_for(self._queue.get(), quiet))
            except TimeoutError:
                return found


class InboxSubscriber:
    """Listens to the dummy channel in-process as a WebSocket would
    (:meth:`connectors.dummy.DummyChannel.subscribe`), into an inbox."""

    def __init__(self, inbox: LateInbox) -> None:
        self.inbox = inbox

    async def send_json(self, data: Any) -> None:
        if isinstance(data, dict) and data.get("type") == "message":
            self.inbox.put(dict(data["message"]))

    async def close(self) -> bool:
        return True
