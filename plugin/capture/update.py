"""From captured events to profile changes. Pure: no I/O.

``CaptureStore.ingest`` calls these functions and makes one database round
trip per step; everything that decides *what* changes lives here so it can be read
and tested without a database.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from plugin.core.constants import APPLIED_CHUNKS, PROFILE_CHUNK_EVENTS
from plugin.core.events import Event, EventType
from plugin.core.properties import (
    SYSTEM_PROPERTIES,
    InvalidValue,
    PropertyDef,
    check_property_name,
    custom_property,
    infer_type,
    validate_value,
)

__all__ = ["MESSAGE_TYPES", "Rejection", "check_property_values",
           "profile_chunks", "chunk_token", "profile_update"]

MESSAGE_TYPES = frozenset({EventType.USER_MESSAGE, EventType.BOT_MESSAGE})


@dataclass(frozen=True, slots=True)
class Rejection:
    """A property value refused by its type: recorded, not stored."""

    event_id: str
    user_id: str
    property: str
    reason: str


def check_property_values(
    events: Iterable[Event], properties: Mapping[str, Mapping[str, PropertyDef]]
) -> tuple[list[Event], list[Rejection], list[tuple[str, PropertyDef]]]:
    """Validate every ``property_set`` value against its bot's property schema.

    ``properties`` maps bot id → its custom properties. A valid value is
    normalised; an invalid one turns the event into a rejected set that keeps
    the value and the reason. A property never seen before is defined with the
    type of its first value. Returns the events, the rejections, and the
    (bot id, definition) pairs to add to the schema.
    """
    checked: list[Event] = []
    rejections: list[Rejection] = []
    new_defs: dict[tuple[str, str], PropertyDef] = {}
    for event in events:
        if event.type is not EventType.PROPERTY_SET or event.data.get("rejected"):
            checked.append(event)
            continue
        name, value = event.data.get("property"), event.data.get("value")
        try:
            prop = _property_for(event.bot_id, name, value, properties, new_defs)
            normalised = validate_value(prop, value)
        except InvalidValue as exc:
            rejections.append(Rejection(event.id, event.user_id, str(name), exc.reason))
            checked.append(event.with_data({**event.data, "rejected": True, "error": exc.reason}))
            continue
        checked.append(event.with_data({**event.data, "value": normalised}))
    return checked, rejections, [(bot_id, prop) for (bot_id, _), prop in new_defs.items()]


def _property_for(
    bot_id: str,
    name: object,
    value: object,
    properties: Mapping[str, Mapping[str, PropertyDef]],
    new_defs: dict[tuple[str, str], PropertyDef],
) -> PropertyDef:
    name = check_property_name(name)
    if name in SYSTEM_PROPERTIES:
        raise InvalidValue(f"{name!r} is a system property; the bot cannot set it")
    known = properties.get(bot_id, {}).get(name) or new_defs.get((bot_id, name))
    if known is not None:
        return known
    if value is None:
        raise InvalidValue("a value is required")
    prop = custom_property(name, infer_type(value, name))
    new_defs[(bot_id, name)] = prop
    return prop


def profile_chunks(events: Iterable[Event]) -> dict[tuple[str, str], list[list[Event]]]:
    """Each user's events in time order, cut into chunks of at most
    ``PROFILE_CHUNK_EVENTS``. The same events in the same order always give
    the same chunks, so a retried batch reproduces the tokens it left on the
    profile."""
    by_user: dict[tuple[str, str], list[Event]] = defaultdict(list)
    for event in events:
        by_user[(event.bot_id, event.user_id)].append(event)
    chunks = {}
    for key, user_events in by_user.items():
        # Stable: events of the same millisecond keep the order they came in.
        ordered = sorted(user_events, key=lambda e: e.ts)
        chunks[key] = [ordered[i:i + PROFILE_CHUNK_EVENTS]
                       for i in range(0, len(ordered), PROFILE_CHUNK_EVENTS)]
    return chunks


def chunk_token(chunk: list[Event]) -> int:
    """A 63-bit fingerprint of a chunk's event ids."""
    digest = hashlib.blake2b("\x00".join(e.id for e in chunk).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


def profile_update(events: list[Event], now: datetime, token: int) -> dict[str, Any]:
    """The update document applying ``events`` (one bot, one user) to a profile.

    Events are applied in timestamp order; for "last/current" fields the
    latest event of the batch wins. Paths never appear in two operators
    (MongoDB refuses such updates), which is why ``attributes`` and
    ``message_count`` are not initialised on insert: readers default them.
    """
    ordered = sorted(events, key=lambda e: e.ts)
    first = ordered[0]
    set_fields: dict[str, Any] = {"updated_at": now}
    message_count = 0
    last_message_at: datetime | None = None
    for event in ordered:
        data = event.data
        if event.channel:
            set_fields["channel"] = event.channel
        if event.type in MESSAGE_TYPES:
            message_count += 1
            last_message_at = event.ts
        match event.type:
            case EventType.USER_MESSAGE:
                set_fields["last_user_message"] = data.get("text") or data.get("payload")
                set_fields["last_user_message_at"] = event.ts
            case EventType.BOT_MESSAGE:
                set_fields["current_message"] = data.get("text")
            case EventType.MODULE_ENTERED:
                set_fields["current_module"] = data["module"]
                if data.get("campaign"):
                    set_fields["current_campaign"] = data["campaign"]
            case EventType.PROPERTY_SET if not data.get("rejected"):
                set_fields[f"attributes.{data['property']}"] = data["value"]
            case EventType.HANDOVER:
                set_fields["assigned_to"] = data["to"]
            case _:
                pass
    on_insert: dict[str, Any] = {
        "bot_id": first.bot_id,
        "user_id": first.user_id,
        "source": first.source or "api",
        "segments": [],
        "test": first.source == "simulator",
        # Which chunk made the profile: CRM sync's profile.created, even on a retried batch.
        "created_by": token,
    }
    if "assigned_to" not in set_fields:
        on_insert["assigned_to"] = "bot"
    if "channel" not in set_fields:
        on_insert["channel"] = None
    update: dict[str, Any] = {
        "$set": set_fields,
        "$setOnInsert": on_insert,
        "$min": {"created_at": first.ts},
        "$push": {"applied_chunks": {"$each": [token],
                                     "$slice": -APPLIED_CHUNKS}},
    }
    if message_count:
        update["$inc"] = {"message_count": message_count}
        update["$max"] = {"last_message_at": last_message_at}
    return update
