"""Messages for a user's WebSockets, whichever process of the deployment holds
them: an agent writes on one server, a broadcast runs on another, the user's
socket is open on a third.

The process that sends publishes the frames in the database
(:class:`~plugin.handover.store.OutboundStore`) besides pushing them to the
sockets it holds itself; every process polls for the frames of the users whose
sockets it holds, written by the others, and pushes them. The database has no
change streams to wait on (SecantusDB has none; a replica set would, but one
simple path serves both), so the poll looks ``OUTBOUND_WINDOW_S`` back — for
writers' clocks a little apart and inserts that land late — and remembers
what it has pushed, so each frame reaches each socket once. A socket gets only
what was written after it opened.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from plugin.core import constants as c
from plugin.core.background import sleep_unless
from plugin.core.events import utc_now
from plugin.db.database import Database
from plugin.handover.store import PROCESS_ID, OutboundStore, recipient

__all__ = ["Relay", "Push"]

log = logging.getLogger(__name__)

# Pushes frames to this process's sockets of (bot, user).
Push = Callable[[str, str, list[dict[str, Any]]], Awaitable[None]]
_CHUNK = 500  # recipients per query


class Relay:
    def __init__(self, db: Database, push: Push, *, poll_s: float = c.OUTBOUND_POLL_S,
                 window_s: float = c.OUTBOUND_WINDOW_S) -> None:
        self.db = db
        self.origin = PROCESS_ID  # this process, as the messages it writes say
        self._push = push
        self.poll_s, self.window = poll_s, timedelta(seconds=window_s)
        self._watched: dict[tuple[str, str], datetime] = {}  # since when
        self._seen: dict[Any, float] = {}  # frames pushed, by id: when (to forget them)
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> Relay:
        self._task = asyncio.create_task(self._poll_forever(), name="outbound relay")
        return self

    async def close(self) -> None:
        self._stop.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def watch(self, bot_id: str, user_id: str) -> None:
        """This process holds a socket of the user: bring it what others write from now."""
        # To the millisecond, as the database keeps times: a message written in
        # the millisecond the socket opened is the socket's.
        now = utc_now()
        self._watched.setdefault((bot_id, user_id),
                                 now.replace(microsecond=now.microsecond // 1000 * 1000))

    def unwatch(self, bot_id: str, user_id: str) -> None:
        self._watched.pop((bot_id, user_id), None)

    async def publish(self, bot_id: str, user_id: str,
                      frames: Sequence[Mapping[str, Any]]) -> None:
        """Frames for the user's sockets held by the other processes."""
        if frames:
            await OutboundStore.of(self.db).publish(bot_id, user_id, frames, self.origin)

    async def poll_once(self) -> int:
        """Push what the other processes wrote for the watched users; how many frames."""
        if not self._watched:
            return 0
        watched = dict(self._watched)
        since = utc_now() - self.window
        keys = {recipient(b, u): (b, u) for b, u in watched}
        names = list(keys)
        pushed = 0
        for start in range(0, len(names), _CHUNK):
            docs = await OutboundStore.of(self.db).for_recipients(
                names[start:start + _CHUNK], since, self.origin)
            for doc in docs:
                key = keys[doc["to"]]
                opened = watched[key]
                if doc["_id"] in self._seen or doc["at"] < opened:
                    continue
                self._seen[doc["_id"]] = time.monotonic()
                await self._push(*key, list(doc["frames"]))
                pushed += len(doc["frames"])
        self._forget()
        return pushed

    def _forget(self) -> None:
        """Drop the frames no poll can see again (older than the window, twice over)."""
        horizon = time.monotonic() - 2 * self.window.total_seconds()
        if self._seen and next(iter(self._seen.values())) < horizon:
            self._seen = {k: t for k, t in self._seen.items() if t >= horizon}

    async def _poll_forever(self) -> None:
        while not self._stop.is_set():
            try:
                await self.poll_once()
            except Exception:  # broad on purpose: logged; the relay keeps polling
                log.exception("the outbound relay's poll failed; trying again")
            await sleep_unless(self._stop, self.poll_s)
