"""``audience lint``: bot files checked before anything runs (the rules are
:mod:`runtime.lint`'s), and the same check as the gate of ``audience
simulate`` (:func:`lint_gate`).

Exit status (:mod:`plugin.cli.exits`): 0 when no file has an error
(warnings are printed and do not fail), 1 when one has, 2 when a file cannot
be read. Every ``audience`` call loads this module: the rules, YAML and the
channel profiles are imported only when a command runs.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from plugin.cli.exits import EXIT_FAILED, EXIT_OK
from plugin.core.commands import CommandTable, arg
from plugin.core.errors import InvalidRequest
from plugin.core.settings import Settings

if TYPE_CHECKING:
    from runtime.lint import LintReport

    from .model import Scenario

__all__ = ["commands", "run_lint", "lint_bots", "lint_gate", "CHANNELS"]

CHANNELS = ("web", "messenger", "whatsapp")

commands = CommandTable()


@commands.command(
    "lint", "check bot files before anything runs",
    arg("paths", nargs="+", type=Path, metavar="BOT.yaml"),
    arg("--channel", action="append", choices=CHANNELS, default=None,
        help="also check what this channel can show (buttons, quick replies, text length); "
             "repeatable"),
    arg("--json", type=Path, default=None, metavar="FILE", help="write the findings as JSON"),
    description="Check bot files of the reference runtime: flows that end without a call to "
                "action, modules no path reaches, loops without user input, branches that "
                "never hold, channel limits, questions without validation or error message, "
                "calls without on_failure, unused properties and apis. Each finding has its "
                "file:line, a rule id and a fix hint; errors make the exit status 1.")
def run_lint(args: argparse.Namespace, settings: Settings) -> int:
    """The ``lint`` command; returns its exit status."""
    channels = tuple(dict.fromkeys(args.channel or ()))
    reports = lint_bots(args.paths, channels)
    for report in reports:
        for finding in report.findings:
            print(finding.describe())
    print(summary(reports, channels))
    if args.json is not None:
        body = {"files": [{"file": r.file, "loaded": r.loaded, "channels": list(r.channels),
                           "findings": [f.to_dict() for f in r.findings]} for r in reports],
                "errors": sum(len(r.errors) for r in reports),
                "warnings": sum(len(r.warnings) for r in reports)}
        args.json.write_text(json.dumps(body, indent=2), "utf-8")
    return EXIT_FAILED if any(r.errors for r in reports) else EXIT_OK


def lint_bots(paths: Iterable[Path], channels: Sequence[str]) -> list[LintReport]:
    """Lint each bot file for ``channels``.

    Raises:
        InvalidRequest: a file is missing or cannot be read (every one named).
    """
    from plugin.handover.channel_profiles import PROFILES
    from runtime.lint import lint_text

    limits = [PROFILES[name] for name in channels]
    reports, problems = [], []
    for path in paths:
        try:
            text = path.read_text("utf-8")
        except FileNotFoundError:
            problems.append(f"{path}: no such file")
            continue
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(f"{path}: cannot read: {exc}")
            continue
        reports.append(lint_text(text, str(path), limits))
    if problems:
        raise InvalidRequest("\n".join(problems))
    return reports


def summary(reports: Sequence[LintReport], channels: Sequence[str]) -> str:
    errors = sum(len(r.errors) for r in reports)
    warnings = sum(len(r.warnings) for r in reports)
    files = f"{len(reports)} file" + ("s" if len(reports) != 1 else "")
    checked = (f"channels: {', '.join(channels)}" if channels
               else "channel rules not checked: give --channel web|messenger|whatsapp")
    return f"lint: {errors} errors, {warnings} warnings in {files} ({checked})"


def lint_gate(scenarios: Sequence[Scenario]) -> tuple[bool, str]:
    """Lint every bot file the scenarios run in-process or deploy, for the
    channels they run on: (whether no bot has an error, what to print)."""
    channels: dict[Path, list[str]] = {}
    for scenario in scenarios:
        if scenario.bot_file is not None:
            known = channels.setdefault(scenario.bot_file, [])
            known += [c for c in scenario.channels if c not in known]
    lines: list[str] = []
    ok = True
    for path, used in channels.items():
        (report,) = lint_bots([path], [c for c in CHANNELS if c in used])
        for finding in report.errors:
            lines.append(finding.describe())
        ok = ok and not report.errors
        if report.warnings:
            lines.append(f"{path}: {len(report.warnings)} lint warnings (audience lint "
                         f"{path} shows them)")
    if not ok:
        lines.append("lint: a bot has errors, so the run fails; fix them, or give --no-lint")
    return ok, "\n".join(lines)
