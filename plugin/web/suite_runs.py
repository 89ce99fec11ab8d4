"""Scenario suites the test-bot page runs in the background, with their
progress: the page starts one and polls it, and is never kept waiting.

Runs live in this server process only (a restart forgets them; each run's
test users and timelines stay in the database). The registry keeps a
reference to every task, records a run that breaks as its error, keeps the
last :data:`KEPT_RUNS` runs, and cancels what still runs when the server
stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from aiohttp import web

from plugin.core.errors import NotFound
from plugin.core.events import utc_now
from plugin.handover.testers import ScenarioOutcome, TestSuite

__all__ = ["SuiteRun", "SuiteRuns", "SUITE_RUNS", "KEPT_RUNS", "stop_suite_runs"]

log = logging.getLogger(__name__)
KEPT_RUNS = 20


@dataclass(slots=True)
class SuiteRun:
    id: str
    bot_id: str
    files: list[str]
    total: int
    started_at: datetime
    results: list[ScenarioOutcome] = field(default_factory=list)
    finished: bool = False
    error: str | None = None

    @property
    def passed(self) -> int:
        return sum(r.passed for r in self.results)

    @property
    def failed(self) -> int:
        return len(self.results) - self.passed


class SuiteRuns:
    def __init__(self) -> None:
        self._runs: dict[str, SuiteRun] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, bot_id: str, suite: TestSuite) -> SuiteRun:
        run = SuiteRun(uuid.uuid4().hex[:12], bot_id, list(suite.files), suite.total, utc_now())
        self._runs[run.id] = run
        for old in list(self._runs)[:-KEPT_RUNS]:
            if self._runs[old].finished:
                del self._runs[old]
        task = asyncio.create_task(self._run(run, suite), name=f"suite {run.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return run

    def get(self, bot_id: str, run_id: str) -> SuiteRun:
        run = self._runs.get(run_id)
        if run is None or run.bot_id != bot_id:
            raise NotFound(f"no suite run {run_id!r} for bot {bot_id!r} (runs are kept "
                           "until the server restarts): run the suite again")
        return run

    async def _run(self, run: SuiteRun, suite: TestSuite) -> None:
        try:
            await suite.run(run.results.append)
        # Whatever breaks the suite is shown on the page as its error.
        except Exception as exc:
            log.exception("suite run %s of bot %s broke", run.id, run.bot_id)
            run.error = f"the suite stopped: {type(exc).__name__}: {exc}"
        finally:
            run.finished = True

    async def close(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


SUITE_RUNS = web.AppKey("web_suite_runs", SuiteRuns)


async def stop_suite_runs(app: web.Application) -> None:
    await app[SUITE_RUNS].close()
