"""Scenario files: every problem reported at once as file:line: path: reason."""

from __future__ import annotations

from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from simulator.loader import (
    ScenarioError,
    find_scenario_files,
    load_scenarios,
    parse_scenarios,
    scenario_schema,
)
from simulator.model import StepKind, StubFailure, WebhookTarget

from .conftest import EXAMPLES, INVALID, SCENARIOS


def problems(name: str) -> list[str]:
    with pytest.raises(ScenarioError) as caught:
        load_scenarios(INVALID / name)
    return caught.value.message.splitlines()


def test_the_schema_is_a_valid_json_schema() -> None:
    Draft202012Validator.check_schema(scenario_schema())


def test_an_unknown_key_is_named_with_its_line_and_a_hint() -> None:
    assert problems("unknown_key.yaml") == [
        f"{INVALID / 'unknown_key.yaml'}:7: scenarios/0/steps/0/expect/txet: unknown key 'txet' "
        "(did you mean 'text'?); use one of: text, contains, regex, messages, buttons, "
        "quick_replies, options, offers, cards, no_fallback, properties, set, not_set, "
        "rejected, module, apis, branch, faq, assigned_to"]


def test_names_the_bot_does_not_have_are_all_reported() -> None:
    source = INVALID / "bad_refs.yaml"
    assert problems("bad_refs.yaml") == [
        f"{source}:3: apis/crm_lookpu: the bot has no api 'crm_lookpu' (did you mean "
        "'crm_lookup'?)",
        f"{source}:9: scenarios/0/steps/0/expect/set/0: the bot has no property 'emial' "
        "(did you mean 'email'?)",
        f"{source}:10: scenarios/0/steps/0/expect/module: the bot has no module 'quotes' "
        "(did you mean 'quote'?)",
        f"{source}:12: scenarios/0/steps/0/expect/regex: invalid regular expression: "
        "missing ), unterminated subpattern at position 0",
        f"{source}:13: scenarios/1/name: scenario name 'names that the bot does not have' is "
        "already used by scenario 0",
    ]


def test_a_missing_bot_file_is_reported_at_its_key() -> None:
    (problem,) = problems("no_bot.yaml")
    assert problem.startswith(f"{INVALID / 'no_bot.yaml'}:1: bot: cannot read the bot file")


def test_a_yaml_syntax_error_has_its_line() -> None:
    (problem,) = problems("syntax.yaml")
    assert problem.startswith(f"{INVALID / 'syntax.yaml'}:5: (document): invalid YAML")


def test_profile_expectations_are_refused_for_a_webhook_target() -> None:
    (problem,) = problems("webhook_profile.yaml")
    assert problem == (f"{INVALID / 'webhook_profile.yaml'}:7: scenarios/0/steps/0/expect/set: "
                       "'set' reads the captured profile, which a webhook target does not "
                       "have; check replies only")


def test_a_file_is_parsed_into_scenarios_with_defaults_and_overrides() -> None:
    text = """
bot: ../../../scenarios/bots/leads.yaml
channel: [web, whatsapp]
apis: {crm_lookup: 503}
scenarios:
  - name: one
    steps: [{say: hi}, {tap: Get a quote}]
  - name: two
    channel: messenger
    apis: {crm_lookup: {fail: reset}}
    timeout: 2
    steps: [{say: hi}]
"""
    one, two = parse_scenarios(text, SCENARIOS / "inline.yaml")
    assert one.channels == ("web", "whatsapp") and two.channels == ("messenger",)
    assert one.apis["crm_lookup"].status == 503
    assert two.apis["crm_lookup"].fail is StubFailure.RESET and two.timeout == 2
    assert [s.kind for s in one.steps] == [StepKind.SAY, StepKind.TAP]
    assert one.bot_file == (EXAMPLES / "bots" / "leads.yaml").resolve()
    assert (one.line, two.line) == (6, 8)
    assert [r.channel for r in one.runs()] == ["web", "whatsapp"]


def test_a_webhook_target_needs_no_bot() -> None:
    text = """
target:
  webhook: {url: "http://127.0.0.1:1/hook", request: {text: "$.message"}}
scenarios: [{name: w, steps: [{say: hi, expect: {text: hello}}]}]
"""
    (scenario,) = parse_scenarios(text, Path("inline.yaml"))
    assert isinstance(scenario.target, WebhookTarget)
    assert scenario.target.request == {"text": "$.message"}


def test_directories_hold_scenario_files_beside_bot_files() -> None:
    found = find_scenario_files([EXAMPLES])
    assert {p.name for p in found} == {"api_failures.yaml", "branches.yaml", "buttons.yaml",
                                       "cta.yaml", "properties.yaml", "starting.yaml",
                                       "coverage_leads.yaml", "coverage_signup.yaml",
                                       "mid_flow.yaml"}


def test_a_misspelt_step_key_is_named_with_the_key_it_resembles() -> None:
    text = """
bot: ../bots/leads.yaml
scenarios:
  - name: typo
    steps:
      - sya: hi
      - tpa: Get a quote
"""
    with pytest.raises(ScenarioError) as refused:
        parse_scenarios(text, EXAMPLES / "suites" / "here.yaml")
    assert [(p.path, p.line, p.reason.split(";")[0]) for p in refused.value.problems] == [
        ("scenarios/0/steps/0/sya", 6, "unknown key 'sya' (did you mean 'say'?)"),
        ("scenarios/0/steps/1/tpa", 7, "unknown key 'tpa' (did you mean 'tap'?)"),
    ]


def test_schema_and_meaning_problems_are_reported_at_once() -> None:
    text = """
bot: ../bots/leads.yaml
scenarios:
  - name: shape
    steps:
      - say: hi
        expect: {messages: many}
  - name: meaning
    steps:
      - say: hi
        expect: {module: welcom, set: [emial]}
"""
    with pytest.raises(ScenarioError) as refused:
        parse_scenarios(text, EXAMPLES / "suites" / "here.yaml")
    assert [(p.path, p.line) for p in refused.value.problems] == [
        ("scenarios/0/steps/0/expect/messages", 7),
        ("scenarios/1/steps/0/expect/module", 11),
        ("scenarios/1/steps/0/expect/set/0", 11),
    ]
    assert "did you mean 'welcome'" in refused.value.problems[1].reason
    # A broken default is read by every scenario: its meaning waits for the fix.
    with pytest.raises(ScenarioError) as refused:
        parse_scenarios("bot: 7\n" + text.split("\n", 2)[2], EXAMPLES / "suites" / "here.yaml")
    assert [p.path for p in refused.value.problems] == ["bot",
                                                        "scenarios/0/steps/0/expect/messages"]
