"""Each step kind of the runtime (``tests/runtime/bots/steps.yaml``): say, ask
(validation, retries, give-up), set, goto, branch, handover, and the step
budget that cuts off a goto loop."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from plugin.core.errors import InvalidRequest, NotFound
from runtime import Button, Card, QuickReply, Runtime
from tests.runtime.conftest import RecordingObserver


async def test_say_renders_text_buttons_quick_replies_and_cards(chat: Any) -> None:
    user = chat("steps", channel="messenger")
    await user.send(payload="ASK")
    await user.send("Ada")
    result = await user.send(payload="SAY")
    first, second = result.messages
    assert first.text == "Hello Ada on messenger"
    assert first.buttons == (
        Button("Go Ada", payload="GO"),
        Button("Site", url="https://example.com"),
    )
    assert first.quick_replies == (QuickReply("Yes", "YES"),)
    assert first.cards == (
        Card(
            "Card for Ada",
            "Sub",
            "https://example.com/a.png",
            (Button("Open", url="https://example.com/a"),),
        ),
    )
    assert second.text == "Second message"
    assert first.to_dict() == {
        "text": "Hello Ada on messenger",
        "buttons": [
            {"title": "Go Ada", "payload": "GO"},
            {"title": "Site", "url": "https://example.com"},
        ],
        "quick_replies": [{"title": "Yes", "payload": "YES"}],
        "cards": [
            {
                "title": "Card for Ada",
                "subtitle": "Sub",
                "image_url": "https://example.com/a.png",
                "buttons": [{"title": "Open", "url": "https://example.com/a"}],
            }
        ],
    }
    assert result.module is None and result.waiting_for is None


async def test_a_missing_property_renders_as_empty_text(chat: Any) -> None:
    user = chat("steps")
    assert (await user.texts(payload="SAY"))[0] == "Hello  on web"


async def test_ask_waits_for_the_answer_and_stores_the_valid_value(
    chat: Any, observer: RecordingObserver
) -> None:
    user = chat("steps")
    result = await user.send(payload="ASK")
    assert [m.text for m in result.messages] == ["What's your name?"]
    assert result.waiting_for == "name" and result.module == "ask_name"
    assert await user.texts("Ada Lovelace") == ["Thanks Ada Lovelace"]
    assert user.properties == {"name": "Ada Lovelace"}
    assert observer.of("property_set") == [("property_set", "name", "Ada Lovelace")]


async def test_a_rejected_answer_gets_the_error_message_and_the_prompt_again(
    chat: Any, observer: RecordingObserver
) -> None:
    user = chat("steps")
    await user.send(payload="ASK")
    result = await user.send("R2-D2")
    assert [m.text for m in result.messages] == ["Letters only, please.", "What's your name?"]
    assert result.waiting_for == "name"
    assert observer.of("property_rejected") == [
        ("property_rejected", "name", "R2-D2", "'R2-D2' does not have the expected format")
    ]
    assert await user.texts("Ada") == ["Thanks Ada"]


async def test_after_the_last_retry_the_ask_gives_up_to_its_module(
    chat: Any, observer: RecordingObserver
) -> None:
    user = chat("steps")
    await user.send(payload="ASK")
    await user.send("123")  # retries: 1 -> one more try
    result = await user.send("456")
    assert [m.text for m in result.messages] == ["Letters only, please.", "Let's move on."]
    assert result.waiting_for is None and result.module is None
    assert len(observer.of("property_rejected")) == 2
    assert observer.of("module_entered")[-1] == ("module_entered", "gave_up")
    assert "name" not in user.properties


async def test_without_on_give_up_the_ask_ends_with_the_fallback(
    chat: Any, observer: RecordingObserver
) -> None:
    user = chat("steps")
    await user.send(payload="AGE")
    result = await user.send("12")  # retries: 0, and below min
    assert [m.text for m in result.messages] == [
        "Sorry, that is not a valid Age: 12 is less than 18.",
        "Fallback!",
    ]
    assert result.messages[1].quick_replies == (QuickReply("Menu", "MENU"),)
    assert result.module is None
    assert observer.of("property_rejected") == [
        ("property_rejected", "age", "12", "12 is less than 18")
    ]
    assert observer.of("fallback") == [("fallback", "12")]


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ("abc", "'abc' is not a number"),
        ("121", "121 is more than 120"),
    ],
)
async def test_number_answers_are_checked_by_type_then_rules(
    chat: Any, observer: RecordingObserver, answer: str, reason: str
) -> None:
    user = chat("steps")
    await user.send(payload="AGE")
    await user.send(answer)
    assert observer.of("property_rejected")[0][3] == reason


async def test_ask_normalises_each_type_and_takes_a_payload_as_the_answer(chat: Any) -> None:
    user = chat("steps")
    await user.send(payload="MORE")
    assert await user.texts(payload="green") == ["Up to three tags?"]
    assert await user.texts("a, b, c, d") == [
        "Sorry, that is not a valid tags: takes at most 3 items.",
        "Up to three tags?",
    ]
    assert await user.texts("alpha, beta") == ["VIP?"]
    assert await user.texts("Yes") == ["Birthday?"]
    assert await user.texts("1990-05-17") == [
        "green / alpha, beta / true / 17 May 1990"
    ]
    assert user.properties == {
        "colour": "green",
        "tags": ["alpha", "beta"],
        "vip": True,
        "birthday": datetime(1990, 5, 17, tzinfo=UTC),
    }


async def test_set_templates_and_validates_then_goto_leaves_the_module(
    chat: Any, observer: RecordingObserver
) -> None:
    user = chat("steps")
    await user.send(payload="ASK")
    await user.send("Ada")
    assert await user.texts(payload="SET") == ["Hi Ada 42 true 42"]
    assert user.properties["vip"] is True and user.properties["age"] == 42
    assert observer.of("module_entered")[-2:] == [
        ("module_entered", "set_goto"),
        ("module_entered", "after_set"),
    ]


async def test_branch_takes_the_first_matching_arm(chat: Any, observer: RecordingObserver) -> None:
    user = chat("steps")
    result = await user.send(payload="BRANCH", profile={"attributes": {"age": 30, "vip": True}})
    assert [m.text for m in result.messages] == ["VIP branch"]
    assert observer.of("branch") == [
        ("branch", "branching", 0, "adult vip", "1 and 2 where 1: age gte 18, 2: vip is_true")
    ]


@pytest.mark.parametrize(
    ("channel", "profile"),
    [
        ("whatsapp", {}),
        ("web", {"attributes": {"tags": ["BETA"]}}),
        ("whatsapp", {"attributes": {"age": 30, "vip": False}}),
    ],
)
async def test_branch_second_arm_by_system_property_or_attribute(
    chat: Any, observer: RecordingObserver, channel: str, profile: dict[str, Any]
) -> None:
    user = chat("steps", channel=channel)
    result = await user.send(payload="BRANCH", profile=profile)
    assert [m.text for m in result.messages] == ["WhatsApp or beta branch"]
    index, label, condition = observer.of("branch")[-1][2:]
    assert (index, label) == (1, "1")
    assert condition == 'A or B where 1: channel equals "whatsapp", 2: tags contains "beta"'


async def test_branch_else_arm(chat: Any, observer: RecordingObserver) -> None:
    user = chat("steps")
    assert await user.texts(payload="BRANCH") == ["Other branch"]
    assert observer.of("branch") == [("branch", "branching", 2, "else", "else")]


async def test_collected_properties_override_the_hosts_profile_in_branches(chat: Any) -> None:
    user = chat("steps")
    await user.send(payload="SET")  # sets vip and age 42 in the conversation
    result = await user.send(payload="BRANCH", profile={"attributes": {"age": 10, "vip": False}})
    assert [m.text for m in result.messages] == ["VIP branch"]


async def test_a_branch_without_match_and_else_goes_on(
    chat: Any, observer: RecordingObserver
) -> None:
    user = chat("steps")
    assert await user.texts(payload="NOELSE") == ["No branch matched."]
    assert observer.of("branch") == []


async def test_handover_stops_the_bot_until_released(
    chat: Any, runtime: Runtime, observer: RecordingObserver
) -> None:
    user = chat("steps")
    result = await user.send(payload="HUMAN")
    assert [m.text for m in result.messages] == ["Passing you on."]
    assert result.handed_over and result.module is None
    assert observer.of("handover") == [("handover", "asked for a person")]
    held = await user.send("hello? anyone?")
    assert held.messages == [] and held.handed_over
    assert observer.events[-1] == ("user_message", "hello? anyone?", None)
    state = runtime.conversation("steps", user.user_id)
    assert state is not None and state.human
    runtime.release("steps", user.user_id)
    released = await user.send(payload="SAY")
    assert not released.handed_over and released.messages[1].text == "Second message"


async def test_a_goto_loop_is_cut_off_by_the_step_budget(chat: Any, runtime: Runtime) -> None:
    user = chat("steps")
    result = await user.send(payload="LOOP")
    assert result.error is not None and "goto loop" in result.error
    assert [m.text for m in result.messages] == ["Fallback!"]
    assert result.module is None
    # The conversation goes on normally afterwards.
    assert await user.texts(payload="SAY") == ["Hello  on web", "Second message"]


async def test_start_module_runs_a_module_as_if_triggered(
    runtime: Runtime, observer: RecordingObserver
) -> None:
    result = await runtime.start_module("steps", "workflow-user", "ask_name", observer=observer)
    assert [m.text for m in result.messages] == ["What's your name?"]
    assert result.waiting_for == "name"
    assert observer.events == [("module_entered", "ask_name")]
    answered = await runtime.handle("steps", "workflow-user", text="Bob")
    assert [m.text for m in answered.messages] == ["Thanks Bob"]


async def test_unknown_bot_or_module_is_not_found(runtime: Runtime) -> None:
    with pytest.raises(NotFound, match="no bot 'nope'"):
        await runtime.handle("nope", "u", text="hi")
    with pytest.raises(NotFound, match="no module 'nope'"):
        await runtime.start_module("steps", "u", "nope")
    with pytest.raises(InvalidRequest, match="text or a payload"):
        await runtime.handle("steps", "u")


async def test_redeploying_a_bot_ends_open_flows_but_keeps_properties(
    chat: Any, runtime: Runtime
) -> None:
    user = chat("steps")
    await user.send(payload="SET")
    await user.send(payload="ASK")
    runtime.deploy(runtime.bot("steps"))
    state = runtime.conversation("steps", user.user_id)
    assert state is not None and state.waiting_for is None and state.properties["score"] == 42
    assert await user.texts("Ada") == ["Fallback!"]


async def test_a_failing_observer_never_breaks_the_conversation(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken(RecordingObserver):
        async def module_entered(self, module: str) -> None:
            raise RuntimeError("recorder down")

    result = await runtime.handle("steps", "u-broken", payload="SAY", observer=Broken())
    assert [m.text for m in result.messages][1] == "Second message"
    assert "observer" in caplog.text and "recorder down" in caplog.text


async def test_user_input_shown_back_is_never_rendered_as_a_template(chat: Any) -> None:
    user = chat("steps")
    await user.send(payload="AGE")
    texts = await user.texts("{{channel}}")
    assert texts[0] == "Sorry, that is not a valid Age: '{{channel}}' is not a number."
