"""The example bot end to end against the test backend: the exact sequence an
observer receives for a scripted conversation, and a call to action at the end
of every flow."""

from __future__ import annotations

import json
from typing import Any

from runtime import Runtime, TurnResult, load_bot
from tests.runtime.conftest import LEADS, SECRET, Backend, Chat, RecordingObserver


async def test_a_scripted_conversation_reports_exactly_what_happened(
    chat: Any, observer: RecordingObserver, backend: Backend
) -> None:
    user: Chat = chat("leads")
    await user.send("hello")
    await user.send("Ada")
    await user.send(payload="QUOTE")
    await user.send("Ada@Acme.test")
    await user.send("120")
    final = await user.send(payload="business")

    lookup = f"{backend.url}/crm/lookup?email=ada%40acme.test"
    large = '1 or 2 where 1: seats gte 100, 2: plan equals "enterprise"'
    assert observer.events == [
        ("user_message", "hello", None),
        ("module_entered", "welcome"),
        ("property_set", "source_channel", "web"),
        ("bot_message", "Hi! I'm Acme's assistant."),
        ("bot_message", "What's your name?"),
        ("user_message", "Ada", None),
        ("property_set", "name", "Ada"),
        ("bot_message", "Nice to meet you, Ada! What can I do for you?"),
        ("user_message", None, "QUOTE"),
        ("module_entered", "quote"),
        ("bot_message", "Which email should the quote go to?"),
        ("user_message", "Ada@Acme.test", None),
        ("property_set", "email", "ada@acme.test"),
        ("api_call", "crm_lookup", "GET", lookup, 200, True, None),
        ("property_set", "customer", True),
        ("property_set", "crm_plan", "business"),
        ("branch", "quote", 0, "known customer", "customer is_true"),
        ("module_entered", "existing_customer"),
        ("module_entered", "quote_details"),
        # The connector reports a turn's messages once the turn is over.
        ("bot_message", "Welcome back! Your company is on our business plan."),
        ("bot_message", "How many seats do you need?"),
        ("user_message", "120", None),
        ("property_set", "seats", 120),
        ("bot_message", "Which plan?"),
        ("user_message", None, "business"),
        ("property_set", "plan", "business"),
        ("api_call", "quote", "POST", f"{backend.url}/quote", 200, True, None),
        ("property_set", "price", 2400),
        ("branch", "quote_details", 0, "large account", large),
        ("module_entered", "large_account"),
        ("property_set", "wants_demo", True),
        (
            "bot_message",
            "For 120 seats on business (list price 2400 EUR a month) an account manager "
            "will prepare a tailored offer.",
        ),
    ]
    assert final.messages[-1].has_call_to_action
    crm, quote = backend.requests
    assert crm["headers"]["Authorization"] == f"Bearer {SECRET}"
    assert json.loads(quote["body"]) == {"email": "ada@acme.test", "seats": 120, "plan": "business"}


def _ends_flow(result: TurnResult) -> bool:
    return result.module is None and result.waiting_for is None and not result.handed_over


async def _play(user: Chat, script: list[tuple[str | None, str | None]]) -> list[TurnResult]:
    results = []
    for text, payload in script:
        result = await user.send(text, payload=payload)
        if _ends_flow(result):
            assert result.messages and result.messages[-1].has_call_to_action, (
                f"after {text or payload!r} the flow ends without a call to action: "
                f"{[m.text for m in result.messages]}"
            )
        results.append(result)
    return results


SCRIPTS: dict[str, list[tuple[str | None, str | None]]] = {
    "welcome": [("hi", None), ("Grace", None)],
    "small quote for a new customer": [
        (None, "QUOTE"),
        ("grace@example.com", None),
        ("5", None),
        (None, "starter"),
    ],
    "demo": [(None, "DEMO"), ("+44 20 7946 0000", None)],
    "faq then cta": [("what are your opening hours", None)],
    "faq when idle": [("hi", None), ("Grace", None), ("pricing?", None)],
    "fallback": [("hi", None), ("Grace", None), ("blah", None)],
}


async def test_every_flow_of_the_example_bot_ends_with_a_call_to_action(chat: Any) -> None:
    for name, script in SCRIPTS.items():
        results = await _play(chat("leads"), script)
        assert _ends_flow(results[-1]), name
    # The sales flow ends with a person, not a call to action.
    (result,) = await _play(chat("leads"), [(None, "SALES")])
    assert result.handed_over


async def test_when_the_backend_is_down_the_quote_flow_still_ends_with_a_cta(
    closed_port: int, observer: RecordingObserver
) -> None:
    async with Runtime(api_base=f"http://127.0.0.1:{closed_port}") as runtime:
        runtime.deploy(load_bot(LEADS))
        user = Chat(runtime, "leads", "offline-user", observer)
        results = await _play(
            user, [(None, "QUOTE"), ("grace@example.com", None), ("5", None), (None, "starter")]
        )
    texts = [m.text for result in results for m in result.messages]
    assert "I couldn't check our customer records just now, but let's carry on." in texts
    assert texts[-1] == "Sorry, I can't work out a quote right now."
    assert [event[-1] for event in observer.of("api_call")] == ["connection", "connection"]
    assert _ends_flow(results[-1])
