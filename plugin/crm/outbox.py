"""CRM sync, the pure part: which webhook deliveries a batch of captured
events makes, what a delivery's request looks like, how it is signed, and
when a failed one is tried again. No I/O.

``CaptureStore.ingest`` turns each chunk of a user's events into outbox entries for
every active webhook of the bot that subscribes to them, in the same ingest
step that applies the chunk to the profile and before the ingest returns.
An entry's ``_id`` is a digest of (webhook, what it describes), so writing
the same entries again (a retried batch) adds nothing. ``seq`` orders a
user's entries: :mod:`plugin.crm.delivery` sends them one after the other.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from bson import ObjectId

from plugin.core.events import BULK_UPDATE, Event, EventType
from plugin.core.profiles import profile_id

__all__ = [
    "WebhookEvent",
    "DeliveryState",
    "Subscription",
    "SIGNATURE_HEADER",
    "outbox_entries",
    "sign",
    "signature_header",
    "verify_signature",
    "SignatureError",
    "retry_delay",
]

SIGNATURE_HEADER = "X-Audience-Signature"
DELIVERY_HEADER = "X-Audience-Delivery"
EVENT_HEADER = "X-Audience-Event"
ATTEMPT_HEADER = "X-Audience-Attempt"
# How old a signed timestamp a receiver should accept (verify_signature's default).
SIGNATURE_TOLERANCE_S = 300


class WebhookEvent(StrEnum):
    PROFILE_CREATED = "profile.created"
    PROFILE_UPDATED = "profile.updated"
    PROPERTY_SET = "property.set"
    PROPERTY_REJECTED = "property.rejected"
    MESSAGE_RECEIVED = "message.received"
    MESSAGE_SENT = "message.sent"
    MODULE_ENTERED = "module.entered"
    API_CALLED = "api.called"
    HANDOVER = "handover"


class DeliveryState(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"  # gave up after the last attempt; can be replayed
    SKIPPED = "skipped"  # the user was not in the webhook's audience


@dataclass(frozen=True, slots=True)
class Subscription:
    """An active webhook as capture needs it: its id and the events it wants."""

    webhook_id: str
    events: frozenset[WebhookEvent]


def _event_names(event: Event) -> list[WebhookEvent]:
    data = event.data
    match event.type:
        case EventType.USER_MESSAGE:
            return [WebhookEvent.MESSAGE_RECEIVED]
        case EventType.BOT_MESSAGE:
            return [WebhookEvent.MESSAGE_SENT]
        case EventType.PROPERTY_SET:
            return [WebhookEvent.PROPERTY_REJECTED if data.get("rejected")
                    else WebhookEvent.PROPERTY_SET]
        case EventType.MODULE_ENTERED:
            return [WebhookEvent.MODULE_ENTERED]
        case EventType.API_CALL:
            return [WebhookEvent.API_CALLED]
        case EventType.HANDOVER:
            return [WebhookEvent.HANDOVER]
        case _:
            return []


def _changed_properties(chunk: Sequence[Event]) -> list[str]:
    """The profile fields a chunk changes that a CRM keeps: properties and the assignee."""
    changed: dict[str, None] = {}
    for event in chunk:
        if event.type is EventType.PROPERTY_SET and not event.data.get("rejected"):
            changed[event.data["property"]] = None
        elif event.type is EventType.HANDOVER:
            changed["assigned_to"] = None
        elif event.type is EventType.CUSTOM and event.data.get("name") == BULK_UPDATE:
            for name in [*event.data.get("set", {}), *event.data.get("unset", [])]:
                changed[name] = None
    return list(changed)


def _entry_id(webhook_id: str, what: str) -> str:
    return hashlib.blake2b(f"{webhook_id}\x00{what}".encode(), digest_size=16).hexdigest()


def outbox_entries(
    chunks: Iterable[tuple[int, Sequence[Event]]],
    subscriptions: Mapping[str, Sequence[Subscription]],
    created_by: Mapping[tuple[str, str], str],
    event_keys: Mapping[int, str],
    now: datetime,
) -> list[dict[str, Any]]:
    """The outbox entries for ``chunks`` (token, one user's events in time order).

    ``subscriptions`` maps bot id → its active webhooks; ``created_by`` maps
    (bot, user) → the stored ``_id`` of the event whose write created the profile;
    ``event_keys`` maps ``id(event)`` → its stored ``_id``. Entries come in
    delivery order: the profile's creation first, then one per event, then
    one ``profile.updated`` for the chunk if it changed properties.
    """
    entries: list[dict[str, Any]] = []
    for token, chunk in chunks:
        first = chunk[0]
        webhooks = subscriptions.get(first.bot_id)
        if not webhooks:
            continue
        profile = (first.bot_id, first.user_id)
        described: list[tuple[WebhookEvent, str, datetime, dict[str, Any], str | None]] = []
        if created_by.get(profile) in {event_keys[id(event)] for event in chunk}:
            described.append((WebhookEvent.PROFILE_CREATED, "created", first.ts,
                              {"channel": first.channel, "source": first.source}, None))
        for event in chunk:
            for name in _event_names(event):
                data = {"type": str(event.type), **event.data}
                described.append((name, event_keys[id(event)], event.ts, data, event.id))
        changed = _changed_properties(chunk)
        if changed:
            described.append((WebhookEvent.PROFILE_UPDATED, f"updated:{token}", chunk[-1].ts,
                              {"changed": changed}, None))
        scope = profile_id(*profile)
        for webhook in webhooks:
            for name, what, ts, data, event_id in described:
                if name not in webhook.events:
                    continue
                entries.append({
                    "_id": _entry_id(webhook.webhook_id, f"{scope}:{name}:{what}"),
                    "webhook_id": webhook.webhook_id,
                    "bot_id": first.bot_id,
                    "user_id": first.user_id,
                    "event": str(name),
                    "event_id": event_id,
                    "occurred_at": ts,
                    "data": data,
                    "seq": ObjectId(),
                    "state": str(DeliveryState.PENDING),
                    "attempts": 0,
                    "next_attempt_at": now,
                    "lease_until": now,
                    "created_at": now,
                    "history": [],
                })
    return entries


# -- signatures -----------------------------------------------------------------------


class SignatureError(ValueError):
    """A webhook request whose signature header is missing, malformed, stale or wrong."""


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """HMAC-SHA256, hex, of ``"<timestamp>.<body>"`` with the webhook's secret."""
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(secret: str, body: bytes, timestamp: int) -> str:
    """The ``X-Audience-Signature`` value: ``t=<unix seconds>,v1=<hex>``."""
    return f"t={timestamp},v1={sign(secret, body, timestamp)}"


def verify_signature(secret: str, header: str | None, body: bytes, *,
                     tolerance_s: int = SIGNATURE_TOLERANCE_S, now: float | None = None) -> int:
    """Check a received request the way a receiver should; its signed timestamp.

    Raises:
        SignatureError: the header is missing or malformed, the timestamp is
            further than ``tolerance_s`` from ``now`` (a replayed request), or
            no ``v1`` signature matches the body.
    """
    if not header:
        raise SignatureError(f"the request has no {SIGNATURE_HEADER} header")
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1" and value:
            signatures.append(value)
    if timestamp is None or not signatures:
        raise SignatureError(f"{SIGNATURE_HEADER} must read 't=<unix seconds>,v1=<hex>'")
    moment = time.time() if now is None else now
    if abs(moment - timestamp) > tolerance_s:
        raise SignatureError(f"the signed timestamp {timestamp} is more than {tolerance_s} s "
                             "away from now: a replayed or delayed request")
    expected = sign(secret, body, timestamp)
    # Bytes: compare_digest refuses str with non-ASCII characters.
    if not any(hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace"))
               for given in signatures):
        raise SignatureError("the signature does not match the body and the secret")
    return timestamp


# -- retries ----------------------------------------------------------------------------


def retry_delay(attempt: int, base_s: float, cap_s: float,
                rng: random.Random | None = None) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based):
    exponential, capped, with "equal jitter" (half fixed, half random) so
    receivers that came back are not hit by every sender at once."""
    ceiling = min(cap_s, base_s * 2 ** (attempt - 1))
    return ceiling / 2 + (rng or random).uniform(0, ceiling / 2)
