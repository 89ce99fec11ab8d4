"""A user's timeline as the profile page shows it: chat bubbles for what the
user and the bot (or an agent) said, and between them the backend actions —
module entered, property set or refused, API call, branch taken, hand-over.

Also the timeline's paging cursor as this face writes it in a URL
(``<milliseconds>.<seq>``). Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId

from plugin.capture.store import TimelineCursor
from plugin.core.errors import InvalidRequest
from plugin.core.events import EventType, to_utc

__all__ = ["Shown", "shown_event", "encode_cursor", "decode_cursor", "is_newer"]

_CURSOR = re.compile(r"^(\d{1,15})\.([0-9a-f]{24})$")
# Backend actions: shown between the bubbles, hidden by "Show backend actions".
BACKEND = frozenset({EventType.MODULE_ENTERED, EventType.PROPERTY_SET, EventType.API_CALL,
                     EventType.BRANCH, EventType.HANDOVER, EventType.CUSTOM})


@dataclass(frozen=True, slots=True)
class Shown:
    id: str
    type: str
    ts: datetime
    side: str  # "user", "bot", "agent" or "backend"
    title: str  # the bubble's text, or the action in words
    details: list[tuple[str, str]] = field(default_factory=list)
    choices: list[str] = field(default_factory=list)  # buttons and quick replies shown
    problem: str | None = None  # a refused value's reason, an API failure

    @property
    def backend(self) -> bool:
        return self.side == "backend"


def _titles(items: object) -> list[str]:
    if not isinstance(items, list):
        return []
    found = []
    for item in items:
        if isinstance(item, Mapping):
            label = item.get("title") or item.get("text") or item.get("payload")
            if label is not None:
                found.append(str(label))
        elif item is not None:
            found.append(str(item))
    return found


def _text(value: object) -> str:
    return "" if value is None else str(value)


def shown_event(doc: Mapping[str, Any]) -> Shown:
    """One stored event (as CaptureStore.timeline returns it) as shown."""
    kind, data = str(doc.get("type")), doc.get("data") or {}
    eid, ts = str(doc.get("eid")), to_utc(doc["ts"])

    def make(side: str, title: str, *, details: list[tuple[str, str]] | None = None,
             choices: list[str] | None = None, problem: str | None = None) -> Shown:
        return Shown(eid, kind, ts, side, title, details or [], choices or [], problem)

    if kind == EventType.USER_MESSAGE:
        said = data.get("text") or (f"[{data['payload']}]" if data.get("payload") else "")
        return make("user", title=_text(said))
    if kind == EventType.BOT_MESSAGE:
        agent = data.get("agent")
        cards = [f"{c.get('title', '')}" for c in data.get("cards") or [] if isinstance(c, Mapping)]
        return make("agent" if agent else "bot", title=_text(data.get("text")),
                     details=[("Agent", str(agent))] if agent else [],
                     choices=[*_titles(data.get("buttons")), *_titles(data.get("quick_replies")),
                              *cards])
    if kind == EventType.MODULE_ENTERED:
        details = [("Campaign", str(data["campaign"]))] if data.get("campaign") else []
        return make("backend", title=f"Module entered: {_text(data.get('module'))}",
                     details=details)
    if kind == EventType.PROPERTY_SET:
        name, value = _text(data.get("property")), data.get("value")
        if data.get("rejected"):
            return make("backend", title=f"Value refused for {name}: {value!r}",
                         problem=_text(data.get("error")))
        return make("backend", title=f"Property set: {name} = {_text(value)}")
    if kind == EventType.API_CALL:
        status = data.get("status")
        details = [("Status", "no response" if status is None else str(status)),
                   ("Latency", f"{float(data.get('latency_ms') or 0):.0f} ms"),
                   ("Request", f"{_text(data.get('method'))} {_text(data.get('url'))}")]
        problem = None if data.get("ok") else f"failed: {_text(data.get('error')) or 'error'}"
        return make("backend", title=f"API call: {_text(data.get('name'))}",
                     details=details, problem=problem)
    if kind == EventType.BRANCH:
        details = [(k.title(), str(data[k])) for k in ("module", "condition") if data.get(k)]
        return make("backend", title=f"Branch taken: {_text(data.get('branch'))}",
                     details=details)
    if kind == EventType.HANDOVER:
        to = _text(data.get("to"))
        holder = "the bot" if to == "bot" else to.removeprefix("human:")
        details = [("Reason", str(data["reason"]))] if data.get("reason") else []
        return make("backend", title=f"Hand-over to {holder}", details=details)
    return make("backend", title=f"Event: {_text(data.get('name') or kind)}")


def encode_cursor(cursor: TimelineCursor) -> str:
    return f"{int(cursor.ts.timestamp() * 1000)}.{cursor.seq}"


def decode_cursor(text: str) -> TimelineCursor:
    """Raises:
        InvalidRequest: not a cursor this page wrote.
    """
    match = _CURSOR.match(text)
    if match is None:
        raise InvalidRequest("'before' is not a position in this timeline: reload the page",
                             parameter="before")
    try:
        moment = datetime.fromtimestamp(int(match[1]) / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        raise InvalidRequest("'before' is out of range: reload the page",
                             parameter="before") from None
    return TimelineCursor(moment, ObjectId(match[2]))


def is_newer(doc: Mapping[str, Any], than: tuple[datetime, Any] | None) -> bool:
    """Whether a stored event comes after position ``than`` (ts, seq)."""
    if than is None:
        return True
    ts = to_utc(doc["ts"])
    return ts > than[0] or (ts == than[0] and str(doc.get("seq")) > str(than[1]))
