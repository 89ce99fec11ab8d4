"""Running scenarios: the :class:`Simulator` owns what a simulate run shares
(the API stub server, an HTTP session, and for in-process bots one database,
store and recorder), opens :class:`LiveConversation` s on a target, and runs
scenario runs concurrently, each with a fresh test user.

A scenario stops at its first failed step; the others go on. A step that
takes longer than the scenario's ``timeout`` fails with that said. The one
broad ``except`` is in :meth:`Simulator.run`: whatever breaks one scenario
is recorded as its error and the suite goes on.

Usage::

    async with Simulator(mongo_uri=uri) as simulator:
        suite = await simulator.run_all(load_scenarios(Path("suite.yaml")), concurrency=8)
    print(suite.failed)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType

import aiohttp

from plugin.capture.recorder import Recorder
from plugin.core.constants import MEMORY
from plugin.core.settings import Settings
from plugin.db.database import Database
from runtime.loader import load_bot
from runtime.model import Bot

from .assertions import ExpectationFailed
from .ledger import CaptureLedger
from .live import LiveConversation, RunWatch
from .model import (
    AudienceTarget,
    Given,
    RasaTarget,
    Scenario,
    ScenarioRun,
    Step,
    WebhookTarget,
)
from .rasa_target import Rasa
from .results import Failure, Outcome, RunResult, SuiteResult, describe_transcript
from .stubs import StubServer
from .targets import (
    SOURCE,
    AudienceServer,
    InProcess,
    Target,
    Webhook,
)

__all__ = [
    "Outcome",
    "Failure",
    "RunResult",
    "SuiteResult",
    "LiveConversation",
    "Simulator",
    "RunWatch",
    "count_runs",
    "summary_counts",
    "describe_transcript",
]

log = logging.getLogger(__name__)


ProgressCallback = Callable[[RunResult], None]


class Simulator:
    """What one simulate run shares. For in-process bots it uses ``store`` if
    given, else a database at ``mongo_uri``, else an embedded one it starts and
    stops itself (lazily, when the first in-process scenario opens).

    ``audience`` is the Audience server for scenarios without a target of their
    own (``--target URL``); ``rasa`` likewise a Rasa bot, whose captures are
    read from ``store`` or the database ``db_name`` at ``mongo_uri``.
    ``watch`` follows every run (coverage).
    """

    def __init__(self, *, db: Database | None = None, mongo_uri: str | None = None,
                 db_name: str | None = None, audience: AudienceTarget | None = None,
                 rasa: RasaTarget | None = None, watch: RunWatch | None = None) -> None:
        self._db = db
        self._mongo_uri = mongo_uri
        self._db_name = db_name or f"audience_sim_{uuid.uuid4().hex[:8]}"
        self._audience = audience
        self._rasa = rasa
        self._watch = watch
        self._owned_db: Database | None = None  # opened here, so closed here
        self._recorder: Recorder | None = None
        self._in_process: InProcess | None = None
        self._lock = asyncio.Lock()
        self._bots: dict[Path, Bot] = {}
        self.stubs = StubServer()
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Simulator:
        return await self.start()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        traceback: TracebackType | None) -> None:
        await self.close()

    async def start(self) -> Simulator:
        self._session = aiohttp.ClientSession()
        await self.stubs.start()
        return self

    async def close(self) -> None:
        # In reverse order of use: capture first (it writes to the database).
        # Each is closed even when one before it fails (callbacks run last-in, first-out).
        recorder, session, owned = self._recorder, self._session, self._owned_db
        self._recorder = self._session = self._owned_db = None
        async with contextlib.AsyncExitStack() as stack:
            if owned is not None:
                stack.push_async_callback(owned.close)
            if session is not None:
                stack.push_async_callback(session.close)
            stack.push_async_callback(self.stubs.close)
            if recorder is not None:
                stack.push_async_callback(recorder.close)

    async def drain(self) -> None:
        """Wait until everything in-process runs recorded is stored."""
        if self._recorder is not None:
            await self._recorder.flush()

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("the simulator is not started")
        return self._session

    @property
    def db(self) -> Database | None:
        """The store in-process runs are captured into (once one has run)."""
        return self._db

    async def _open_store(self, *, embedded: bool) -> Database | None:
        """The store given, else one on ``mongo_uri``, else (if ``embedded``) on an
        embedded server started here. Called under ``self._lock``."""
        if self._db is None:
            if self._mongo_uri is None and not embedded:
                return None
            # The same way in as `audience serve`: MONGODB_URI, else an embedded server.
            self._db = self._owned_db = await Database.open(
                Settings(mongodb_uri=self._mongo_uri, data_dir=MEMORY, db_name=self._db_name))
        return self._db

    async def _rasa_target(self, spec: RasaTarget) -> Rasa:
        # No embedded database here: an empty one holds nothing the consumer wrote.
        async with self._lock:
            db = await self._open_store(embedded=False)
        return Rasa(spec, self.session, db)

    async def _in_process_target(self) -> InProcess:
        async with self._lock:
            if self._in_process is None:
                db = await self._open_store(embedded=True)
                assert db is not None
                # No batching delay: a step that checks the profile waits for the write.
                ledger = CaptureLedger()
                self._recorder = await Recorder(db, source=SOURCE, flush_interval=0,
                                                listener=ledger).start()
                self._in_process = InProcess(db, self._recorder, self.session,
                                             self._watch.observer if self._watch else None,
                                             ledger)
            return self._in_process

    async def target(self, scenario: Scenario) -> Target:
        spec = scenario.target
        if isinstance(spec, WebhookTarget):
            return Webhook(spec, self.session, self.stubs.inbox)
        if isinstance(spec, AudienceTarget):
            return AudienceServer(spec, self.session)
        if isinstance(spec, RasaTarget):
            return await self._rasa_target(spec)
        if self._audience is not None:
            return AudienceServer(self._audience, self.session)
        if self._rasa is not None:
            return await self._rasa_target(self._rasa)
        return await self._in_process_target()

    def bot(self, path: Path) -> Bot:
        if path not in self._bots:
            self._bots[path] = load_bot(path)
        return self._bots[path]

    async def open(self, run: ScenarioRun) -> LiveConversation:
        """Start ``run``'s conversation with its stubs served."""
        scenario = run.scenario
        bot = self.bot(scenario.bot_file) if scenario.bot_file is not None else None
        target = await self.target(scenario)
        api_base = None
        if bot is not None:
            api_base = self.stubs.register(run.run_id, bot, scenario.apis)
        try:
            conversation = await target.open(run, bot, api_base)
        except BaseException:
            self.stubs.unregister(run.run_id)
            raise
        return LiveConversation(run, conversation, self.stubs, target.name, bot=bot,
                                watch=self._watch)

    async def run(self, run: ScenarioRun) -> RunResult:
        """Run one scenario run to its end or its first failure."""
        scenario = run.scenario
        started = time.perf_counter()
        live: LiveConversation | None = None
        failure: Failure | None = None
        outcome = Outcome.PASSED
        steps_run = 0
        try:
            async with asyncio.timeout(scenario.timeout):
                live = await self.open(run)
            if scenario.given is not None:
                failure = await self._begin(live, scenario.given, scenario.timeout)
            if scenario.script is not None:
                def began(number: int) -> None:
                    nonlocal steps_run
                    steps_run = number

                failure = await scenario.script.play(live, began, scenario.timeout)
            for number, step in enumerate(scenario.steps if failure is None else (), 1):
                steps_run = number
                failure = await self._step(live, number, step, scenario.timeout)
                if failure is not None:
                    break
            if failure is None:
                failure = await self._final_checks(live, scenario)
            if failure is not None:
                outcome = Outcome.FAILED
        # A broken scenario (unreachable target, bad answer, a bug) is recorded as its
        # error; the other scenarios go on.
        except Exception as exc:
            log.debug("scenario %r broke", scenario.name, exc_info=True)
            outcome = Outcome.ERROR
            failure = Failure(steps_run or None, _step_text(scenario, steps_run), "error",
                              "the scenario to run", f"{type(exc).__name__}: {exc}")
        finally:
            if live is not None:
                await live.close()
        return RunResult(
            scenario=scenario.name, source=scenario.source, line=scenario.line,
            channel=run.channel, target=live.target if live else "-",
            bot_id=live.bot_id if live else None, user_id=run.user_id, outcome=outcome,
            steps_run=steps_run, steps_total=_steps_total(scenario),
            seconds=time.perf_counter() - started,
            target_seconds=live.target_seconds if live else 0.0, failure=failure,
            capture_seconds=live.capture_seconds if live else 0.0,
            transcript=tuple(live.transcript) if live and failure is not None else (),
            # An embedded database started for this run only is gone when it ends.
            timeline_kept=not (live is not None and live.target == "in-process"
                               and self._owned_db is not None and self._mongo_uri is None),
        )

    async def _step(self, live: LiveConversation, number: int, step: Step,
                    timeout: float) -> Failure | None:
        whose = "scenario's"
        if step.timeout is not None:
            timeout, whose = step.timeout, "step's"
        quiet = step.quiet if step.quiet is not None else live.run.scenario.quiet
        before = len(live.transcript)
        try:
            async with asyncio.timeout(timeout):
                await live.step(step)
                await live.collect_late(quiet)
                if step.expect is not None:
                    await live.check(step.expect)
        except TimeoutError:
            heard = len(live.replies) if len(live.transcript) > before else 0
            said = (f"{heard} message(s), then nothing that ended the step" if heard
                    else "no answer in time")
            line = f", line {step.line}" if step.line else ""
            return Failure(number, step.describe(), "timeout",
                           f"step {number} ({step.describe()}) to finish within {timeout:g}s "
                           f"(the {whose} 'timeout'{line})",
                           f"{said}; raise the {whose} 'timeout' if the bot is slow on purpose",
                           step.line)
        except ExpectationFailed as failed:
            return Failure(number, step.describe(), failed.what, failed.expected, failed.actual,
                           failed.line or step.line)
        return None

    async def _begin(self, live: LiveConversation, given: Given,
                     timeout: float) -> Failure | None:
        try:
            async with asyncio.timeout(timeout):
                await live.begin(given)
        except TimeoutError:
            return Failure(None, given.describe(), "timeout",
                           f"the mid-flow start to finish within {timeout:g}s",
                           "no answer in time", given.line)
        return None

    async def _final_checks(self, live: LiveConversation, scenario: Scenario) -> Failure | None:
        try:
            async with asyncio.timeout(scenario.timeout):
                if scenario.expect is not None:
                    await live.check(scenario.expect, whole_conversation=True)
                if scenario.ends_with_cta:
                    live.check_ends_with_cta()
        except TimeoutError:
            return Failure(None, "end of scenario", "timeout", "the checks to finish",
                           "no answer in time")
        except ExpectationFailed as failed:
            return Failure(None, "end of scenario", failed.what, failed.expected, failed.actual,
                           failed.line)
        return None

    async def run_all(self, scenarios: Iterable[Scenario], *, concurrency: int = 4,
                      progress: ProgressCallback | None = None) -> SuiteResult:
        """Run every scenario on each of its channels, ``concurrency`` at a time;
        results in the order of the scenarios."""
        runs = [run for scenario in scenarios for run in scenario.runs()]
        return await self.run_runs(runs, concurrency=concurrency, progress=progress)

    async def run_runs(self, runs: Sequence[ScenarioRun], *, concurrency: int = 4,
                       progress: ProgressCallback | None = None) -> SuiteResult:
        gate = asyncio.Semaphore(max(1, concurrency))
        started = time.perf_counter()

        async def one(run: ScenarioRun) -> RunResult:
            async with gate:
                result = await self.run(run)
            if progress is not None:
                progress(result)
            return result

        results = await asyncio.gather(*(one(run) for run in runs))
        return SuiteResult(list(results), time.perf_counter() - started)


def _step_text(scenario: Scenario, number: int) -> str:
    if number == 0:
        return "opening the conversation"
    if scenario.script is not None:
        return f"step {number}"
    return scenario.steps[number - 1].describe()


def _steps_total(scenario: Scenario) -> int:
    return scenario.script.steps_total if scenario.script is not None else len(scenario.steps)


def count_runs(scenarios: Iterable[Scenario]) -> int:
    return sum(len(s.channels) for s in scenarios)


def summary_counts(results: Iterable[RunResult]) -> Mapping[Outcome, int]:
    counts = dict.fromkeys(Outcome, 0)
    for result in results:
        counts[result.outcome] += 1
    return counts
