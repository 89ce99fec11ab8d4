"""The broadcast composer's form to a message: buttons and quick replies one a
line, links, and every problem named by the field's label."""

from __future__ import annotations

from plugin.web.composer import compose, previews


def test_lines_become_buttons_links_and_quick_replies() -> None:
    composed = compose({"text": " Hi ", "buttons": "Quote | QUOTE\n\nHours\nSite | https://x.io",
                        "quick_replies": "Yes\nNo | N"})
    assert composed.problems == []
    assert composed.message == {
        "text": "Hi",
        "buttons": [{"title": "Quote", "payload": "QUOTE"}, {"title": "Hours", "payload": "Hours"},
                    {"title": "Site", "url": "https://x.io"}],
        "quick_replies": [{"title": "Yes", "payload": "Yes"}, {"title": "No", "payload": "N"}]}


def test_problems_name_the_field_and_the_line() -> None:
    composed = compose({"text": "  ", "buttons": "\n".join(f"B{n}" for n in range(21)),
                        "quick_replies": "Fine\n | X\nLink | https://x.io"})
    assert composed.first_problem == (
        "Message: write the message to send (it is empty); Buttons: at most 20 (21 written); "
        "Quick replies: line 2 has no title before '|'")
    # A quick reply cannot be a link: the address is what it answers.
    assert compose({"text": "a", "quick_replies": "Site | https://x.io"}).message[
        "quick_replies"] == [{"title": "Site", "payload": "https://x.io"}]


def test_each_channel_previews_what_it_shows() -> None:
    message = compose({"text": "Pick", "buttons": "A\nB\nC\nD", "quick_replies": "Yes"}).message
    web, messenger, whatsapp = previews(message)
    assert (web.channel, len(web.messages[0]["buttons"])) == ("Web", 4)
    assert messenger.messages[0]["text"] == "Pick\n\n1. D"
    assert len(messenger.messages[0]["buttons"]) == 3
    assert whatsapp.messages[0]["text"] == "Pick\n\n1. D\n2. Yes"
    assert "quick_replies" not in whatsapp.messages[0]
