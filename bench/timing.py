"""Timing one action the same way in every benchmark."""

from __future__ import annotations

import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["median_seconds"]


async def median_seconds(action: Callable[[], Awaitable[Any]], repeat: int, *,
                         warm: bool = False) -> float:
    """The median of ``repeat`` timed runs of ``action``; with ``warm``, after one
    untimed run (templates compiled, caches filled, as a running server has them)."""
    if warm:
        await action()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        await action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)
