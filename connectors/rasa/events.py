"""Rasa tracker events → Audience events. Pure: no I/O.

The broker consumer and the action-server plugin both call :func:`translate`,
so one Rasa event becomes the same Audience event, with the same id, on
either path: the id is a hash of the sender, the event type, its timestamp
and the fields that say what happened (:func:`rasa_event_id`). ``CaptureStore.ingest``
is idempotent by (bot, user, event id), so a redelivered message, or an event
seen by both paths, counts once.

=====================  =====================================================
Rasa event             Audience event
=====================  =====================================================
``user``               ``user_message`` (text, intent, entities; input_channel
                       → channel; message_id; a ``/intent`` text is a payload)
``bot``                ``bot_message`` (text; buttons and quick replies from
                       ``data``; ``elements`` as cards; image, attachment,
                       custom kept)
``slot``               ``property_set``; a slot set to null → custom
                       ``slot_cleared``; Rasa's own slots (``requested_slot``,
                       ``session_started_metadata``) → custom ``rasa_slot``
``action``             custom ``action``; ``action_listen`` is bookkeeping and
                       is skipped
``active_loop``        ``module_entered`` (the form), null → custom
                       ``module_left``
``flow_started`` …     ``flow_started``/``flow_resumed`` → ``module_entered``;
                       ``flow_completed``/``_interrupted``/``_cancelled`` →
                       custom ``module_left`` with the reason
``session_started``,   custom events of those names
``restart``
``pause``, ``resume``  ``handover`` to ``human:queue`` / back to ``bot``
anything else          a custom event named after its type, the rest of the
                       event under ``rasa``: never dropped
=====================  =====================================================
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from plugin.core import events as ev
from plugin.core.errors import AudienceError
from plugin.core.events import Event
from plugin.handover.takeover import QUEUE

__all__ = [
    "SOURCE",
    "ACTION_LISTEN",
    "INTERNAL_SLOTS",
    "MalformedEvent",
    "parse_message",
    "rasa_event_id",
    "translate",
]

SOURCE = "rasa"
ACTION_LISTEN = "action_listen"
# Slots Rasa keeps for itself: what they hold is bookkeeping, not the user's data.
INTERNAL_SLOTS = frozenset({"requested_slot", "session_started_metadata"})
# The fields that tell two events of the same type and timestamp apart.
_IDENTITY_FIELDS = ("text", "name", "value", "message_id", "flow_id", "step_id")
_FLOW_LEFT = {"flow_completed": "completed", "flow_interrupted": "interrupted",
              "flow_cancelled": "cancelled"}
_ENVELOPE = ("sender_id", "event", "timestamp")


class MalformedEvent(AudienceError):
    """A message that is not a Rasa event; ``reason`` says what is wrong."""

    code = "malformed_event"


def parse_message(body: bytes) -> dict[str, Any]:
    """One broker message: a JSON object with ``sender_id``, ``event`` and ``timestamp``."""
    try:
        raw = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedEvent(f"the message is not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise MalformedEvent(f"the message is JSON {type(raw).__name__}, not an object")
    sender = raw.get("sender_id")
    if not isinstance(sender, str) or not sender:
        raise MalformedEvent("'sender_id' is missing or not a non-empty string")
    return raw


def rasa_event_id(sender_id: str, event: Mapping[str, Any]) -> str:
    """The Audience event id of a Rasa event: the same on every path and delivery."""
    identity = [sender_id, event.get("event"), event.get("timestamp"),
                [event.get(key) for key in _IDENTITY_FIELDS]]
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"), default=str)
    return "rasa-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def translate(bot_id: str, sender_id: str, event: Mapping[str, Any]) -> Event | None:
    """The Audience event for one Rasa event, or ``None`` for bookkeeping.

    Raises:
        MalformedEvent: ``event`` is not a Rasa event (no type, no timestamp,
            a field of the wrong kind).
    """
    kind = event.get("event")
    if not isinstance(kind, str) or not kind:
        raise MalformedEvent("'event' (the event type) is missing or not a string")
    meta: dict[str, Any] = {"ts": _timestamp(event), "event_id": rasa_event_id(sender_id, event),
                            "source": SOURCE}
    match kind:
        case "user":
            return _user(bot_id, sender_id, event, meta)
        case "bot":
            return _bot(bot_id, sender_id, event, meta)
        case "slot":
            return _slot(bot_id, sender_id, event, meta)
        case "action":
            name = _string(event, "name")
            if name == ACTION_LISTEN:
                return None
            return ev.custom(bot_id, sender_id, "action", {
                "action": name, "policy": event.get("policy"),
                "confidence": event.get("confidence")}, **meta)
        case "active_loop":
            loop = _string(event, "name", optional=True)
            if loop is None:
                return ev.custom(bot_id, sender_id, "module_left", {"loop": True}, **meta)
            return ev.module_entered(bot_id, sender_id, loop, **meta)
        case "flow_started" | "flow_resumed":
            return ev.module_entered(bot_id, sender_id, _string(event, "flow_id"), **meta)
        case "flow_completed" | "flow_interrupted" | "flow_cancelled":
            return ev.custom(bot_id, sender_id, "module_left", {
                "module": _string(event, "flow_id"), "reason": _FLOW_LEFT[kind],
                "step": event.get("step_id")}, **meta)
        case "session_started" | "restart":
            return ev.custom(bot_id, sender_id, kind, None, **meta)
        case "pause":
            return ev.handover(bot_id, sender_id, QUEUE, reason="paused by the bot", **meta)
        case "resume":
            return ev.handover(bot_id, sender_id, "bot", reason="resumed by the bot", **meta)
        case _:
            rest = {k: v for k, v in event.items() if k not in _ENVELOPE}
            return ev.custom(bot_id, sender_id, kind, {"rasa": rest}, **meta)


def _user(bot_id: str, sender_id: str, event: Mapping[str, Any],
          meta: dict[str, Any]) -> Event:
    text = _string(event, "text", optional=True)
    parse_data = event.get("parse_data") or {}
    if not isinstance(parse_data, Mapping):
        raise MalformedEvent("'parse_data' of a user event is not an object")
    intent = parse_data.get("intent") or {}
    intent_name = intent.get("name") if isinstance(intent, Mapping) else None
    entities = [
        {k: e[k] for k in ("entity", "value", "role", "group") if e.get(k) is not None}
        for e in parse_data.get("entities") or [] if isinstance(e, Mapping)
    ]
    channel = _string(event, "input_channel", optional=True)
    payload = text if text is not None and text.startswith("/") else None
    made = ev.user_message(bot_id, sender_id, text, payload=payload,
                           intent=intent_name if isinstance(intent_name, str) else None,
                           entities=entities or None, channel=channel, **meta)
    message_id = event.get("message_id")
    if isinstance(message_id, str) and message_id:
        made = made.with_data({**made.data, "message_id": message_id})
    return made


def _bot(bot_id: str, sender_id: str, event: Mapping[str, Any], meta: dict[str, Any]) -> Event:
    text = _string(event, "text", optional=True)
    data = event.get("data") or {}
    if not isinstance(data, Mapping):
        raise MalformedEvent("'data' of a bot event is not an object")
    made = ev.bot_message(bot_id, sender_id, text, buttons=_list(data, "buttons"),
                          quick_replies=_list(data, "quick_replies"),
                          cards=_list(data, "elements"), **meta)
    extra = {k: data[k] for k in ("image", "attachment", "custom") if data.get(k) is not None}
    metadata = event.get("metadata")
    if isinstance(metadata, Mapping) and isinstance(metadata.get("utter_action"), str):
        extra["response"] = metadata["utter_action"]
    return made.with_data({**made.data, **extra}) if extra else made


def _slot(bot_id: str, sender_id: str, event: Mapping[str, Any], meta: dict[str, Any]) -> Event:
    name = _string(event, "name")
    value = event.get("value")
    if name in INTERNAL_SLOTS:
        return ev.custom(bot_id, sender_id, "rasa_slot", {"slot": name, "value": value}, **meta)
    if value is None:
        # Audience never unsets a property from capture; the reset is kept on the timeline.
        return ev.custom(bot_id, sender_id, "slot_cleared", {"property": name}, **meta)
    return ev.property_set(bot_id, sender_id, name, value, **meta)


def _timestamp(event: Mapping[str, Any]) -> datetime:
    value = event.get("timestamp")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise MalformedEvent("'timestamp' is missing or not a number of seconds")
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        raise MalformedEvent(f"'timestamp' {value!r} is out of range") from None


def _string(event: Mapping[str, Any], key: str, *, optional: bool = False) -> Any:
    value = event.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str) or (not value and not optional):
        kind = event.get("event")
        raise MalformedEvent(f"'{key}' of a {kind} event is missing or not a string")
    return value


def _list(data: Mapping[str, Any], key: str) -> list[dict[str, Any]] | None:
    value = data.get(key)
    if value is None or value == []:
        return None
    if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
        raise MalformedEvent(f"'data.{key}' of a bot event is not a list of objects")
    return [dict(v) for v in value]
