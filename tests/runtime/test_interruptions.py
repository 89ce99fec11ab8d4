"""A question interrupted: a button of an earlier message, or a start
keyword typed alone, starts what it names instead of being taken as the
answer; the question is asked again when that flow ends (see
runtime/routing.py), on the example bot ``scenarios/bots/leads.yaml``."""

from __future__ import annotations

from typing import Any

from tests.runtime.conftest import RecordingObserver

NAME_PROMPT = "What's your name?"
EMAIL_PROMPT = "Which email should the quote go to?"
PHONE_PROMPT = "Which phone number should we call to book your demo?"


async def test_an_earlier_button_starts_its_flow_and_the_question_comes_back_after(
    chat: Any, observer: RecordingObserver
) -> None:
    user = chat("leads")
    await user.send(payload="QUOTE")
    assert await user.texts(payload="DEMO") == [PHONE_PROMPT]
    assert observer.of("property_rejected") == []
    result = await user.send("+44 20 7946 0000")
    assert [m.text for m in result.messages] == [
        "Thanks! Someone will call +442079460000 within one working day.", EMAIL_PROMPT]
    assert result.module == "quote" and result.waiting_for == "email"
    assert observer.of("module_entered")[-2:] == [("module_entered", "demo"),
                                                  ("module_entered", "quote")]
    assert (await user.send("ada@example.com")).waiting_for == "seats"
    assert user.properties["email"] == "ada@example.com"


async def test_talk_to_sales_mid_question_hands_over_instead_of_refusing_an_email(
    chat: Any, observer: RecordingObserver
) -> None:
    user = chat("leads")
    await user.send(payload="QUOTE")
    result = await user.send(payload="SALES")
    assert result.handed_over
    assert [m.text for m in result.messages] == [
        "I'm passing you to our sales team, someone will answer here shortly."]
    assert observer.of("property_rejected") == []
    assert observer.of("handover") == [("handover", "lead asked for sales")]


async def test_a_menu_title_typed_while_the_name_is_asked_is_not_stored_as_the_name(
    chat: Any, observer: RecordingObserver
) -> None:
    user = chat("leads", channel="whatsapp")
    await user.send("hi")
    # A numbered option of an earlier WhatsApp message comes back as its title.
    assert await user.texts("Get a quote") == [EMAIL_PROMPT]
    assert "name" not in user.properties
    assert observer.of("property_rejected") == []
    assert (await user.send("ada@example.com")).waiting_for == "seats"


async def test_the_questions_own_buttons_are_answers(chat: Any) -> None:
    user = chat("leads")
    await user.send(payload="QUOTE")
    await user.send("ada@example.com")
    await user.send("5")
    result = await user.send(payload="business")  # the plan question's quick reply
    assert user.properties["plan"] == "business" and result.module is None


async def test_starting_the_questions_own_flow_again_starts_it_afresh(
    chat: Any, observer: RecordingObserver
) -> None:
    user = chat("leads")
    await user.send(payload="QUOTE")
    await user.send(payload="DEMO")
    # The quote flow started again: nothing of it is left to come back to.
    assert await user.texts(payload="QUOTE") == [EMAIL_PROMPT]
    await user.send("ada@example.com")
    result = await user.send("5")
    assert result.waiting_for == "plan"
    state = user.runtime.conversation("leads", user.user_id)
    assert state is not None and state.module == "quote_details"
    # The demo's phone question, interrupted by the quote, is asked once it ends.
    result = await user.send(payload="starter")
    assert result.waiting_for == "phone"
    assert result.messages[-1].text == PHONE_PROMPT
