"""The Gherkin step library as a test author uses it: values read by the
property's type (a text of digits stays text), list properties, typed
starting values, API, regex, button, card and stub-delay steps, and a bot
path relative to the feature file, run by plain pytest from another folder."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

BOT = """
bot:
  id: steplib
  name: Step library
  cta:
    text: Anything else?
    buttons: [{title: Again, payload: AGAIN}]
properties:
  code: {type: text}
  topics: {type: list}
  age: {type: number}
  vip: {type: boolean}
apis:
  lookup: {method: GET, url: "${API_BASE}/lookup", timeout: 1}
modules:
  start:
    default: true
    start: {keywords: [hi], payloads: [AGAIN]}
    steps:
      - say:
          text: Welcome!
          buttons: [{title: Go, payload: GO}]
          cards:
            - title: Plans
              buttons: [{title: Pricing, url: "https://x.example/pricing"}]
      - ask: {property: code, prompt: Your code?}
      - ask: {property: topics, prompt: Topics?}
      - branch:
          - label: vip
            when:
              conditions:
                - {property: vip, operator: is_true}
                - {property: age, operator: gte, value: 40}
            goto: vip
          - else: regular
  vip:
    steps:
      - call: {api: lookup, on_failure: regular}
      - say: {text: Order 1234 confirmed, buttons: [{title: Again, payload: AGAIN}]}
  regular:
    steps:
      - say: {text: Sorry, buttons: [{title: Again, payload: AGAIN}]}
"""

FEATURE = r"""
Feature: The step library
  Scenario: typed values, lists, APIs, replies and buttons
    Given the bot "bot.yaml"
    And the user's "vip" is "true"
    And the user's "age" is "42"
    And the API "lookup" answers 200 with {"ok": true}
    When the user says "hi"
    Then the bot offers a button "Go" with payload "GO"
    And the bot offers a button "Pricing" with URL "https://x.example/pricing"
    And the bot shows the cards "Plans"
    When the user says "42"
    Then the property "code" is "42"
    And the API "lookup" was not called
    When the user says "billing, support"
    Then the property "topics" is "billing, support"
    And the property "topics" includes "support"
    And the API "lookup" succeeded
    And the bot's reply matches "Order \d+ confirmed"
    And the branch "vip" is taken

  Scenario: a stub slower than the bot waits
    Given the bot "bot.yaml"
    And the user's "vip" is "true"
    And the user's "age" is "42"
    And the API "lookup" answers 200 with {"ok": true}
    And the API "lookup" takes 2 seconds to answer
    When the user says "hi"
    And the user says "7"
    And the user says "billing"
    Then the API "lookup" failed with "timeout"
    And the bot replies "Sorry"

  Scenario: a step slower than its timeout is named
    Given the bot "bot.yaml"
    And each step may take 0.3 seconds
    And the user's "vip" is "true"
    And the user's "age" is "42"
    And the API "lookup" takes 2 seconds to answer
    When the user says "hi"
    And the user says "7"
    And the user says "billing"

  Scenario: a wrong button payload says what was offered
    Given the bot "bot.yaml"
    When the user says "hi"
    Then the bot offers a button "Go" with payload "STOP"
"""


def test_the_step_library_from_a_feature_in_its_own_folder(
        pytester: pytest.Pytester, mongo_uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONGODB_URI", mongo_uri)
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n"
                     "filterwarnings = error\n")
    suite = pytester.mkpydir("suite")
    (suite / "bot.yaml").write_text(BOT)
    (suite / "steps.feature").write_text(FEATURE)
    (suite / "test_steps.py").write_text(
        "from pytest_bdd import scenarios\nscenarios('steps.feature')\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "suite")
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines([
        "E *ExpectationFailed: timeout: expected the user says 'billing' to finish within "
        "0.3s (raise it with: Given each step may take N seconds); got no answer in time",
        "E *ExpectationFailed: offers: expected a button {title: 'Go', payload: 'STOP'}; "
        "got [[]{'title': 'Go', 'payload': 'GO'}, {'title': 'Pricing', *",
    ])
