"""From captured events to profile changes. Pure: no I/O.

A profile is a fold of its user's timeline: :func:`fold` walks the events in
time order (events of one millisecond in the order they were stored) and says
what the profile holds. ``CaptureStore.ingest`` writes it in one of two ways:
:func:`delta_update` adds a batch of new events to a profile known to hold
everything older, and :func:`rebuild_update` sets the fold of the whole
timeline. Everything that decides *what* changes lives here, so it can be
read and tested without a database.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from plugin.core.events import BULK_UPDATE, Event, EventType
from plugin.core.properties import (
    SYSTEM_PROPERTIES,
    InvalidValue,
    PropertyDef,
    check_property_name,
    custom_property,
    infer_type,
    validate_value,
)

__all__ = ["MESSAGE_TYPES", "Rejection", "ProfileFold", "check_property_values", "fold",
           "delta_update", "rebuild_update", "by_user", "chunk_token", "EVENT_DERIVED_FIELDS"]

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
        if event.type is EventType.CUSTOM and event.data.get("name") == BULK_UPDATE:
            checked.append(_checked_bulk_update(event, properties, new_defs, rejections))
            continue
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


def _checked_bulk_update(event: Event, properties: Mapping[str, Mapping[str, PropertyDef]],
                         new_defs: dict[tuple[str, str], PropertyDef],
                         rejections: list[Rejection]) -> Event:
    """A bulk update's changes checked like property sets: a value its
    property refuses, or a system property, is left out and reported."""
    changes: dict[str, Any] = {}
    raw_set = event.data.get("set")
    for name, value in (raw_set.items() if isinstance(raw_set, dict) else ()):
        try:
            prop = _property_for(event.bot_id, name, value, properties, new_defs)
            changes[prop.name] = validate_value(prop, value)
        except InvalidValue as exc:
            rejections.append(Rejection(event.id, event.user_id, str(name), exc.reason))
    removed: list[str] = []
    raw_unset = event.data.get("unset")
    for name in (raw_unset if isinstance(raw_unset, list) else ()):
        try:
            checked_name = check_property_name(name)
            if checked_name in SYSTEM_PROPERTIES:
                raise InvalidValue(f"{checked_name!r} is a system property; it cannot be unset")
            removed.append(checked_name)
        except InvalidValue as exc:
            rejections.append(Rejection(event.id, event.user_id, str(name), exc.reason))
    return event.with_data({**event.data, "set": changes, "unset": removed})


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


def by_user(events: Iterable[Event]) -> dict[tuple[str, str], list[Event]]:
    """Each user's events in time order; events of one millisecond keep the
    order they came in (the sort is stable)."""
    grouped: dict[tuple[str, str], list[Event]] = defaultdict(list)
    for event in events:
        grouped[(event.bot_id, event.user_id)].append(event)
    return {key: sorted(user_events, key=lambda e: e.ts) for key, user_events in grouped.items()}


def chunk_token(events: Sequence[Event]) -> int:
    """A 63-bit fingerprint of some events' ids (names CRM entries of a group)."""
    digest = hashlib.blake2b("\x00".join(e.id for e in events).encode(),
                             digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


# The profile fields a fold decides; everything else on a profile (segments,
# source, test, bookkeeping) is set once, when the profile is made, or by
# the capability that owns it.
EVENT_DERIVED_FIELDS = (
    "channel", "last_user_message", "last_user_message_at", "current_message",
    "current_module", "current_campaign", "assigned_to", "attributes", "message_count",
    "last_message_at", "created_at",
)


@dataclass(slots=True)
class ProfileFold:
    """What a run of one user's events, taken in order, says about the profile."""

    latest: dict[str, Any] = field(default_factory=dict)  # last value wins
    attributes: dict[str, Any] = field(default_factory=dict)
    removed: set[str] = field(default_factory=set)  # attributes a bulk update unset
    message_count: int = 0
    last_message_at: datetime | None = None
    first_at: datetime | None = None
    last_at: datetime | None = None

    def add(self, event: Event) -> None:
        data = event.data
        self.first_at = event.ts if self.first_at is None else min(self.first_at, event.ts)
        self.last_at = event.ts if self.last_at is None else max(self.last_at, event.ts)
        if event.channel:
            self.latest["channel"] = event.channel
        if event.type in MESSAGE_TYPES:
            self.message_count += 1
            self.last_message_at = event.ts
        match event.type:
            case EventType.USER_MESSAGE:
                self.latest["last_user_message"] = data.get("text") or data.get("payload")
                self.latest["last_user_message_at"] = event.ts
            case EventType.BOT_MESSAGE:
                self.latest["current_message"] = data.get("text")
            case EventType.MODULE_ENTERED:
                self.latest["current_module"] = data["module"]
                if data.get("campaign"):
                    self.latest["current_campaign"] = data["campaign"]
            case EventType.PROPERTY_SET if not data.get("rejected"):
                self._set_attribute(data["property"], data["value"])
            case EventType.HANDOVER:
                self.latest["assigned_to"] = data["to"]
            case EventType.CUSTOM if data.get("name") == BULK_UPDATE:
                for name, value in data.get("set", {}).items():
                    self._set_attribute(name, value)
                for name in data.get("unset", []):
                    self.attributes.pop(name, None)
                    self.removed.add(name)
            case _:
                pass

    def _set_attribute(self, name: str, value: Any) -> None:
        self.attributes[name] = value
        self.removed.discard(name)

    def fields(self) -> dict[str, Any]:
        """The event-derived fields of a profile holding exactly these events."""
        shown: dict[str, Any] = {**self.latest, "attributes": dict(self.attributes),
                                 "message_count": self.message_count}
        if self.last_message_at is not None:
            shown["last_message_at"] = self.last_message_at
        if self.first_at is not None:
            shown["created_at"] = self.first_at
        return shown


def fold(events: Iterable[Event]) -> ProfileFold:
    """Fold events (one bot, one user) in time order; see :func:`by_user`."""
    folded = ProfileFold()
    for event in sorted(events, key=lambda e: e.ts):
        folded.add(event)
    return folded


def _on_insert(first: Event, set_paths: Iterable[str], created_by: str) -> dict[str, Any]:
    on_insert: dict[str, Any] = {
        "bot_id": first.bot_id,
        "user_id": first.user_id,
        "source": first.source or "api",
        "segments": [],
        "test": first.source == "simulator",
        # The event whose write made the profile: CRM sync's profile.created,
        # sent once even when that write is retried.
        "created_by": created_by,
    }
    paths = set(set_paths)
    if "assigned_to" not in paths:
        on_insert["assigned_to"] = "bot"
    if "channel" not in paths:
        on_insert["channel"] = None
    return on_insert


def delta_update(events: Sequence[Event], now: datetime, created_by: str,
                 last_place: str) -> dict[str, Any]:
    """The update adding ``events`` (one bot, one user, none on the profile
    yet, all after what it holds) to a profile; ``last_place`` is the place
    in the timeline of the last of them.

    Paths never appear in two operators (MongoDB refuses such updates), which
    is why ``attributes`` and ``message_count`` are not initialised on
    insert: readers default them.
    """
    folded = fold(events)
    set_fields: dict[str, Any] = {"updated_at": now, **folded.latest,
                                  "last_place": last_place}
    set_fields.update({f"attributes.{k}": v for k, v in folded.attributes.items()})
    update: dict[str, Any] = {
        "$set": set_fields,
        "$setOnInsert": _on_insert(min(events, key=lambda e: e.ts), set_fields, created_by),
        "$min": {"created_at": folded.first_at},
        "$inc": {"rev": 1, "events_folded": len(events)},
    }
    if folded.removed:
        update["$unset"] = {f"attributes.{name}": "" for name in folded.removed}
    if folded.message_count:
        update["$inc"]["message_count"] = folded.message_count
        update["$max"] = {"last_message_at": folded.last_message_at}
    return update


def rebuild_update(timeline: Sequence[Event], now: datetime, origin: Event,
                   created_by: str, last_place: str) -> dict[str, Any]:
    """The update making a profile the fold of its user's whole ``timeline``
    (oldest first); ``origin`` is the event whose write makes the profile if
    there is none yet (its source is the profile's); ``last_place`` is the
    place of the timeline's last event."""
    folded = fold(timeline)
    set_fields: dict[str, Any] = {"updated_at": now, "last_place": last_place,
                                  "events_folded": len(timeline), **folded.fields()}
    return {
        "$set": set_fields,
        "$setOnInsert": _on_insert(origin, set_fields, created_by),
        "$inc": {"rev": 1},
    }
