"""The interactions Audience captures, as they travel from an adapter to the
store: one :class:`Event` per interaction, built by the constructors below
(the wire format reads like a spec: one function per kind).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from plugin.core.storable import storable_form

__all__ = [
    "BULK_UPDATE",
    "EventType",
    "ApiErrorKind",
    "Event",
    "new_event_id",
    "utc_now",
    "to_utc",
    "parse_timestamp",
    "user_message",
    "bot_message",
    "module_entered",
    "property_set",
    "property_rejected",
    "api_call",
    "branch",
    "handover",
    "custom",
]


class EventType(StrEnum):
    USER_MESSAGE = "user_message"
    BOT_MESSAGE = "bot_message"
    MODULE_ENTERED = "module_entered"
    PROPERTY_SET = "property_set"
    API_CALL = "api_call"
    BRANCH = "branch"
    HANDOVER = "handover"
    CUSTOM = "custom"


# The custom event a bulk property update leaves on each timeline (its data:
# {"set": {...}, "unset": [...]}); folded into the profile like property sets.
BULK_UPDATE = "bulk_update"


class ApiErrorKind(StrEnum):
    STATUS = "status"
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    INVALID_RESPONSE = "invalid_response"


def new_event_id() -> str:
    # 128 random bits, like uuid4 without building a UUID (this is on the reply path).
    return os.urandom(16).hex()


def to_utc(moment: datetime) -> datetime:
    """Aware UTC with millisecond precision: what MongoDB stores and returns.

    Raises:
        ValueError: the moment is outside years 1 to 9999 once in UTC
            (``0001-01-01T00:00:00+01:00`` is the last hour of year 0).
    """
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{moment.isoformat()} is out of range once in UTC "
                         "(years 1 to 9999)") from None
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def parse_timestamp(text: str) -> datetime:
    """ISO 8601 text (``Z`` or an offset; none means UTC) as :func:`to_utc` gives it.

    Raises:
        ValueError: not ISO 8601, or out of range once in UTC; the message says which.
    """
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 timestamp") from None
    return to_utc(moment)


def utc_now() -> datetime:
    return to_utc(datetime.now(UTC))


@dataclass(frozen=True, slots=True)
class Event:
    bot_id: str
    user_id: str
    type: EventType
    data: dict[str, Any]
    id: str = field(default_factory=new_event_id)
    ts: datetime = field(default_factory=utc_now)
    channel: str | None = None
    source: str | None = None

    def with_data(self, data: dict[str, Any]) -> Event:
        return replace(self, data=data)


def _event(
    type_: EventType,
    bot_id: str,
    user_id: str,
    data: dict[str, Any],
    *,
    channel: str | None = None,
    ts: datetime | None = None,
    event_id: str | None = None,
    source: str | None = None,
) -> Event:
    return Event(
        bot_id=bot_id,
        user_id=user_id,
        type=type_,
        data={k: v for k, v in data.items() if v is not None},
        id=event_id or new_event_id(),
        ts=to_utc(ts) if ts else utc_now(),
        channel=channel,
        source=source,
    )


def user_message(
    bot_id: str,
    user_id: str,
    text: str | None = None,
    *,
    payload: str | None = None,
    intent: str | None = None,
    entities: list[dict[str, Any]] | None = None,
    **meta: Any,
) -> Event:
    data = {"text": text, "payload": payload, "intent": intent, "entities": entities}
    return _event(EventType.USER_MESSAGE, bot_id, user_id, data, **meta)


def bot_message(
    bot_id: str,
    user_id: str,
    text: str | None = None,
    *,
    buttons: list[dict[str, Any]] | None = None,
    quick_replies: list[dict[str, Any]] | None = None,
    cards: list[dict[str, Any]] | None = None,
    **meta: Any,
) -> Event:
    data = {"text": text, "buttons": buttons, "quick_replies": quick_replies, "cards": cards}
    return _event(EventType.BOT_MESSAGE, bot_id, user_id, data, **meta)


def module_entered(
    bot_id: str, user_id: str, module: str, *, campaign: str | None = None, **meta: Any
) -> Event:
    data = {"module": module, "campaign": campaign}
    return _event(EventType.MODULE_ENTERED, bot_id, user_id, data, **meta)


def property_set(bot_id: str, user_id: str, name: str, value: Any, **meta: Any) -> Event:
    # Built directly: a None value must stay in data (it is what the bot tried).
    event = _event(EventType.PROPERTY_SET, bot_id, user_id, {"property": name}, **meta)
    return event.with_data({"property": name, "value": value})


def property_rejected(
    bot_id: str, user_id: str, name: str, value: Any, error: str, **meta: Any
) -> Event:
    """A value the bot refused by validation: recorded, never stored on the
    profile. A value MongoDB could not hold (an integer beyond 64 bits, a lone
    surrogate...) is recorded as its text, so that it cannot sink the batch."""
    event = property_set(bot_id, user_id, name, storable_form(value), **meta)
    return event.with_data({**event.data, "rejected": True, "error": error})


def api_call(
    bot_id: str,
    user_id: str,
    name: str,
    *,
    method: str,
    url: str,
    status: int | None,
    latency_ms: float,
    ok: bool,
    error: ApiErrorKind | str | None = None,
    **meta: Any,
) -> Event:
    data = {
        "name": name,
        "method": method.upper(),
        "url": url,
        "status": status,
        "latency_ms": latency_ms,
        "ok": ok,
        "error": str(ApiErrorKind(error)) if error else None,
    }
    event = _event(EventType.API_CALL, bot_id, user_id, data, **meta)
    # No status is a fact worth keeping: the call got no response at all.
    return event.with_data({**event.data, "status": status})


def branch(
    bot_id: str,
    user_id: str,
    name: str,
    *,
    module: str | None = None,
    condition: str | None = None,
    **meta: Any,
) -> Event:
    data = {"branch": name, "module": module, "condition": condition}
    return _event(EventType.BRANCH, bot_id, user_id, data, **meta)


def handover(
    bot_id: str, user_id: str, to: str, *, reason: str | None = None, **meta: Any
) -> Event:
    """``to`` is ``bot`` or ``human:<agent>``."""
    return _event(EventType.HANDOVER, bot_id, user_id, {"to": to, "reason": reason}, **meta)


def custom(bot_id: str, user_id: str, name: str, data: dict[str, Any] | None = None,
           **meta: Any) -> Event:
    return _event(EventType.CUSTOM, bot_id, user_id, {**(data or {}), "name": name}, **meta)
