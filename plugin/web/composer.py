"""The broadcast composer's form to a message, and that message as each
channel shows it.

People write buttons and quick replies one a line: the title alone (it is
also what the button answers), or the title, ``|`` and what it answers — or,
for a button, a link::

    Get a quote | QUOTE
    Opening hours
    Our site | https://example.com

:func:`compose` never raises: it returns the message and every problem found
(named by the field's label, with the line), so the preview can show both
while the person types and the send can refuse. :func:`previews` adapts the
message with the channel rules the connectors deliver with
(:mod:`plugin.handover.channel_profiles`): WhatsApp's quick replies and the
buttons past a channel's three become numbered options. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from plugin.handover.channel_profiles import PROFILES, adapt

__all__ = ["Composed", "Preview", "compose", "previews", "CHANNELS", "LABELS", "MAX_TEXT",
           "MAX_CHOICES"]

# What a message may hold: the schema's bounds (handover.message), stated here
# so the form can say them in words.
MAX_TEXT = 4096
MAX_CHOICES = 20
MAX_TITLE = 256
MAX_PAYLOAD = 1024
MAX_URL = 2048
LABELS = {"text": "Message", "buttons": "Buttons", "quick_replies": "Quick replies"}
# The channels the preview shows, as people name them.
CHANNELS = (("web", "Web"), ("messenger", "Messenger"), ("whatsapp", "WhatsApp"))


@dataclass(frozen=True, slots=True)
class Composed:
    message: dict[str, Any]
    problems: list[tuple[str, str]] = field(default_factory=list)  # (field, what is wrong)

    @property
    def first_problem(self) -> str | None:
        """All problems in one sentence, each starting with its field's label."""
        if not self.problems:
            return None
        return "; ".join(f"{LABELS[key]}: {why}" for key, why in self.problems)


@dataclass(frozen=True, slots=True)
class Preview:
    channel: str  # its name as people say it
    messages: list[dict[str, Any]]  # as the channel delivers them


def compose(form: Mapping[str, str]) -> Composed:
    """The message the form describes (``text``, ``buttons``, ``quick_replies``)."""
    problems: list[tuple[str, str]] = []
    text = form.get("text", "").strip()
    if not text:
        problems.append(("text", "write the message to send (it is empty)"))
    elif len(text) > MAX_TEXT:
        problems.append(("text", f"at most {MAX_TEXT:,} characters ({len(text):,} written)"))
    message: dict[str, Any] = {"text": text}
    for key, links in (("buttons", True), ("quick_replies", False)):
        choices = _choices(form.get(key, ""), key, links, problems)
        if choices:
            message[key] = choices
    return Composed(message, problems)


def previews(message: Mapping[str, Any]) -> list[Preview]:
    """``message`` as each channel of :data:`CHANNELS` shows it."""
    return [Preview(label, adapt(message, PROFILES[name]).messages) for name, label in CHANNELS]


def _choices(written: str, key: str, links: bool,
             problems: list[tuple[str, str]]) -> list[dict[str, str]]:
    lines = [(n, line.strip()) for n, line in enumerate(written.splitlines(), 1) if line.strip()]
    if len(lines) > MAX_CHOICES:
        problems.append((key, f"at most {MAX_CHOICES} ({len(lines)} written)"))
        return []
    found = []
    for number, line in lines:
        title, bar, answer = (part.strip() for part in line.partition("|"))
        answer = answer if bar else title
        if not title:
            problems.append((key, f"line {number} has no title before '|'"))
        elif len(title) > MAX_TITLE:
            problems.append((key, f"line {number}: a title is at most {MAX_TITLE} characters"))
        elif links and answer.startswith(("https://", "http://")):
            if len(answer) > MAX_URL:
                problems.append((key, f"line {number}: a link is at most {MAX_URL} characters"))
            found.append({"title": title, "url": answer})
        elif not answer:
            problems.append((key, f"line {number} has nothing after '|'"))
        elif len(answer) > MAX_PAYLOAD:
            problems.append((key, f"line {number}: what it answers is at most {MAX_PAYLOAD} "
                                  "characters"))
        else:
            found.append({"title": title, "payload": answer})
    return found
