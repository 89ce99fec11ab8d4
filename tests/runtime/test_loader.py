"""Bot files: the schema, the good bots, and one deliberately wrong bot per
check (``tests/runtime/bots/bad/``) whose error names the file, the path in
the document, the line and the reason."""

from __future__ import annotations

from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from plugin.core.errors import InvalidRequest
from runtime import BotDefinitionError, load_bot, parse_bot
from runtime.loader import bot_schema
from runtime.model import Ask, Branch, Call, Goto, Handover, Say, SetValues
from tests.runtime.conftest import BOTS, LEADS

BAD = BOTS / "bad"


def test_the_bot_schema_is_a_valid_draft_2020_12_schema() -> None:
    Draft202012Validator.check_schema(bot_schema())
    assert bot_schema()["$schema"] == "https://json-schema.org/draft/2020-12/schema"


@pytest.mark.parametrize("path", [*sorted(BOTS.glob("*.yaml")), LEADS], ids=lambda p: p.name)
def test_good_bots_load(path: Path) -> None:
    bot = load_bot(path)
    assert bot.source == str(path)
    assert sum(module.default for module in bot.modules.values()) == 1


def test_the_example_bot_uses_every_step_kind_two_apis_faqs_and_branches() -> None:
    bot = load_bot(LEADS)
    kinds = {type(step) for module in bot.modules.values() for step in module.steps}
    assert kinds == {Say, Ask, Call, Branch, Goto, Handover, SetValues}
    assert {"crm_lookup", "quote"} <= set(bot.apis)
    assert bot.apis["crm_lookup"].url == "${API_BASE}/crm/lookup?email={{email}}"
    assert (bot.apis["quote"].method, bot.apis["quote"].url) == ("POST", "${API_BASE}/quote")
    assert {faq.name for faq in bot.faqs} == {"pricing", "privacy", "opening_hours"}
    branched_on = {
        condition["property"]
        for module in bot.modules.values()
        for step in module.steps
        if isinstance(step, Branch)
        for arm in step.arms
        for condition in arm.when["conditions"]
    }
    assert branched_on <= set(bot.properties)


@pytest.mark.parametrize(
    ("name", "path", "line", "reason"),
    [
        ("syntax", "", 7, "invalid YAML: found unexpected end of stream"),
        (
            "unknown_step",
            "modules/welcome/steps/1/sya",
            7,
            "unknown key 'sya' (did you mean 'say'?); use one of: say, ask, call, branch, goto,"
            " handover, set",
        ),
        ("no_default", "modules", 2, "no default module: mark the welcome module with"),
        ("two_defaults", "modules/other/default", 8, "more than one default module ('welcome'"),
        (
            "unknown_module",
            "modules/welcome/steps/1/goto",
            7,
            "unknown module 'checkuot' (did you mean 'checkout'?)",
        ),
        (
            "unknown_api",
            "modules/checkout/steps/2/call/api",
            11,
            "undeclared api 'crm' (declared: crm_lookup)",
        ),
        (
            "undeclared_ask",
            "modules/welcome/steps/0/ask/property",
            9,
            "undeclared property 'emial' (did you mean 'email'?)",
        ),
        (
            "undeclared_set",
            "modules/welcome/steps/0/set/channel",
            10,
            "'channel' is a system property",
        ),
        (
            "undeclared_save",
            "modules/welcome/steps/0/call/save/tier",
            14,
            "undeclared property 'tier'",
        ),
        (
            "bad_condition",
            "modules/welcome/steps/0/branch/0/when",
            9,
            "invalid condition: condition 1: operator 'contains' is not valid for number "
            "property 'budget'",
        ),
        (
            "bad_expression",
            "modules/welcome/steps/0/branch/0/when",
            9,
            "invalid condition: condition 3 at position 6 does not exist",
        ),
        (
            "bad_regex",
            "properties/code/validation/regex",
            6,
            "invalid regular expression '[A-Z': unterminated character set",
        ),
        ("bad_pattern", "faqs/0/patterns/0", 9, "invalid regular expression '(open'"),
        (
            "bad_template",
            "modules/welcome/steps/0/say",
            8,
            "template names undeclared property 'nmae' (did you mean 'name'?)",
        ),
        (
            "bad_set_value",
            "modules/welcome/steps/0/set/seats",
            9,
            "invalid value for 'seats': 50 is more than 10",
        ),
        (
            "else_not_last",
            "modules/welcome/steps/0/branch/0/else",
            7,
            "'else' must be the last arm of a branch",
        ),
        (
            "duplicate_payload",
            "modules/other/start/payloads/0",
            9,
            "payload 'GO' already starts module 'welcome'",
        ),
    ],
)
def test_a_wrong_bot_names_file_path_line_and_reason(
    name: str, path: str, line: int, reason: str
) -> None:
    file = BAD / f"{name}.yaml"
    with pytest.raises(BotDefinitionError) as caught:
        load_bot(file)
    error = caught.value
    assert (error.path, error.line) == (path, line)
    assert error.reason.startswith(reason)
    shown = f"{file}:{line}: {path or '(document)'}: {reason}"
    assert str(error).startswith(shown)
    assert isinstance(error, InvalidRequest) and error.code == "invalid_bot"
    assert error.details["file"] == str(file)


