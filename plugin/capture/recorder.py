"""The recorder: the one async capture API every adapter uses.

Adapters call ``await recorder.user_message(...)`` and friends from the bot's
reply path; those calls only build an :class:`~plugin.core.events.Event` and put it
in a bounded buffer. A background writer drains the buffer in batches through
``CaptureStore.ingest``, retrying while the database is away. Batches grow
with the backlog (group commit): each write takes everything queued while the
previous one ran, up to ``max_batch``, so under load a user's many events
share one profile update, and the profile writes per event fall as the load
rises. Retried batches keep
their event ids, so an event counts once however often it is written.
``close()`` flushes what is buffered.

A full buffer drops the new event (logged and counted) rather than block the
conversation: capture must never break a bot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

from plugin.capture.store import CaptureStore, IngestResult
from plugin.core import constants as c
from plugin.core import events as ev
from plugin.core.errors import DatabaseUnavailable, ShuttingDown
from plugin.core.events import Event
from plugin.db.database import Database

__all__ = ["Recorder", "RecorderListener", "RecorderStats", "ingest_until_stored"]

log = logging.getLogger(__name__)



@dataclass(slots=True)
class RecorderStats:
    recorded: int = 0
    written: int = 0
    duplicates: int = 0
    rejected_properties: int = 0
    unstorable: int = 0  # refused by the database: kept on the timeline as ``unstorable``
    dropped: int = 0
    failed: int = 0
    retries: int = 0


class RecorderListener(Protocol):
    """Told of each event as it is buffered, and of each batch once the
    database acknowledged it (``result``) or it was given up on (``None``):
    what a caller in the same process follows instead of polling the
    database (the simulator waits for a turn's own events this way)."""

    def recorded(self, event: Event) -> None: ...

    def written(self, events: list[Event], result: IngestResult | None) -> None: ...


class Recorder:
    def __init__(
        self,
        db: Database,
        *,
        source: str | None = None,
        listener: RecorderListener | None = None,
        batch_size: int = c.RECORDER_BATCH_SIZE,
        max_batch: int = c.RECORDER_MAX_BATCH,
        flush_interval: float = c.RECORDER_FLUSH_INTERVAL_S,
        max_buffer: int = c.RECORDER_MAX_BUFFER,
        retry_max_delay: float = c.RECORDER_RETRY_MAX_DELAY_S,
    ) -> None:
        self.db = db
        self.source = source
        self.listener = listener
        self.stats = RecorderStats()
        self._batch_size = batch_size
        self._max_batch = max(max_batch, batch_size)
        self._flush_interval = flush_interval
        self._max_buffer = max_buffer
        self._retry_max_delay = retry_max_delay
        self._buffer: deque[Event] = deque()
        self._in_flight = 0
        self._has_events = asyncio.Event()
        # Set by flush(): the writer stops waiting for a fuller batch.
        self._flush_requested = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._writer: asyncio.Task[None] | None = None
        self._closing = False

    async def start(self) -> Recorder:
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_forever(), name="audience-recorder")
        return self

    async def __aenter__(self) -> Recorder:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- the capture API ----------------------------------------------------------

    async def record(self, event: Event) -> str:
        """Buffer ``event`` for writing; returns its id."""
        if self._closing:
            raise ShuttingDown("the recorder is closed")
        if self.source and event.source is None:
            event = replace(event, source=self.source)
        if len(self._buffer) + self._in_flight >= self._max_buffer:
            self.stats.dropped += 1
            log.error("capture buffer full (%d events): dropped a %s event for bot %s",
                      self._max_buffer, event.type, event.bot_id)
            return event.id
        self._buffer.append(event)
        if self.listener is not None:
            self.listener.recorded(event)
        self.stats.recorded += 1
        self._idle.clear()
        self._has_events.set()
        return event.id

    async def user_message(self, bot_id: str, user_id: str, text: str | None = None,
                           **kwargs: Any) -> str:
        return await self.record(ev.user_message(bot_id, user_id, text, **kwargs))

    async def bot_message(self, bot_id: str, user_id: str, text: str | None = None,
                          **kwargs: Any) -> str:
        return await self.record(ev.bot_message(bot_id, user_id, text, **kwargs))

    async def module_entered(self, bot_id: str, user_id: str, module: str, **kwargs: Any) -> str:
        return await self.record(ev.module_entered(bot_id, user_id, module, **kwargs))

    async def property_set(self, bot_id: str, user_id: str, name: str, value: Any,
                           **kwargs: Any) -> str:
        return await self.record(ev.property_set(bot_id, user_id, name, value, **kwargs))

    async def property_rejected(self, bot_id: str, user_id: str, name: str, value: Any,
                                error: str, **kwargs: Any) -> str:
        return await self.record(ev.property_rejected(bot_id, user_id, name, value, error,
                                                      **kwargs))

    async def api_call(self, bot_id: str, user_id: str, name: str, **kwargs: Any) -> str:
        return await self.record(ev.api_call(bot_id, user_id, name, **kwargs))

    async def branch(self, bot_id: str, user_id: str, name: str, **kwargs: Any) -> str:
        return await self.record(ev.branch(bot_id, user_id, name, **kwargs))

    async def handover(self, bot_id: str, user_id: str, to: str, **kwargs: Any) -> str:
        return await self.record(ev.handover(bot_id, user_id, to, **kwargs))

    async def custom(self, bot_id: str, user_id: str, name: str,
                     data: dict[str, Any] | None = None, **kwargs: Any) -> str:
        return await self.record(ev.custom(bot_id, user_id, name, data, **kwargs))

    # -- writing ------------------------------------------------------------------

    @property
    def buffered(self) -> int:
        return len(self._buffer) + self._in_flight

    async def flush(self, timeout: float | None = None) -> None:
        """Wait until every buffered event is written (or given up on)."""
        if self._writer is None and self._buffer:
            await self.start()
        if self._buffer:
            self._flush_requested.set()
        await asyncio.wait_for(self._idle.wait(), timeout)

    async def close(self, timeout: float = 30.0) -> None:
        """Stop taking events, write what is buffered, stop the writer."""
        self._closing = True
        if self._writer is None:
            if not self._buffer:
                return
            await self.start()
        assert self._writer is not None
        try:
            await self.flush(timeout)
        except TimeoutError:
            log.error("recorder closed with %d events unwritten", self.buffered)
        self._writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._writer
        self._writer = None

    async def _write_forever(self) -> None:
        while True:
            await self._has_events.wait()
            if (len(self._buffer) < self._batch_size and self._flush_interval > 0
                    and not self._flush_requested.is_set()):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._flush_requested.wait(), self._flush_interval)
            self._flush_requested.clear()
            size = min(self._max_batch, len(self._buffer))
            batch = [self._buffer.popleft() for _ in range(size)]
            self._in_flight = len(batch)
            if not self._buffer:
                self._has_events.clear()
            await self._write(batch)
            self._in_flight = 0
            if not self._buffer:
                self._idle.set()

    async def _write(self, batch: list[Event]) -> None:
        def retrying() -> None:
            self.stats.retries += 1

        try:
            result = await ingest_until_stored(self.db, batch,
                                               max_delay=self._retry_max_delay,
                                               on_retry=retrying)
        except Exception:
            self.stats.failed += len(batch)
            log.exception("capture write failed for good; %d events lost", len(batch))
            if self.listener is not None:
                self.listener.written(batch, None)
            return
        if self.listener is not None:
            self.listener.written(batch, result)
        self.stats.written += result.accepted
        self.stats.duplicates += result.duplicates
        self.stats.rejected_properties += len(result.rejected)
        self.stats.unstorable += len(result.unstorable)


async def ingest_until_stored(db: Database, events: list[Event], *, max_delay: float,
                              on_retry: Callable[[], None] | None = None) -> IngestResult:
    """``CaptureStore.of(store).ingest(events)``, tried again with a doubling delay (up to
    ``max_delay``) for as long as the database is unavailable. Safe because
    a retried ingest counts each event once. Other errors are raised."""
    delay = 0.05
    while True:
        try:
            return await CaptureStore.of(db).ingest(events)
        except DatabaseUnavailable as exc:
            if on_retry is not None:
                on_retry()
            log.warning("storing %d events failed (%s); retrying in %.2fs", len(events),
                        exc.message, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_delay)
