"""Coverage from pytest, for Gherkin suites: ``--audience-coverage`` reports
at the end of the session, ``--audience-fail-under`` fails it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import BOT

pytest_plugins = ["pytester"]

FEATURE = """
Feature: coverage
  Scenario: the age flow on WhatsApp
    Given the bot "{bot}" on channel "whatsapp"
    When the user says "hello"
    And the user taps "Age"
    And the user says "30"
    Then the bot replies "Thanks"
"""


@pytest.fixture
def project(pytester: pytest.Pytester, mongo_uri: str,
            monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv("MONGODB_URI", mongo_uri)
    bot = Path(pytester.path) / "cov.yaml"
    bot.write_text(BOT)
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n"
                     "filterwarnings = error\n")
    pytester.makefile(".feature", cov=FEATURE.format(bot=bot))
    pytester.makepyfile(test_cov="from pytest_bdd import scenarios\nscenarios('cov.feature')\n")
    return pytester


def test_a_gherkin_session_reports_coverage(project: pytest.Pytester) -> None:
    result = project.runpytest_subprocess("-p", "no:cacheprovider", "--audience-coverage",
                                          "--audience-coverage-json", "cov.json")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([
        "*= audience coverage =*",
        "coverage of *cov.yaml (cov): *; by channel: whatsapp *",
        "*cov.yaml:*: ctas: age: the flow ends on a call to action (reached 1 time without one)",
        "coverage: *% of 39 items (* covered; cov *%)",
    ])
    body = json.loads((Path(project.path) / "cov.json").read_text())
    assert body["bots"][0]["channels"]["whatsapp"]["covered"] > 5


def test_fail_under_fails_the_session(project: pytest.Pytester) -> None:
    result = project.runpytest_subprocess("-p", "no:cacheprovider", "--audience-fail-under", "95")
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["coverage: *% is under --audience-fail-under 95"])
    assert project.runpytest_subprocess("-p", "no:cacheprovider",
                                        "--audience-fail-under", "5").ret == pytest.ExitCode.OK


def test_without_the_option_nothing_is_reported(project: pytest.Pytester) -> None:
    result = project.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert "audience coverage" not in result.stdout.str()