def test_every_problem_is_reported_at_once_in_line_order() -> None:
    file = BAD / "many.yaml"
    with pytest.raises(BotDefinitionError) as caught:
        load_bot(file)
    assert str(caught.value).splitlines() == [
        f"{file}:3: properties/plan: a choice property needs at least one choice",
        f"{file}:8: modules/welcome/steps/0/goto: unknown module 'nowhere'",
        f"{file}:9: modules/welcome/steps/1/ask/on_give_up: unknown module 'gone'",
    ]
    assert caught.value.details["errors"] == [
        {
            "path": "properties/plan",
            "line": 3,
            "reason": "a choice property needs at least one choice",
        },
        {"path": "modules/welcome/steps/0/goto", "line": 8, "reason": "unknown module 'nowhere'"},
        {
            "path": "modules/welcome/steps/1/ask/on_give_up",
            "line": 9,
            "reason": "unknown module 'gone'",
        },
    ]


@pytest.mark.parametrize(
    ("text", "path", "line", "reason"),
    [
        ("", "", None, "the file is empty"),
        ("- just a list\n", "", 1, "['just a list'] is not of type 'object'"),
        ("bot: {id: x}\nmodules: {}\n", "bot", 1, "'name' is a required property"),
        (
            "bot: {id: x, name: X}\nmodules:\n  m:\n    default: true\n    steps:\n"
            "      - say: {text: hi, buttons: [{title: T}]}\n",
            "modules/m/steps/0/say/buttons/0",
            6,
            "'payload' is a required property",
        ),
        (
            "bot: {id: x, name: X}\nmodules:\n  m:\n    default: true\n    steps:\n"
            "      - say: hi\n        goto: m\n",
            "modules/m/steps/0",
            6,
            "{'say': 'hi', 'goto': 'm'} has too many properties",
        ),
        (
            "bot: {id: x, name: X}\nmodules:\n  m:\n    default: true\n    steps:\n"
            "      - call: {api: a, on_failure: {refused: m}}\n",
            "modules/m/steps/0/call/on_failure/refused",
            6,
            "unknown key 'refused'",
        ),
    ],
)
def test_schema_errors_in_text(text: str, path: str, line: int | None, reason: str) -> None:
    with pytest.raises(BotDefinitionError) as caught:
        parse_bot(text, "inline.yaml")
    assert (caught.value.path, caught.value.line) == (path, line)
    assert caught.value.reason.startswith(reason)
    assert str(caught.value).startswith("inline.yaml")


def test_a_missing_file_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_bot(tmp_path / "nope.yaml")
