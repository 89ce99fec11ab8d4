"""The coverage options of ``audience simulate`` and what the command does
with them: make the :class:`~simulator.coverage.collector.Coverage` a run
fills, then print and write the report and apply ``--fail-under``.

Imported by every ``audience`` call: the collector and the reports are
imported when the command runs.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from plugin.core.commands import arg
from plugin.core.errors import InvalidRequest

if TYPE_CHECKING:
    from .collector import Coverage
    from .report import CoverageReport

__all__ = ["COVERAGE_ARGS", "coverage_for", "finish_coverage", "shortfall"]


def _percent(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError(f"a percentage is from 0 to 100, not {text}")
    return value


COVERAGE_ARGS = (
    arg("--coverage", action="store_true",
        help="report what the scenarios covered of each bot, per channel, and list what "
             "they never touched with its file:line"),
    arg("--coverage-json", type=Path, default=None, metavar="FILE",
        help="write the coverage report as JSON (implies --coverage)"),
    arg("--coverage-html", type=Path, default=None, metavar="DIR",
        help="write the coverage report as HTML pages, the bot files annotated line by line "
             "(implies --coverage)"),
    arg("--fail-under", type=_percent, default=None, metavar="N",
        help="exit 1 when coverage is below N percent (implies --coverage)"),
    arg("--coverage-expect", type=Path, default=None, metavar="FILE",
        help="with a rasa+ target: the modules, actions, slots and apis to cover (a list, or "
             "the bot's domain.yml)"),
)


def coverage_for(args: argparse.Namespace) -> Coverage | None:
    """The collector the options ask for, or ``None``.

    Raises:
        InvalidRequest: the --coverage-expect file cannot be used.
    """
    wanted = (args.coverage or args.coverage_json is not None or args.coverage_html is not None
              or args.fail_under is not None)
    if not wanted:
        if args.coverage_expect is not None:
            raise InvalidRequest("--coverage-expect needs --coverage (or --fail-under, "
                                 "--coverage-json, --coverage-html)")
        return None
    from .collector import Coverage
    from .replay import read_expected

    expected = read_expected(args.coverage_expect) if args.coverage_expect else None
    return Coverage(expected)


def finish_coverage(coverage: Coverage, args: argparse.Namespace) -> bool:
    """Print and write the report; whether it reaches ``--fail-under``."""
    from .html import write_html
    from .report import json_report, text_report

    report = coverage.report()
    print("\n" + text_report(report))
    if args.coverage_json is not None:
        args.coverage_json.write_text(json.dumps(json_report(report), indent=2), "utf-8")
    if args.coverage_html is not None:
        index = write_html(report, args.coverage_html)
        print(f"coverage report: {index}")
    failed = shortfall(report, args.fail_under)
    if failed:
        print(failed)
    return failed is None


def shortfall(report: CoverageReport, threshold: float | None,
              option: str = "--fail-under") -> str | None:
    """Why ``report`` does not reach ``threshold`` percent, or ``None`` when it does."""
    if threshold is None:
        return None
    if not report.sections:
        return f"coverage: nothing was measured, so {option} {threshold:g} fails"
    unmeasured = [s.title for s in report.sections if not s.measured]
    if unmeasured:
        return (f"coverage: {', '.join(unmeasured)} has no list to measure against "
                f"(--coverage-expect), so {option} {threshold:g} fails")
    if report.below(threshold):
        return f"coverage: {report.percent:.1f}% is under {option} {threshold:g}"
    return None
