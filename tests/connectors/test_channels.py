"""Channel adaptation: what each channel shows of one bot message."""

from __future__ import annotations

from plugin.handover.channel_profiles import PROFILES, adapt, profile_for, resolve_option

YES_NO = [{"title": "Yes", "payload": "yes"}, {"title": "No thanks", "payload": "no"}]
FIVE_BUTTONS = [{"title": f"B{i}", "payload": f"b{i}"} for i in range(1, 6)]


def test_web_shows_everything_as_is() -> None:
    message = {"text": "Hi", "buttons": FIVE_BUTTONS, "quick_replies": YES_NO,
               "cards": [{"title": "Plan"}]}
    delivered = adapt(message, PROFILES["web"])
    assert delivered.messages == [message]
    assert delivered.options == []


def test_whatsapp_turns_quick_replies_into_numbered_options() -> None:
    delivered = adapt({"text": "Shall we?", "quick_replies": YES_NO}, PROFILES["whatsapp"])
    assert delivered.messages == [{"text": "Shall we?\n\n1. Yes\n2. No thanks"}]
    assert "quick_replies" not in delivered.messages[0]
    assert resolve_option("2", delivered.options) == "no"
    assert resolve_option(" no THANKS ", delivered.options) == "no"
    assert resolve_option("3", delivered.options) is None
    assert resolve_option("maybe", delivered.options) is None


def test_whatsapp_keeps_three_buttons_and_numbers_the_rest() -> None:
    delivered = adapt({"text": "Pick", "buttons": FIVE_BUTTONS}, PROFILES["whatsapp"])
    assert delivered.messages[0]["buttons"] == FIVE_BUTTONS[:3]
    assert delivered.messages[0]["text"] == "Pick\n\n1. B4\n2. B5"
    assert resolve_option("1", delivered.options) == "b4"


def test_link_buttons_are_never_lost() -> None:
    # Never more buttons than the channel takes: links past the limit go into the text.
    links = [{"title": f"L{i}", "url": f"https://x/{i}"} for i in range(5)]
    delivered = adapt({"text": "Read", "buttons": links}, PROFILES["messenger"])
    assert delivered.messages[0]["buttons"] == links[:3]
    assert delivered.messages[0]["text"] == "Read\n\nL3: https://x/3\nL4: https://x/4"
    assert delivered.options == []


def test_link_buttons_count_against_the_button_limit() -> None:
    link = {"title": "Pricing", "url": "https://acme.example/pricing"}
    buttons = [*FIVE_BUTTONS[:3], link]
    for channel in ("messenger", "whatsapp"):
        delivered = adapt({"text": "Pick", "buttons": buttons}, PROFILES[channel])
        assert delivered.messages[0]["buttons"] == [*FIVE_BUTTONS[:2], link], channel
        assert delivered.messages[0]["text"] == "Pick\n\n1. B3"
        assert resolve_option("1", delivered.options) == "b3"
    assert adapt({"text": "Pick", "buttons": buttons}, PROFILES["web"]).messages[0][
        "buttons"] == buttons


def test_messenger_limits() -> None:
    replies = [{"title": f"Q{i}", "payload": f"q{i}"} for i in range(15)]
    delivered = adapt({"text": "x" * 2500, "quick_replies": replies}, PROFILES["messenger"])
    assert all(len(m["text"]) <= 2000 for m in delivered.messages)
    assert len(delivered.messages) == 2
    assert delivered.messages[-1]["quick_replies"] == replies[:13]
    assert delivered.messages[-1]["text"].endswith("1. Q13\n2. Q14")
    assert "".join(m["text"] for m in delivered.messages).startswith("x" * 2500)


def test_long_text_splits_on_line_breaks_first() -> None:
    text = ("a" * 1500) + "\n" + ("b" * 1500)
    delivered = adapt({"text": text}, PROFILES["messenger"])
    assert [m["text"] for m in delivered.messages] == ["a" * 1500, "b" * 1500]


def test_unknown_channel_is_treated_like_web() -> None:
    assert profile_for("telegram") is PROFILES["web"]
    assert profile_for(None) is PROFILES["web"]
