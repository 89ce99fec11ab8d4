"""Starting rules (payloads, keywords, patterns, FAQs, the default module for a
first message, the fallback) and FAQs answered from anywhere, mid-ask too,
on the example bot ``scenarios/bots/leads.yaml``."""

from __future__ import annotations

from typing import Any

import pytest

from runtime import Button
from tests.runtime.conftest import RecordingObserver

NAME_PROMPT = "What's your name?"
EMAIL_PROMPT = "Which email should the quote go to?"
CTA = "Anything else I can do for you?"


async def test_a_first_message_that_matches_nothing_enters_the_default_module(
    chat: Any, observer: RecordingObserver
) -> None:
    user = chat("leads")
    assert await user.texts("good morning") == ["Hi! I'm Acme's assistant.", NAME_PROMPT]
    assert observer.of("module_entered") == [("module_entered", "welcome")]


async def test_a_first_message_that_matches_a_module_starts_it_instead(chat: Any) -> None:
    user = chat("leads")
    assert await user.texts("I'd like a QUOTE please") == [EMAIL_PROMPT]


@pytest.mark.parametrize(
    ("text", "payload", "module"),
    [
        (None, "DEMO", "demo"),  # start payload, exact
        ("Demo!", None, "demo"),  # keyword, whole word, any case
        ("how much would 5 seats cost?", None, "quote"),  # pattern beats the FAQ keyword 'cost'
        (None, "quote", "quote"),  # a payload no module starts is matched as text
    ],
)
async def test_starting_rules(
    chat: Any, observer: RecordingObserver, text: str | None, payload: str | None, module: str
) -> None:
    user = chat("leads")
    await user.send("good morning")
    await user.send("Ada")
    result = await user.send(text, payload=payload)
    assert result.module == module
    assert observer.of("module_entered")[-1] == ("module_entered", module)


async def test_keywords_match_whole_words_only_and_later_misses_fall_back(
    chat: Any, observer: RecordingObserver
) -> None:
    user = chat("leads")
    await user.send("good morning")
    await user.send("Ada")
    result = await user.send("the demonstration was misquoted")
    assert [m.text for m in result.messages] == [
        "Sorry, I didn't catch that. What would you like to do?"
    ]
    assert [q.payload for q in result.messages[0].quick_replies] == ["QUOTE", "DEMO", "SALES"]
    assert observer.of("fallback") == [("fallback", "the demonstration was misquoted")]


async def test_an_faq_is_answered_when_nothing_else_matches_then_a_cta(
    chat: Any, observer: RecordingObserver
) -> None:
    user = chat("leads")
    result = await user.send("What about GDPR?")
    assert [m.text for m in result.messages] == [
        "We only use your details to answer your request. See acme.example/privacy.",
        CTA,
    ]
    assert result.messages[1].buttons[0] == Button("Get a quote", payload="QUOTE")
    assert observer.of("faq_answered") == [("faq_answered", "privacy")]
    assert observer.of("module_entered") == []


async def test_an_faq_mid_ask_resumes_the_question(chat: Any, observer: RecordingObserver) -> None:
    user = chat("leads")
    await user.send(payload="QUOTE")
    result = await user.send("first, what's your pricing?")
    assert [m.text for m in result.messages] == [
        "Plans start at 10 EUR per seat a month; large teams get volume discounts.",
        EMAIL_PROMPT,
    ]
    assert result.waiting_for == "email"
    assert observer.of("property_rejected") == []
    assert observer.of("faq_answered") == [("faq_answered", "pricing")]
    assert (await user.send("ada@example.com")).waiting_for == "seats"


async def test_an_faq_with_then_cta_mid_ask_resumes_the_question_too(chat: Any) -> None:
    user = chat("leads")
    await user.send(payload="QUOTE")
    result = await user.send("When are you open?")
    assert [m.text for m in result.messages] == [
        "Our team answers Monday to Friday, 9:00 to 18:00 CET.",
        EMAIL_PROMPT,
    ]
    assert result.waiting_for == "email" and result.module == "quote"
    assert (await user.send("ada@example.com")).waiting_for == "seats"


async def test_while_asking_a_module_keyword_alone_starts_that_module(
    chat: Any, observer: RecordingObserver
) -> None:
    user = chat("leads")
    await user.send(payload="QUOTE")
    result = await user.send("Demo!")
    assert result.module == "demo" and result.waiting_for == "phone"
    assert observer.of("property_rejected") == []
    # A keyword inside a longer answer is still the answer.
    user = chat("leads")
    await user.send(payload="QUOTE")
    result = await user.send("my demo address")
    assert result.module == "quote" and result.waiting_for == "email"
    assert [e[1:3] for e in observer.of("property_rejected")] == [("email", "my demo address")]


async def test_giving_up_on_the_email_hands_over_to_sales(
    chat: Any, observer: RecordingObserver
) -> None:
    user = chat("leads")
    await user.send(payload="QUOTE")
    for attempt in ("no", "nope"):
        result = await user.send(attempt)
        assert result.messages[-1].text == EMAIL_PROMPT
    result = await user.send("never")
    assert result.handed_over
    assert [m.text for m in result.messages][-1].startswith("I'm passing you to our sales team")
    assert observer.of("handover") == [("handover", "lead asked for sales")]
    assert len(observer.of("property_rejected")) == 3
