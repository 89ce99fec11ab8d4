"""A :class:`~simulator.runner.Simulator` on its own event loop in a background
thread, for synchronous callers: the pytest-bdd steps.

pytest-bdd steps are plain functions, and the project's tests already run a
session-wide asyncio loop; a loop of our own in a thread keeps the two apart
(no nested ``run_until_complete``, no loop-scope coupling).

Usage::

    host = SimulatorHost.start(mongo_uri=None)   # None: an embedded database
    live = host.run(host.simulator.open(run))
    host.close()
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, TypeVar

from .runner import Simulator

__all__ = ["SimulatorHost"]

T = TypeVar("T")
_CALL_TIMEOUT = 120.0  # seconds; a step timeout of its own is applied inside


class SimulatorHost:
    def __init__(self, loop: asyncio.AbstractEventLoop, thread: threading.Thread,
                 simulator: Simulator) -> None:
        self._loop = loop
        self._thread = thread
        self.simulator = simulator

    @classmethod
    def start(cls, *, mongo_uri: str | None = None, **options: Any) -> SimulatorHost:
        """``options`` go to :class:`~simulator.runner.Simulator` (``db_name``, ``rasa``)."""
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="audience-simulator",
                                  daemon=True)
        thread.start()
        host = cls(loop, thread, Simulator(mongo_uri=mongo_uri, **options))
        host.run(host.simulator.start())
        return host

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = _CALL_TIMEOUT) -> T:
        """Run ``coroutine`` on the simulator's loop and wait for its result."""
        __tracebackhide__ = True
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        try:
            return future.result(timeout)
        except FutureTimeout:
            future.cancel()
            raise TimeoutError(f"the simulator did not answer within {timeout:g}s") from None

    def close(self) -> None:
        try:
            self.run(self.simulator.close())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop.close()
