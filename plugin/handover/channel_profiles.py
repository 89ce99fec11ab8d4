"""Channel capability profiles, and adapting a bot message to one.

A bot writes one message; each channel shows what it can. Whatever a channel
cannot show natively (WhatsApp has no quick replies; Messenger takes three
buttons and thirteen quick replies) is delivered as numbered options at the
end of the text, which the user answers by number or by title, so nothing
the bot offered is lost. Text longer than the channel takes is split into
several messages. The adapted form is what the user sees, so it is what
capture records.

The one copy of these rules: the connectors deliver with them, the web tab
previews a broadcast with them, the linter and the crawler check bots
against them. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["ChannelProfile", "Delivered", "PROFILES", "profile_for", "adapt", "resolve_option"]


@dataclass(frozen=True, slots=True)
class ChannelProfile:
    name: str
    max_buttons: int | None = None  # None: no limit
    max_quick_replies: int | None = None  # 0: the channel has none
    max_text: int | None = None


PROFILES: Mapping[str, ChannelProfile] = {
    p.name: p
    for p in (
        ChannelProfile("web"),
        ChannelProfile("messenger", max_buttons=3, max_quick_replies=13, max_text=2000),
        ChannelProfile("whatsapp", max_buttons=3, max_quick_replies=0, max_text=4096),
    )
}


def profile_for(channel: str | None) -> ChannelProfile:
    """The profile of ``channel``; an unknown channel is treated like web."""
    return PROFILES.get(channel or "web", PROFILES["web"])


@dataclass(frozen=True, slots=True)
class Delivered:
    """What the channel shows, and the options the user may answer by number or title."""

    messages: list[dict[str, Any]]
    options: list[dict[str, str]]


def adapt(message: Mapping[str, Any], channel: ChannelProfile) -> Delivered:
    """``message`` ({text, buttons, quick_replies, cards}) as ``channel`` delivers it."""
    text = str(message.get("text") or "")
    buttons = list(message.get("buttons") or [])
    quick_replies = list(message.get("quick_replies") or [])
    kept_buttons, extra_buttons, extra_links = _fit_buttons(buttons, channel.max_buttons)
    kept_replies, extra_replies = _split(quick_replies, channel.max_quick_replies)
    options = [{"title": o["title"], "payload": o["payload"]}
               for o in extra_buttons + extra_replies]
    if options:
        listed = "\n".join(f"{i}. {o['title']}" for i, o in enumerate(options, 1))
        text = f"{text}\n\n{listed}" if text else listed
    if extra_links:
        listed = "\n".join(f"{link['title']}: {link['url']}" for link in extra_links)
        text = f"{text}\n\n{listed}" if text else listed
    parts = _split_text(text, channel.max_text)
    messages: list[dict[str, Any]] = [{"text": part} for part in parts] or [{"text": ""}]
    last = messages[-1]
    if kept_buttons:
        last["buttons"] = kept_buttons
    if kept_replies:
        last["quick_replies"] = kept_replies
    if message.get("cards"):
        last["cards"] = list(message["cards"])
    return Delivered(messages, options)


def resolve_option(answer: str, options: Sequence[Mapping[str, str]]) -> str | None:
    """The payload of the option ``answer`` names, by number ("2") or title (any case)."""
    answer = answer.strip().rstrip(".")
    if answer.isdigit() and 1 <= int(answer) <= len(options):
        return options[int(answer) - 1]["payload"]
    for option in options:
        if option["title"].strip().lower() == answer.lower():
            return option["payload"]
    return None


def _fit_buttons(buttons: list[Any], limit: int | None
                 ) -> tuple[list[Any], list[Any], list[Any]]:
    """The buttons the channel shows (in their order), the payload buttons left
    for numbered options, and the links left for the text.

    Links count against the limit like any button, and take the slots first:
    a link cannot become a numbered option (there is nothing to answer), a
    payload button can."""
    if limit is None:
        return buttons, [], []
    links = [b for b in buttons if "payload" not in b]
    shown_links = links[:limit]
    payload_slots = limit - len(shown_links)
    payloads = [b for b in buttons if "payload" in b]
    shown = {id(b) for b in shown_links + payloads[:payload_slots]}
    return ([b for b in buttons if id(b) in shown], payloads[payload_slots:],
            links[limit:])


def _split(items: list[Any], limit: int | None) -> tuple[list[Any], list[Any]]:
    if limit is None:
        return items, []
    return items[:limit], items[limit:]


def _split_text(text: str, limit: int | None) -> list[str]:
    if limit is None or len(text) <= limit:
        return [text] if text else []
    parts = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit + 1)
        if cut <= 0:
            cut = text.rfind(" ", 0, limit + 1)
        if cut <= 0:
            cut = limit
        parts.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    if text:
        parts.append(text)
    return parts
