"""Group commit for callers that wait for their events: concurrent ``ingest``
calls of one process share one write.

The events API answers a batch once it is stored, so each request used to be
one ``CaptureStore.ingest``: four clients posting at once made four writes,
each with one profile update per user. Here a request's events join its
bot's queue; one writer per bot takes everything queued while the previous
write ran (up to ``max_events``), writes it with one ``ingest`` and gives
each caller its own share of the result. ``ingest`` counts each event once however events are
grouped, so grouping changes nothing but the number of writes.

A failure of a shared write that is not the database being away (which
fails every caller alike, to be retried) is retried one caller at a time, so
one caller's events can never fail another's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Sequence

from plugin.capture.store import CaptureStore, IngestResult
from plugin.core import constants as c
from plugin.core.errors import DatabaseUnavailable
from plugin.core.events import Event
from plugin.db.database import Database

__all__ = ["GroupCommit", "split_result"]

log = logging.getLogger(__name__)

_Waiting = tuple[list[Event], "asyncio.Future[IngestResult]"]


class GroupCommit:
    def __init__(self, db: Database, *, max_events: int = c.RECORDER_MAX_BATCH) -> None:
        self.db = db
        self.max_events = max_events
        self.writes = 0  # shared writes so far
        self._queues: dict[str, deque[_Waiting]] = {}
        self._writers: dict[str, asyncio.Task[None]] = {}

    async def ingest(self, events: list[Event]) -> IngestResult:
        """``CaptureStore.ingest(events)`` (events of one bot), sharing the
        write with whatever other callers queued meanwhile for that bot. A
        caller that stops waiting (a client gone) does not stop the write:
        its events are stored all the same."""
        if not events:
            return IngestResult()
        bot_id = events[0].bot_id
        share: asyncio.Future[IngestResult] = asyncio.get_running_loop().create_future()
        self._queues.setdefault(bot_id, deque()).append((events, share))
        writer = self._writers.get(bot_id)
        if writer is None or writer.done():
            self._writers[bot_id] = asyncio.create_task(
                self._write_queued(bot_id), name=f"audience-group-commit-{bot_id}")
        return await asyncio.shield(share)

    async def close(self) -> None:
        """Wait for what is queued to be written."""
        for writer in list(self._writers.values()):
            with contextlib.suppress(asyncio.CancelledError):
                await writer

    async def _write_queued(self, bot_id: str) -> None:
        queue = self._queues[bot_id]
        while queue:
            group = [queue.popleft()]
            size = len(group[0][0])
            while queue and size + len(queue[0][0]) <= self.max_events:
                size += len(queue[0][0])
                group.append(queue.popleft())
            await self._write(group)
        del self._queues[bot_id]

    async def _write(self, group: list[_Waiting]) -> None:
        self.writes += 1
        try:
            result = await CaptureStore.of(self.db).ingest(
                [event for events, _ in group for event in events])
        except DatabaseUnavailable as exc:
            for _, share in group:
                _settle(share, exc)
            return
        except Exception as exc:  # noqa: BLE001 - settled below, raised to its caller
            if len(group) == 1:
                _settle(group[0][1], exc)
                return
            log.warning("a shared capture write failed (%s); writing its %d callers one by "
                        "one", exc, len(group))
            for waiting in group:
                await self._write([waiting])
            return
        parts = split_result(result, [events for events, _ in group])
        for (_, share), part in zip(group, parts, strict=True):
            _settle(share, part)


def _settle(share: asyncio.Future[IngestResult], outcome: IngestResult | BaseException) -> None:
    if share.done():
        return
    if isinstance(outcome, BaseException):
        share.set_exception(outcome)
    else:
        share.set_result(outcome)


def split_result(result: IngestResult, groups: Sequence[Sequence[Event]]) -> list[IngestResult]:
    """The result of one ingest of several callers' events of one bot
    (``groups``, laid end to end in this order) as each caller's own. A
    rejection goes to the first caller that gave its user and event id (a
    later one's is a duplicate)."""
    parts: list[IngestResult] = []
    caller_of: dict[tuple[str, str], int] = {}
    start = 0
    for n, events in enumerate(groups):
        duplicates = {p - start for p in result.duplicate_positions
                      if start <= p < start + len(events)}
        parts.append(IngestResult(accepted=len(events) - len(duplicates),
                                  duplicate_positions=duplicates))
        for event in events:
            caller_of.setdefault((event.user_id, event.id), n)
        start += len(events)
    for rejection in result.rejected:
        parts[caller_of[rejection.user_id, rejection.event_id]].rejected.append(rejection)
    for refused in result.unstorable:
        parts[caller_of[refused.user_id, refused.event_id]].unstorable.append(refused)
    return parts
