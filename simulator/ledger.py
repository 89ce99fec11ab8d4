"""Following the in-process recorder's acknowledged writes: a check waits for
the ids of the events its own conversation produced, not for time, and not
for every other conversation's events (a global flush).

The :class:`CaptureLedger` is the recorder's listener. Each event is pending
from the moment it is buffered until the database acknowledges its batch;
:meth:`CaptureLedger.settled` returns once a (bot, user)'s pending set is
empty. What was acknowledged is kept as the timeline holds it (oldest first,
a value capture refused marked ``rejected``, an event the database could not
store replaced by its ``unstorable`` record), so a check reads the turn's
events without a query; the profile is still read from the database.

A batch given up on (the database gone for good) settles its events too,
and :meth:`settled` raises, so a check fails at once with the reason instead
of waiting out its timeout.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from plugin.capture.store import IngestResult
from plugin.core.events import Event

__all__ = ["CaptureLedger", "CaptureLost"]

_Key = tuple[str, str]


class CaptureLost(Exception):
    """Events of the conversation were never stored."""


class CaptureLedger:
    def __init__(self) -> None:
        self._pending: dict[_Key, set[str]] = defaultdict(set)
        self._events: dict[_Key, list[dict[str, Any]]] = defaultdict(list)
        self._seen: dict[_Key, set[str]] = defaultdict(set)
        self._lost: dict[_Key, int] = defaultdict(int)
        self._settled: dict[_Key, asyncio.Event] = {}

    def _event(self, key: _Key) -> asyncio.Event:
        if key not in self._settled:
            self._settled[key] = asyncio.Event()
            self._settled[key].set()
        return self._settled[key]

    # --- the recorder's listener ---------------------------------------------------

    def recorded(self, event: Event) -> None:
        key = (event.bot_id, event.user_id)
        self._pending[key].add(event.id)
        self._event(key).clear()

    def written(self, events: list[Event], result: IngestResult | None) -> None:
        rejected = {r.event_id: r.reason for r in result.rejected} if result else {}
        unstorable = {r.event_id: r.reason for r in result.unstorable} if result else {}
        touched: set[_Key] = set()
        for event in events:
            key = (event.bot_id, event.user_id)
            touched.add(key)
            self._pending[key].discard(event.id)
            if result is None:
                self._lost[key] += 1
                continue
            if event.id in self._seen[key]:
                continue  # a duplicate: stored once
            self._seen[key].add(event.id)
            data = dict(event.data)
            kind = str(event.type)
            if event.id in rejected:
                data.update(rejected=True, error=rejected[event.id])
            if event.id in unstorable:
                kind, data = "custom", {"name": "unstorable", "reason": unstorable[event.id]}
            self._events[key].append({"type": kind, "data": data, "ts": event.ts,
                                      "channel": event.channel})
        for key in touched:
            if not self._pending[key]:
                self._event(key).set()

    # --- readers ---------------------------------------------------------------------

    async def settled(self, bot_id: str, user_id: str) -> None:
        """Wait until every event recorded so far for the user is acknowledged.

        Raises:
            CaptureLost: some of them were given up on.
        """
        key = (bot_id, user_id)
        await self._event(key).wait()
        if self._lost.get(key):
            raise CaptureLost(f"{self._lost[key]} event(s) of user {user_id!r} were never "
                              "stored (the database failed); see the log")

    def events(self, bot_id: str, user_id: str) -> list[Mapping[str, Any]]:
        """The user's acknowledged events, oldest first (by time, then arrival)."""
        return sorted(self._events.get((bot_id, user_id), []), key=lambda e: e["ts"])

    def forget(self, bot_id: str, user_id: str) -> None:
        key = (bot_id, user_id)
        for table in (self._pending, self._events, self._seen, self._lost, self._settled):
            table.pop(key, None)
