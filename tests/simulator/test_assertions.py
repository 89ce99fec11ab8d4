"""The pure parts of the checks: numbered options, taps, JSONPath mapping."""

from __future__ import annotations

import pytest

from simulator import jsonpath
from simulator.assertions import (
    ExpectationFailed,
    check_ends_with_cta,
    numbered_options,
    resolve_tap,
)

WHATSAPP = [{"text": "What next?\n\n1. Get a quote\n2. Book a demo",
             "buttons": [{"title": "Pricing", "url": "https://x.example"}]}]


def test_numbered_options_are_read_from_the_end_of_the_text() -> None:
    assert numbered_options(WHATSAPP[0]["text"]) == ["Get a quote", "Book a demo"]
    assert numbered_options("Step 3. Pay at the desk") == []
    assert numbered_options("2. Pay\n3. Leave") == []


def test_a_tap_finds_buttons_by_title_or_payload_and_options_by_number() -> None:
    replies = [{"text": "Pick", "quick_replies": [{"title": "Yes", "payload": "Y"}]}]
    assert resolve_tap("Yes", replies) == {"payload": "Y"}
    assert resolve_tap("yes", replies) == {"payload": "Y"}
    assert resolve_tap("Y", replies) == {"payload": "Y"}
    assert resolve_tap("Book a demo", WHATSAPP) == {"text": "2"}
    with pytest.raises(ExpectationFailed, match="it is a link"):
        resolve_tap("Pricing", WHATSAPP)
    with pytest.raises(ExpectationFailed, match="offered: \\['Pricing', 'Get a quote'"):
        resolve_tap("Nope", WHATSAPP)


def test_numbered_options_are_a_call_to_action() -> None:
    check_ends_with_cta(WHATSAPP[:1])
    with pytest.raises(ExpectationFailed, match="ends_with_cta"):
        check_ends_with_cta([{"text": "Bye"}])


def test_jsonpath_reads_and_writes_the_supported_subset() -> None:
    doc = {"replies": [{"text": "a", "buttons": [{"title": "x"}]}, {"text": "b"}]}
    assert jsonpath.find(doc, "$.replies[*].text") == ["a", "b"]
    assert jsonpath.find(doc, "$.replies[0].buttons[0]['title']") == ["x"]
    assert jsonpath.find(doc, "$.missing") == []
    body: dict[str, object] = {}
    jsonpath.put(body, "$.message.text", "hi")
    assert body == {"message": {"text": "hi"}}
    with pytest.raises(jsonpath.JsonPathError):
        jsonpath.put(body, "$.items[0]", "x")
    with pytest.raises(jsonpath.JsonPathError):
        jsonpath.parse("replies")
