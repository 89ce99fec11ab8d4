"""The test-bot page's test channel (:class:`plugin.handover.testers.BotTester`):
a person chats with a bot deployed on the dummy channel as a test user, keeps
the conversation as a scenario file (:mod:`simulator.recording`), and runs
the bot's scenario suite on this server's database.

:class:`simulator.cli.SimulatorExtension` puts it into ``audience serve``. The
scenario files "configured for a bot" are those under the ``--scenarios``
directories whose bot file has the bot's id (a scenario file names its bot;
see :mod:`simulator.loader`); an uploaded file's relative bot path is read
from the directory of the deployed bot's file. Suites run in-process, each
run with its own stubs and test user (source ``simulator``: a test profile),
captured into the server's database, so each result links to a profile.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from connectors.dummy import DummyChannel
from connectors.dummy_http import DUMMY
from plugin.core.documents import load_yaml
from plugin.core.errors import Conflict, InvalidRequest
from plugin.core.events import utc_now
from plugin.handover.testers import ScenarioOutcome, SuiteFile
from plugin.http.appkeys import DATABASE
from runtime.errors import BotDefinitionError
from runtime.loader import load_bot

from .loader import ScenarioError, find_scenario_files, load_scenarios, parse_scenarios
from .model import Scenario
from .recording import scenario_yaml
from .runner import Outcome, RunResult, Simulator, count_runs
from .targets import SOURCE

__all__ = ["DummyBotTester", "MARKER"]

MARKER = "test_started"  # the custom event that makes a page's user a test user
SUITE_CONCURRENCY = 2


class DummyBotTester:
    """Implements :class:`plugin.handover.testers.BotTester` over the dummy channel."""

    def __init__(self, app: web.Application, scenario_dirs: Sequence[Path] = ()) -> None:
        self._app = app
        self.scenario_dirs = list(scenario_dirs)  # read on each request: new files show
        self._bot_ids: dict[tuple[Path, float], str | None] = {}

    def _channel(self) -> DummyChannel:
        channel = self._app.get(DUMMY)
        if channel is None:
            raise Conflict("this server runs no dummy channel to test bots on")
        return channel

    def knows(self, bot_id: str) -> bool:
        channel = self._app.get(DUMMY)
        return channel is not None and bot_id in channel.runtime.bots

    async def start(self, bot_id: str, user_id: str, channel: str) -> None:
        recorder = self._channel().recorder
        if recorder is None:
            raise Conflict("capture is off on this server's dummy channel: no timeline to show")
        # As a simulated user's: the first event's source makes the profile a test one.
        await recorder.custom(bot_id, user_id, MARKER, {"on": "the test-bot page"},
                              channel=channel, source=SOURCE,
                              ts=utc_now() - timedelta(milliseconds=1))
        await recorder.flush()

    async def send(self, bot_id: str, user_id: str, channel: str, *, text: str | None = None,
                   payload: str | None = None) -> list[dict[str, Any]]:
        dummy = self._channel()
        replies = await dummy.receive(bot_id, user_id, text=text, payload=payload,
                                      channel=channel)
        if dummy.recorder is not None:
            await dummy.recorder.flush()
        return replies

    def scenario(self, bot_id: str, channel: str, events: Sequence[Mapping[str, Any]]) -> str:
        bot = self._channel().runtime.bots.get(bot_id)
        user = next((str(e.get("user_id")) for e in events if e.get("user_id")), "")
        moment = utc_now().strftime("%Y-%m-%d %H:%M UTC")
        header = (f"Saved from the test-bot page: test user {user} on {channel}, {moment}.\n"
                  "Replay it with: audience simulate THIS_FILE")
        return scenario_yaml(bot, bot_id, channel, events, name=f"test conversation {moment}",
                             header=header)

    def suite_files(self, bot_id: str) -> list[str]:
        return [str(path) for path in self._configured(bot_id)]

    def suite(self, bot_id: str, uploaded: SuiteFile | None) -> _Suite:
        scenarios: list[Scenario] = []
        problems: list[str] = []
        files = self._configured(bot_id)
        for path in files:
            try:
                scenarios += load_scenarios(path)
            except ScenarioError as exc:
                problems += [p.describe(exc.source) for p in exc.problems]
            except (OSError, UnicodeDecodeError) as exc:
                problems.append(f"{path}: cannot read: {exc}")
        names = [str(p) for p in files]
        if uploaded is not None:
            where = self._upload_dir(bot_id) / Path(uploaded.name).name
            try:
                scenarios += parse_scenarios(uploaded.text, where)
            except ScenarioError as exc:
                problems += [p.describe(uploaded.name) for p in exc.problems]
            names.append(uploaded.name)
        if problems:
            raise InvalidRequest("the scenario files have problems: " + "; ".join(problems),
                                 problems=problems)
        if not scenarios:
            raise InvalidRequest(
                f"no scenario to run: bot {bot_id!r} has no scenario file configured (start "
                "the server with --scenarios DIR) and none was uploaded", field="scenarios")
        return _Suite(self._app, names, scenarios)

    def _upload_dir(self, bot_id: str) -> Path:
        bot = self._channel().runtime.bots.get(bot_id)
        source = Path(bot.source) if bot is not None else None
        return source.resolve().parent if source is not None and source.is_file() else Path.cwd()

    def _configured(self, bot_id: str) -> list[Path]:
        dirs = [d for d in self.scenario_dirs if d.is_dir()]
        return [path for path in find_scenario_files(dirs) if bot_id in self._bots_of(path)]

    def _bots_of(self, path: Path) -> set[str]:
        """The ids of the bots a scenario file's ``bot`` keys name (unreadable: none)."""
        try:
            document = load_yaml(path.read_text("utf-8"))
        except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError):
            return set()
        if not isinstance(document, dict):
            return set()
        named = [document.get("bot")] + [s.get("bot") for s in document.get("scenarios") or []
                                         if isinstance(s, dict)]
        return {found for raw in named if isinstance(raw, str)
                if (found := self._bot_id((path.parent / raw).resolve())) is not None}

    def _bot_id(self, file: Path) -> str | None:
        try:
            key = (file, file.stat().st_mtime)
        except OSError:
            return None
        if key not in self._bot_ids:
            try:
                self._bot_ids[key] = load_bot(file).id
            except (OSError, UnicodeDecodeError, BotDefinitionError):
                self._bot_ids[key] = None
        return self._bot_ids[key]


class _Suite:
    """Loaded scenarios, run in-process against this server's database."""

    def __init__(self, app: web.Application, files: list[str],
                 scenarios: list[Scenario]) -> None:
        self._app = app
        self.files = files
        self._scenarios = scenarios
        self.total = count_runs(scenarios)

    async def run(self, progress: Callable[[ScenarioOutcome], None]) -> None:
        async with Simulator(db=self._app[DATABASE]) as simulator:
            await simulator.run_all(self._scenarios, concurrency=SUITE_CONCURRENCY,
                                    progress=lambda result: progress(_outcome(result)))
            await simulator.drain()


def _outcome(result: RunResult) -> ScenarioOutcome:
    return ScenarioOutcome(
        title=result.title, where=f"{result.source}:{result.line}",
        passed=result.outcome is Outcome.PASSED, outcome=str(result.outcome),
        detail=result.failure.describe() if result.failure is not None else "",
        bot_id=result.bot_id, user_id=result.user_id)
