"""Coverage in a pytest session, for Gherkin suites: the options, the
collector the session's simulator reports to, the report at the end of the
terminal summary, and ``--audience-fail-under`` as the session's exit status.

    pytest scenarios/ --audience-coverage --audience-fail-under 90

Called by :mod:`simulator.pytest_plugin`'s hooks, one line each. Imports
the collector and the reports only when coverage is asked for.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .collector import Coverage

__all__ = ["add_options", "collector", "finish", "summary"]

_COVERAGE = pytest.StashKey["Coverage"]()
_TEXT = pytest.StashKey[str]()


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("audience", "Audience simulator")
    group.addoption("--audience-coverage", action="store_true",
                    help="report what the scenarios covered of each bot, per channel")
    group.addoption("--audience-coverage-json", type=Path, default=None, metavar="FILE",
                    help="write the coverage report as JSON (implies --audience-coverage)")
    group.addoption("--audience-coverage-html", type=Path, default=None, metavar="DIR",
                    help="write the coverage report as HTML (implies --audience-coverage)")
    group.addoption("--audience-fail-under", type=float, default=None, metavar="N",
                    help="fail the session when coverage is below N percent")


def collector(config: pytest.Config) -> Coverage | None:
    """The session's collector when coverage is asked for (made on first use)."""
    if _COVERAGE in config.stash:
        return config.stash[_COVERAGE]
    options = config.option
    if not (options.audience_coverage or options.audience_coverage_json is not None
            or options.audience_coverage_html is not None
            or options.audience_fail_under is not None):
        return None
    from .collector import Coverage

    config.stash[_COVERAGE] = coverage = Coverage()
    return coverage


def finish(session: pytest.Session) -> None:
    """Write the reports and fail a session under ``--audience-fail-under``."""
    coverage = collector(session.config)
    if coverage is None:
        return
    from .html import write_html
    from .options import shortfall
    from .report import json_report, text_report

    report = coverage.report()
    options = session.config.option
    text = text_report(report)
    if options.audience_coverage_json is not None:
        options.audience_coverage_json.write_text(json.dumps(json_report(report), indent=2),
                                                  "utf-8")
    if options.audience_coverage_html is not None:
        text += f"\ncoverage report: {write_html(report, options.audience_coverage_html)}"
    failed = shortfall(report, options.audience_fail_under, "--audience-fail-under")
    if failed:
        text += "\n" + failed
        if session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
    session.config.stash[_TEXT] = text


def summary(reporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    text = config.stash.get(_TEXT, None)
    if text:
        reporter.write_sep("=", "audience coverage")
        reporter.write_line(text)
