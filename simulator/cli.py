"""``audience simulate``: the simulator's command, added through the extension
seam (``audience.extensions`` entry point ``simulator``).

Exit status (:mod:`plugin.cli.exits`): 0 when every scenario passed, 1 when
any failed, 2 when a scenario file is invalid (each problem on a line of its
own, ``file:line: path: reason``).

Every ``audience`` call loads this module, ``--help`` included: the loader,
the runner and the reports (YAML, aiohttp, the database) are imported only
when the command runs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from plugin.cli.exits import EXIT_FAILED, EXIT_OK
from plugin.core.commands import BOT_ID, CommandTable, Record, arg
from plugin.core.constants import DEFAULT_DATA_DIR, MEMORY
from plugin.core.errors import InvalidRequest
from plugin.core.settings import Settings
from plugin.extensions import Extension

from .coverage.options import COVERAGE_ARGS, coverage_for, finish_coverage
from .lint_command import lint_gate
from .model import AudienceTarget, RasaTarget, Scenario

if TYPE_CHECKING:
    from aiohttp import web

    from .runner import RunWatch, SuiteResult

__all__ = ["SimulatorExtension", "commands", "run_simulate"]

CHANNELS = ("web", "messenger", "whatsapp")
RASA_SCHEME = "rasa+"
EXAMPLE_SUITES = Path(__file__).resolve().parent.parent / "scenarios" / "suites"
_KEY_ENV = "AUDIENCE_KEY"

commands = CommandTable()


class SimulatorExtension(Extension):
    """Adds ``audience simulate``, and to ``serve`` the test-bot page's test
    channel (:mod:`simulator.testbot`) with ``--scenarios DIR``."""

    name = "simulator"

    def __init__(self, scenario_dirs: Sequence[Path] = ()) -> None:
        self.scenario_dirs = list(scenario_dirs)

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        group = parser.add_argument_group("test-bot page")
        group.add_argument("--scenarios", dest="scenario_dirs", action="append", default=[],
                           type=Path, metavar="DIR",
                           help="scenario files the test-bot page's \"Run suite\" runs, each "
                                "for the bot its 'bot' file is; repeatable")

    def configure(self, args: argparse.Namespace) -> None:
        self.scenario_dirs += list(getattr(args, "scenario_dirs", []) or [])
        if getattr(args, "command", None) == "demo" and not self.scenario_dirs \
                and EXAMPLE_SUITES.is_dir():
            # The demo's example bot, with the suites written for it.
            self.scenario_dirs.append(EXAMPLE_SUITES)
        for path in self.scenario_dirs:
            if not path.is_dir():
                raise InvalidRequest(f"--scenarios {path}: no such directory")

    def install(self, app: web.Application) -> None:
        # Imported here: see the module docstring.
        from plugin.http.appkeys import BOT_TESTER

        from .testbot import DummyBotTester

        app[BOT_TESTER] = DummyBotTester(app, self.scenario_dirs)

    def commands(self) -> Sequence[Record]:
        from .crawler.cli import commands as crawl
        from .lint_command import commands as lint

        return [*commands, *lint, *crawl]


@commands.command(
    "simulate", "replay scenario files against a bot",
    arg("paths", nargs="+", type=Path, metavar="PATH"),
    arg("--target", default=None, metavar="URL",
        help="a running Audience server (with the dummy channel) to deploy the bots on and "
             "talk to, or a Rasa bot's REST channel as rasa+http://host:5005"),
    arg("--bot-id", default=None, type=BOT_ID,
        help="with a rasa+ target: the bot id its broker consumer records under "
             "(audience rasa consume --bot), for profile checks; with an Audience target: "
             "a bot deployed there, talked to as it is (Botium convos)"),
    arg("--bot", default=None, type=Path, metavar="BOT.yaml",
        help="the bot Botium convos (.convo.txt) run against, in-process"),
    arg("--key", default=None, help=f"its API key (an editor's); default ${_KEY_ENV}"),
    arg("--channel", action="append", choices=CHANNELS, default=None,
        help="run every scenario on this channel instead; repeatable"),
    arg("--concurrency", type=int, default=4, metavar="N",
        help="scenarios run at the same time (default 4)"),
    arg("--repeat", type=int, default=1, metavar="N",
        help="run each scenario N times and report those whose verdict flips as flaky"),
    arg("--retries", type=int, default=0, metavar="K",
        help="run a failed scenario again up to K times; a pass after a retry is flaky"),
    arg("--junit", type=Path, default=None, metavar="FILE", help="write a JUnit XML report"),
    arg("--json", type=Path, default=None, metavar="FILE", help="write a JSON report"),
    arg("--no-lint", action="store_true",
        help="run even if a bot has lint errors (audience lint; checked by default)"),
    *COVERAGE_ARGS,
    description="Replay YAML scenario files (directories are searched for files with a "
                "top-level 'scenarios' key) against their bots: in-process on an embedded "
                "database by default, or on a running Audience server.",
    data_dir_help="keep in-process runs in the embedded database in this directory (by "
                  "default they run in a throw-away in-memory one, gone when the command "
                  "ends; a rasa+ target's captures are read from the deployment's, "
                  f"default {DEFAULT_DATA_DIR}); ignored when MONGODB_URI is set")
def run_simulate(args: argparse.Namespace, settings: Settings) -> int:
    """The ``simulate`` command; returns its exit status."""
    from .report import failure_details, summary_table, write_json, write_junit

    if args.concurrency < 1:
        raise InvalidRequest("--concurrency must be at least 1")
    if args.repeat < 1 or args.retries < 0:
        raise InvalidRequest("--repeat must be at least 1 and --retries at least 0")
    target: AudienceTarget | RasaTarget | None = None
    if args.target and args.target.startswith(RASA_SCHEME):
        url = args.target.removeprefix("rasa+").rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise InvalidRequest(
                "a Rasa target is rasa+http://host:port or rasa+https://host:port")
        target = RasaTarget(url, args.bot_id)
    elif args.target:
        target = AudienceTarget(args.target.rstrip("/"), args.key or os.environ.get(_KEY_ENV),
                                args.bot_id)
    channels = tuple(args.channel) if args.channel else None
    scenarios, problems = _load(args.paths, target, channels, args.bot)
    if problems:
        raise InvalidRequest("\n".join(problems))
    if not scenarios:
        raise InvalidRequest("no scenarios found in " + ", ".join(map(str, args.paths)))
    if not args.no_lint:
        linted, said = lint_gate(scenarios)
        if said:
            print(said)
        if not linted:
            return EXIT_FAILED
    coverage = coverage_for(args)
    suite = asyncio.run(_simulate(scenarios, args, settings,
                                  capture_db=isinstance(target, RasaTarget), watch=coverage))
    print(summary_table(suite))
    if suite.failed or suite.flaky:
        print("\n" + failure_details(suite))
    if args.junit is not None:
        write_junit(suite, args.junit)
    if args.json is not None:
        write_json(suite, args.json)
    covered = coverage is None or finish_coverage(coverage, args)
    return EXIT_FAILED if suite.failed or not covered else EXIT_OK


def _load(paths: list[Path], target: AudienceTarget | RasaTarget | None,
          channels: tuple[str, ...] | None, bot: Path | None = None
          ) -> tuple[list[Scenario], list[str]]:
    from .botium import ConvoError, botium_scenarios, is_botium_file, read_suite
    from .loader import ScenarioError, find_scenario_files, load_scenarios
    from .rasa_e2e import E2eError, find_e2e_files, is_e2e_file, load_e2e

    scenarios: list[Scenario] = []
    problems: list[str] = []
    for path in paths:
        if not path.exists():
            problems.append(f"{path}: no such file or directory")
    others = [p for p in paths if p.is_file() and (is_botium_file(p) or is_e2e_file(p))]
    for file in find_scenario_files(p for p in paths if p.exists() and p not in others):
        try:
            scenarios += load_scenarios(file, target=target, channels=channels)
        except ScenarioError as exc:
            problems += [p.describe(exc.source) for p in exc.problems]
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(f"{file}: cannot read: {exc}")
    for file in find_e2e_files(p for p in paths if p.exists()):
        try:
            scenarios += load_e2e(file, target=target, channels=channels or ("web",))
        except E2eError as exc:
            problems += [p.describe(exc.source) for p in exc.problems]
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(f"{file}: cannot read: {exc}")
    if bot is not None and not bot.is_file():
        problems.append(f"--bot {bot}: no such file")
    botium = read_suite(p for p in paths if p.exists())
    try:
        scenarios += botium_scenarios(botium, bot_file=bot.resolve() if bot else None,
                                      target=target, channels=channels or ("web",))
    except ConvoError as exc:
        problems += exc.lines()
    return scenarios, problems


async def _simulate(scenarios: list[Scenario], args: argparse.Namespace,
                    settings: Settings, *, capture_db: bool = False,
                    watch: RunWatch | None = None) -> SuiteResult:
    from plugin.db.database import Database

    from .flaky import run_repeated
    from .report import ProgressBar
    from .runner import Simulator, count_runs

    db = None
    if capture_db or (settings.mongodb_uri is None and args.data_dir not in (None, MEMORY)):
        # The deployment in --data-dir keeps the runs; a Rasa target's captures are
        # read from the deployment its broker consumer writes to.
        db = await Database.open(settings)
    try:
        progress = ProgressBar(count_runs(scenarios) * args.repeat)
        async with Simulator(db=db, mongo_uri=settings.mongodb_uri,
                             db_name=settings.db_name, watch=watch) as simulator:
            if args.repeat > 1 or args.retries:
                return await run_repeated(simulator, scenarios, repeat=args.repeat,
                                          retries=args.retries,
                                          concurrency=args.concurrency,
                                          progress=progress.update)
            return await simulator.run_all(scenarios, concurrency=args.concurrency,
                                           progress=progress.update)
    finally:
        if db is not None:
            await db.close()
