"""``audience simulate``: the simulator's command, added through the extension
seam (``audience.extensions`` entry point ``simulator``).

Exit status: 0 when every scenario passed, 1 when any failed, 2 when a
scenario file is invalid (each problem as ``file:line: path: reason``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from plugin.core.constants import MEMORY
from plugin.core.settings import Settings
from plugin.db.store import Store
from plugin.extensions import Extension

from .loader import ScenarioError, find_scenario_files, load_scenarios
from .model import AudienceTarget, RasaTarget, Scenario
from .report import ProgressBar, failure_details, summary_table, write_json, write_junit
from .runner import Simulator, SuiteResult, count_runs

__all__ = ["SimulatorExtension", "run_simulate", "EXIT_PASSED", "EXIT_FAILED", "EXIT_INVALID"]

EXIT_PASSED, EXIT_FAILED, EXIT_INVALID = 0, 1, 2
CHANNELS = ("web", "messenger", "whatsapp")
RASA_SCHEME = "rasa+"


class SimulatorExtension(Extension):
    """Adds ``audience simulate``; nothing to ``serve``."""

    name = "simulator"

    def add_commands(self, commands: argparse._SubParsersAction[argparse.ArgumentParser],
                     data_options: argparse.ArgumentParser) -> None:
        parser = commands.add_parser(
            "simulate", parents=[data_options], help="replay scenario files against a bot",
            description="Replay YAML scenario files (directories are searched for files with "
                        "a top-level 'scenarios' key) against their bots: in-process on an "
                        "embedded database by default, or on a running Audience server.")
        parser.add_argument("paths", nargs="+", type=Path, metavar="PATH")
        parser.add_argument("--target", default=None, metavar="URL",
                            help="a running Audience server (with the dummy channel) to "
                                 "deploy the bots on and talk to, or a Rasa bot's REST "
                                 "channel as rasa+http://host:5005")
        parser.add_argument("--bot-id", default=None,
                            help="with a rasa+ target: the bot id its broker consumer records "
                                 "under (audience rasa consume --bot), for profile checks")
        parser.add_argument("--key", default=os.environ.get("AUDIENCE_KEY"),
                            help="its API key (an editor's); default $AUDIENCE_KEY")
        parser.add_argument("--channel", action="append", choices=CHANNELS, default=None,
                            help="run every scenario on this channel instead; repeatable")
        parser.add_argument("--concurrency", type=int, default=4, metavar="N",
                            help="scenarios run at the same time (default 4)")
        parser.add_argument("--junit", type=Path, default=None, metavar="FILE",
                            help="write a JUnit XML report")
        parser.add_argument("--json", type=Path, default=None, metavar="FILE",
                            help="write a JSON report")
        parser.set_defaults(run_command=run_simulate)



def run_simulate(args: argparse.Namespace, settings: Settings) -> int:
    """The ``simulate`` command; returns its exit status."""
    if args.concurrency < 1:
        print("audience simulate: --concurrency must be at least 1", file=sys.stderr)
        return EXIT_INVALID
    target: AudienceTarget | RasaTarget | None = None
    if args.target and args.target.startswith(RASA_SCHEME):
        url = args.target.removeprefix("rasa+").rstrip("/")
        if not url.startswith(("http://", "https://")):
            print("audience simulate: a Rasa target is rasa+http://host:port or "
                  "rasa+https://host:port", file=sys.stderr)
            return EXIT_INVALID
        target = RasaTarget(url, args.bot_id)
    elif args.target:
        target = AudienceTarget(args.target.rstrip("/"), args.key)
    channels = tuple(args.channel) if args.channel else None
    scenarios, problems = _load(args.paths, target, channels)
    if problems:
        print("audience simulate: invalid scenario file(s):\n" + "\n".join(problems),
              file=sys.stderr)
        return EXIT_INVALID
    if not scenarios:
        print("audience simulate: no scenarios found in " + ", ".join(map(str, args.paths)),
              file=sys.stderr)
        return EXIT_INVALID
    suite = asyncio.run(_simulate(scenarios, args, settings,
                                  capture_db=isinstance(target, RasaTarget)))
    print(summary_table(suite))
    if suite.failed:
        print("\n" + failure_details(suite))
    if args.junit is not None:
        write_junit(suite, args.junit)
    if args.json is not None:
        write_json(suite, args.json)
    return EXIT_FAILED if suite.failed else EXIT_PASSED


def _load(paths: list[Path], target: AudienceTarget | RasaTarget | None,
          channels: tuple[str, ...] | None) -> tuple[list[Scenario], list[str]]:
    scenarios: list[Scenario] = []
    problems: list[str] = []
    for path in paths:
        if not path.exists():
            problems.append(f"{path}: no such file or directory")
    for file in find_scenario_files(p for p in paths if p.exists()):
        try:
            scenarios += load_scenarios(file, target=target, channels=channels)
        except ScenarioError as exc:
            problems += [p.describe(exc.source) for p in exc.problems]
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(f"{file}: cannot read: {exc}")
    return scenarios, problems


async def _simulate(scenarios: list[Scenario], args: argparse.Namespace,
                    settings: Settings, *, capture_db: bool = False) -> SuiteResult:
    store = None
    if capture_db or (settings.mongodb_uri is None and args.data_dir not in (None, MEMORY)):
        # The deployment in --data-dir keeps the runs; a Rasa target's captures are
        # read from the deployment its broker consumer writes to.
        store = await Store.open(settings)
    try:
        progress = ProgressBar(count_runs(scenarios))
        async with Simulator(store=store, mongo_uri=settings.mongodb_uri,
                             db_name=settings.db_name) as simulator:
            return await simulator.run_all(scenarios, concurrency=args.concurrency,
                                           progress=progress.update)
    finally:
        if store is not None:
            await store.close()
