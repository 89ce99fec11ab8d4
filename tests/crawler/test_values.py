"""What the crawler types: samples that match each pattern, answers each
property takes or refuses, and call answers holding what a call saves."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from plugin.core.properties import InvalidValue
from runtime.loader import load_bot, parse_bot
from simulator.crawler.values import (
    invalid_answers,
    neutral_text,
    sample,
    saved_variants,
    success_body,
    valid_answers,
)

BOTS = Path(__file__).parents[2] / "scenarios" / "bots"


@pytest.mark.parametrize("pattern", [
    "how much (does|do|would|is)", r"sign ?up", "opening hours?", r"order #\d{3,5}",
    r"[a-c]+\s+(x|y)z*", r"^when is (it|the conference)$",
])
def test_a_sample_matches_its_pattern(pattern: str) -> None:
    for seed in range(5):
        text = sample(pattern, random.Random(seed))
        assert text is not None and re.search(pattern, text, re.IGNORECASE), (pattern, text)


def test_what_the_sampler_cannot_write_is_none() -> None:
    assert sample(r"(?<=a)b", random.Random(0)) is None
    assert sample(r"(a)\1", random.Random(0)) is None


@pytest.mark.parametrize("bot", ["leads.yaml", "signup.yaml"])
def test_valid_answers_are_taken_and_invalid_ones_refused(bot: str) -> None:
    loaded = load_bot(BOTS / bot)
    rng = random.Random(0)
    for name, spec in loaded.properties.items():
        for value in valid_answers(loaded, name, rng):
            spec.check(value)
        for value in invalid_answers(loaded, name):
            if value == "" and spec.definition.type.value == "text" and \
                    not spec.validation.min_length:
                continue  # a text property without rules takes even an empty answer
            with pytest.raises(InvalidValue):
                spec.check(value)


def test_branch_values_come_with_the_answers() -> None:
    signup = load_bot(BOTS / "signup.yaml")
    ages = valid_answers(signup, "age", random.Random(0))
    assert "18" in ages and "17" in ages  # the 'under 18' arm: lt 18
    assert {"standard", "vip"} <= set(valid_answers(signup, "ticket", random.Random(0)))
    leads = load_bot(BOTS / "leads.yaml")
    assert {"100", "99"} <= set(valid_answers(leads, "seats", random.Random(0)))
    assert saved_variants(leads, "crm_lookup") == [{"customer": True}, {"customer": False}]


def test_a_success_body_holds_every_saved_field_at_its_path() -> None:
    bot = parse_bot("""
bot: {id: b, name: B}
properties:
  plan: {type: choice, choices: [pro]}
  order: {type: number, validation: {min: 10}}
apis:
  crm: {method: GET, url: "${API_BASE}/crm"}
modules:
  m:
    default: true
    steps:
      - call: {api: crm, save: {plan: customer.plan, order: items.0.id}}
""")
    body = success_body(bot, "crm", random.Random(0))
    assert body == {"customer": {"plan": "pro"}, "items": [{"id": 11}]}


def test_the_neutral_text_starts_nothing() -> None:
    leads = load_bot(BOTS / "leads.yaml")
    text = neutral_text(leads)
    assert not any(m.start.matches_keyword(text) or m.start.matches_pattern(text)
                   for m in leads.modules.values())
