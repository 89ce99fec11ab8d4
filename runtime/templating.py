"""Templates in bot files: ``{{property}}`` (a collected property) and
``${NAME}`` (a runtime variable such as ``API_BASE``).

>>> render_text("Hi {{name}}!", {"name": "Ada"})
'Hi Ada!'
>>> render_text("${API_BASE}/crm?email={{email}}", {"email": "a+b@x.io"},
...             {"API_BASE": "http://h"}, quote=True)
'http://h/crm?email=a%2Bb%40x.io'

A property that was never collected renders as empty text. Messages are
for people: a date reads ``14 July 2026`` and a moment ``14 July 2026,
09:30 UTC``; URLs, headers and API bodies keep ISO 8601, for machines.

>>> from datetime import datetime, timezone
>>> render_text("See you on {{day}}.", {"day": datetime(2026, 7, 14, tzinfo=timezone.utc)},
...             human=True)
'See you on 14 July 2026.'

Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import date, datetime, time
from typing import Any
from urllib.parse import quote as url_quote

from runtime.model import BotMessage, Button, Card, QuickReply

__all__ = [
    "PLACEHOLDER",
    "VARIABLE",
    "placeholders",
    "variables",
    "format_value",
    "render_text",
    "render_value",
    "render_message",
    "message_texts",
]

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def placeholders(text: str) -> list[str]:
    """The property names ``text`` refers to, in order."""
    return PLACEHOLDER.findall(text)


def variables(text: str) -> list[str]:
    """The runtime variables (``${NAME}``) ``text`` refers to, in order."""
    return VARIABLE.findall(text)


_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")


def format_value(value: object, *, human: bool = False) -> str:
    """A property value as text: dates in ISO 8601 (``human``: as people write
    them, in English), lists joined by commas."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return _for_people(value) if human else value.isoformat()
    if isinstance(value, list | tuple):
        return ", ".join(format_value(item, human=human) for item in value)
    return str(value)


def _for_people(value: date) -> str:
    """``14 July 2026``; a moment that is not midnight UTC (a date property is
    stored as that) adds its time: ``14 July 2026, 09:30 UTC``."""
    day = f"{value.day} {_MONTHS[value.month - 1]} {value.year}"
    if not isinstance(value, datetime):
        return day
    offset = value.utcoffset()
    if value.time() == time() and not offset:
        return day
    zone = "UTC" if offset is None or not offset else value.strftime("UTC%z")
    return f"{day}, {value:%H:%M} {zone}"


def render_text(
    text: str,
    values: Mapping[str, Any],
    env: Mapping[str, str] | None = None,
    *,
    quote: bool = False,
    human: bool = False,
) -> str:
    """``text`` with its placeholders filled; ``quote`` URL-encodes property values
    (runtime variables are inserted as they are: they hold URL parts); ``human``
    shows dates as people write them (messages)."""
    if env is not None:
        text = VARIABLE.sub(lambda m: env.get(m.group(1), ""), text)

    def fill(match: re.Match[str]) -> str:
        shown = format_value(values.get(match.group(1)), human=human)
        return url_quote(shown, safe="") if quote else shown

    return PLACEHOLDER.sub(fill, text)


def render_value(value: Any, values: Mapping[str, Any], env: Mapping[str, str]) -> Any:
    """A JSON body with every string rendered. A string that is exactly one
    placeholder keeps the property's own type (a number stays a number)."""
    if isinstance(value, str):
        whole = PLACEHOLDER.fullmatch(value.strip())
        if whole:
            raw = values.get(whole.group(1))
            return raw.isoformat() if isinstance(raw, datetime) else raw
        return render_text(value, values, env)
    if isinstance(value, Mapping):
        return {key: render_value(item, values, env) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [render_value(item, values, env) for item in value]
    return value


def render_message(message: BotMessage, values: Mapping[str, Any]) -> BotMessage:
    """A message template rendered: text and titles are filled, payloads and URLs kept."""

    def text(raw: str) -> str:
        return render_text(raw, values, human=True)

    def button(b: Button) -> Button:
        return replace(b, title=text(b.title))

    return BotMessage(
        text=text(message.text),
        buttons=tuple(button(b) for b in message.buttons),
        quick_replies=tuple(QuickReply(text(q.title), q.payload) for q in message.quick_replies),
        cards=tuple(
            Card(text(c.title), text(c.subtitle), c.image_url, tuple(button(b) for b in c.buttons))
            for c in message.cards
        ),
    )


def message_texts(message: BotMessage) -> list[str]:
    """Every templated string of a message (for checking placeholders at load)."""
    texts = [message.text, *(b.title for b in message.buttons)]
    texts += [q.title for q in message.quick_replies]
    for card in message.cards:
        texts += [card.title, card.subtitle, *(b.title for b in card.buttons)]
    return texts
