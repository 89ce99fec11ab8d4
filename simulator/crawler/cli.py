"""``audience crawl``: explore a bot breadth-first on the dummy channel, report
what the crawl found, and write its paths as scenario files.

Exit status (:mod:`plugin.cli.exits`): 0 when the crawl found no error (a
dead end, a loop, a reply the channel cannot show), 1 when it did, 2 when
the bot cannot be crawled. Every ``audience`` call loads this module: the
crawler is imported when the command runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

from plugin.cli.exits import EXIT_FAILED, EXIT_OK
from plugin.core.commands import CommandTable, arg, int_between
from plugin.core.errors import InvalidRequest
from plugin.core.settings import Settings

from ..lint_command import CHANNELS

__all__ = ["commands", "run_crawl"]

commands = CommandTable()
_REPORT = "crawl.json"


@commands.command(
    "crawl", "explore a bot and write what it can do as scenarios",
    arg("bot", type=Path, metavar="BOT.yaml"),
    arg("--channel", action="append", choices=CHANNELS, default=None,
        help="the channel to crawl on (default web); repeatable"),
    arg("--max-depth", type=int_between(1, 50), default=12, metavar="N",
        help="user inputs per path at most (default 12)"),
    arg("--seed", type=int, default=0, metavar="S",
        help="the seed of the values typed (default 0): the same seed, the same crawl"),
    arg("--out", type=Path, default=None, metavar="DIR",
        help="where the scenario files and crawl.json go (default crawl-<bot>)"),
    arg("--max-paths", type=int_between(1, 1_000_000), default=5000, metavar="N",
        help="stop after replaying this many paths (default 5000)"),
    arg("--all-paths", action="store_true",
        help="write every path the crawl ended, not only those that cover what it covered"),
    description="Explore the bot on the dummy channel breadth-first: every starting rule, "
                "button, quick reply and numbered option; valid and invalid answers to each "
                "question; every api stubbed on loopback to succeed and to fail each way. "
                "Reports dead ends, unreachable modules, loops, error messages never shown "
                "and replies the channel cannot show, and writes the paths as scenario files "
                "(audience simulate DIR replays them).")
def run_crawl(args: argparse.Namespace, settings: Settings) -> int:
    """The ``crawl`` command; returns its exit status."""
    from runtime.loader import load_bot, read_bot

    from ..coverage.items import inventory
    from ..coverage.report import percent
    from .explore import crawl
    from .findings import findings
    from .scenarios import chosen, write_scenarios

    try:
        text = args.bot.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"{args.bot}: cannot read: {exc}") from None
    bot = load_bot(args.bot)
    outside = [name for name, api in bot.apis.items() if not api.url.startswith("${API_BASE}")]
    if outside:
        raise InvalidRequest(
            f"{args.bot}: api {outside[0]!r} does not call ${{API_BASE}}: the crawler stubs "
            "apis under ${API_BASE} only, and never calls a real backend")
    lines = read_bot(text, str(args.bot)).lines
    out = args.out or Path(f"crawl-{args.bot.stem}")
    items = [i.key for i in inventory(bot, lines, str(args.bot)).items]
    report: dict[str, object] = {"bot": str(args.bot), "seed": args.seed,
                                 "max_depth": args.max_depth, "channels": {}}
    failed = False
    for channel in dict.fromkeys(args.channel or ["web"]):
        done = asyncio.run(crawl(bot, channel=channel, max_depth=args.max_depth, seed=args.seed,
                                 max_paths=args.max_paths))
        found = findings(done, lines)
        for old in out.glob(f"{channel}-path-*.yaml") if out.is_dir() else ():
            old.unlink()
        walks = chosen(done, found, all_paths=args.all_paths)
        files = write_scenarios(done, walks, out, args.bot)
        covered = sum(1 for key in items if key in done.hits)
        for finding in found:
            print(finding.describe(str(args.bot)))
        stop = f" (stopped at --max-paths {args.max_paths})" if done.stopped else ""
        print(f"crawl of {args.bot} on {channel} (seed {args.seed}, depth {args.max_depth}): "
              f"{len(done.walks)} paths in {done.seconds:.1f}s ({done.paths_per_second:.0f} "
              f"paths/s){stop}, {len(done.leaves)} ended; coverage "
              f"{percent(covered, len(items)):.1f}% ({covered}/{len(items)}); "
              f"{len(files)} scenario files in {out}")
        failed = failed or any(f.severity == "error" for f in found)
        channels = report["channels"]
        assert isinstance(channels, dict)
        channels[channel] = {
            "paths": len(done.walks), "ended": len(done.leaves), "stopped": done.stopped,
            "covered": covered, "items": len(items),
            "findings": [f.to_dict() for f in found],
            "scenarios": [f.name for f in files]}
    out.mkdir(parents=True, exist_ok=True)
    (out / _REPORT).write_text(json.dumps(report, indent=2), "utf-8")
    return EXIT_FAILED if failed else EXIT_OK
