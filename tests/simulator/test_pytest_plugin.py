"""The pytest plugin as a team uses it: a .feature file and a one-line test
module, run by plain pytest; failures read like the YAML runner's."""

from __future__ import annotations

import pytest

from .conftest import EXAMPLES

pytest_plugins = ["pytester"]

FEATURE = f"""
Feature: Leads
  Scenario: the CRM times out
    Given the bot "{EXAMPLES / 'bots' / 'leads.yaml'}" on channel "whatsapp"
    And the API "crm_lookup" refuses the connection
    When the user says "quote"
    And the user says "ada@example.com"
    Then the API "crm_lookup" failed with "connection"
    And the bot's reply contains "couldn't check"
    And the property "email" is "ada@example.com"

  Scenario: a wrong expectation
    Given the bot "{EXAMPLES / 'bots' / 'leads.yaml'}"
    When the user says "hi"
    And the user says "Ada"
    Then the bot offers the buttons "Get a quote"
"""


def test_a_feature_runs_under_plain_pytest(pytester: pytest.Pytester, mongo_uri: str,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONGODB_URI", mongo_uri)
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n"
                     "filterwarnings = error\n")
    pytester.makefile(".feature", leads=FEATURE)
    pytester.makepyfile(test_leads="from pytest_bdd import scenarios\nscenarios('leads.feature')\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "E *ExpectationFailed: buttons: expected ?'Get a quote'?; got none",
    ])
