"""How values look on a page: times, numbers, property values (Jinja filters)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote

from plugin.core.events import to_utc, utc_now

__all__ = ["FILTERS", "when", "shown_value"]


def when(moment: datetime | None) -> str:
    """A time as people read it: "3 min ago" for the last hour, else a UTC date."""
    if moment is None:
        return "—"
    moment = to_utc(moment)
    seconds = (utc_now() - moment).total_seconds()
    if 0 <= seconds < 60:
        return "just now"
    if 0 <= seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def iso(moment: datetime | None) -> str:
    return to_utc(moment).isoformat() if moment else ""


def shown_value(value: Any) -> str:
    """A property value as text (lists joined, booleans as yes/no, times in UTC)."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return when(value)
    if isinstance(value, list):
        return ", ".join(shown_value(v) for v in value)
    return str(value)


def thousands(number: int) -> str:
    return f"{number:,}"


def segment(text: object) -> str:
    """Text as one path segment of a URL (a slash too is escaped)."""
    return quote(str(text), safe="")


FILTERS: Mapping[str, Callable[..., str]] = {
    "when": when, "iso": iso, "value": shown_value, "thousands": thousands,
    "segment": segment}
