"""Stopping a background worker: let it finish what it holds, for a while."""

from __future__ import annotations

import asyncio
import contextlib

__all__ = ["drain_then_cancel", "sleep_unless"]


async def drain_then_cancel(task: asyncio.Task[None], drain_s: float) -> None:
    """Wait up to ``drain_s`` for ``task`` (already told to stop) to end, then cancel it."""
    try:
        await asyncio.wait_for(asyncio.shield(task), drain_s)
    except TimeoutError:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def sleep_unless(stopping: asyncio.Event, seconds: float) -> None:
    """Sleep ``seconds``, or less if ``stopping`` is set meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), seconds)
