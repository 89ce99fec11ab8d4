"""Webhooks: what an operator configures for real-time CRM sync — a URL, the
events it wants, a signing secret, optionally an audience — and the log of
what was delivered to it.

Deliveries themselves are written by capture (:mod:`plugin.crm.outbox`) and sent
by :mod:`plugin.crm.delivery`. A URL must reach a public address
(:mod:`plugin.crm.addresses`) unless ``allow_private``. The delivery log shows
each attempt's status to everyone and the start of a receiver's error answer
only when asked to (``responses``: the API asks for admin keys), as the answer
may hold whatever the receiver chose to put there.
A service over the :class:`~plugin.db.database.Database`; it knows no HTTP.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Mapping
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId
from yarl import URL

from plugin.audience.spec import resolve_audience
from plugin.core import constants as c
from plugin.core.errors import Conflict, InvalidRequest, NotFound
from plugin.core.events import utc_now
from plugin.crm.addresses import check_url
from plugin.crm.outbox import DeliveryState, WebhookEvent
from plugin.crm.store import WebhookStore
from plugin.db.database import Database

__all__ = [
    "create_webhook",
    "list_webhooks",
    "get_webhook",
    "update_webhook",
    "delete_webhook",
    "list_deliveries",
    "replay_delivery",
    "replay_dead",
    "shown_delivery",
]

_SECRET_BYTES = 32


async def create_webhook(db: Database, bot_id: str, body: Mapping[str, Any], *,
                         allow_private: bool = False) -> dict[str, Any]:
    """Store a new webhook; it as the API shows it, with its secret (shown only now).

    Raises:
        InvalidRequest: a bad URL (or one to a loopback or private address, unless
            ``allow_private``; never a metadata or reserved one) or audience.
        Conflict: the bot has the most webhooks allowed.
        NotFound: the audience names a segment that does not exist.
    """
    if len(await WebhookStore.of(db).list_webhooks(bot_id)) >= c.WEBHOOKS_PER_BOT:
        raise Conflict(f"a bot can have at most {c.WEBHOOKS_PER_BOT} webhooks; delete one first")
    now = utc_now()
    secret = body.get("secret") or secrets.token_hex(_SECRET_BYTES)
    doc: dict[str, Any] = {
        "_id": uuid.uuid4().hex,
        "bot_id": bot_id,
        "url": _url(body["url"], allow_private),
        "events": _events(body["events"]),
        "secret": secret,
        "description": body.get("description", ""),
        "active": body.get("active", True),
        "created_at": now,
        "updated_at": now,
    }
    if body.get("audience") is not None:
        doc["audience"] = await _audience(db, bot_id, body["audience"])
    await WebhookStore.of(db).insert_webhook(doc)
    return {**_shown(doc), "secret": secret}


async def list_webhooks(db: Database, bot_id: str) -> list[dict[str, Any]]:
    return [_shown(doc) for doc in await WebhookStore.of(db).list_webhooks(bot_id)]


async def get_webhook(db: Database, bot_id: str, webhook_id: str) -> dict[str, Any]:
    return _shown(await _load(db, bot_id, webhook_id))


async def update_webhook(db: Database, bot_id: str, webhook_id: str,
                         body: Mapping[str, Any], *, allow_private: bool = False) -> dict[str, Any]:
    """Change a webhook's URL (checked as :func:`create_webhook` does), events,
    secret, audience (``null`` removes it), description or whether it is
    active. Deliveries already in the outbox keep going to the webhook as it is
    when they are sent."""
    await _load(db, bot_id, webhook_id)
    changes: dict[str, Any] = {"updated_at": utc_now()}
    if "url" in body:
        changes["url"] = _url(body["url"], allow_private)
    if "events" in body:
        changes["events"] = _events(body["events"])
    if "secret" in body:
        changes["secret"] = body["secret"]
    if "audience" in body:
        changes["audience"] = (None if body["audience"] is None
                               else await _audience(db, bot_id, body["audience"]))
    for name in ("description", "active"):
        if name in body:
            changes[name] = body[name]
    updated = await WebhookStore.of(db).update_webhook(bot_id, webhook_id, changes)
    if updated is None:
        raise NotFound(f"no webhook {webhook_id!r}", webhook=webhook_id)
    return _shown(updated)


async def delete_webhook(db: Database, bot_id: str, webhook_id: str) -> None:
    if not await WebhookStore.of(db).delete_webhook(bot_id, webhook_id):
        raise NotFound(f"no webhook {webhook_id!r}", webhook=webhook_id)


async def list_deliveries(db: Database, bot_id: str, webhook_id: str, *, state: str | None,
                          limit: int, before: str | None,
                          responses: bool = False) -> dict[str, Any]:
    """A page of the webhook's delivery log, newest first, and the cursor to the
    next; with the start of receivers' error answers if ``responses``."""
    await _load(db, bot_id, webhook_id)
    cursor = None
    if before is not None:
        try:
            cursor = ObjectId(before)
        except (InvalidId, TypeError):
            raise InvalidRequest(f"'before' is not a cursor this API gave: {before!r}",
                                 field="before") from None
    docs = await WebhookStore.of(db).list_deliveries(webhook_id, state, limit + 1, cursor)
    next_cursor = str(docs[limit - 1]["seq"]) if len(docs) > limit else None
    return {"deliveries": [shown_delivery(d, responses=responses) for d in docs[:limit]],
            "next": next_cursor}


async def replay_delivery(db: Database, bot_id: str, webhook_id: str,
                          delivery_id: str, *, responses: bool = False) -> dict[str, Any]:
    """Send one delivery again (dead, delivered or skipped); it as it is now.

    Raises:
        NotFound: no such webhook or delivery. Conflict: it is still pending.
    """
    await _load(db, bot_id, webhook_id)
    entry = await WebhookStore.of(db).get_delivery(webhook_id, delivery_id)
    if entry is None:
        raise NotFound(f"no delivery {delivery_id!r}", delivery=delivery_id)
    if entry["state"] == DeliveryState.PENDING:
        raise Conflict("the delivery is still pending: it will be tried again by itself")
    await WebhookStore.of(db).replay_deliveries(webhook_id, delivery_id, utc_now())
    replayed = await WebhookStore.of(db).get_delivery(webhook_id, delivery_id)
    assert replayed is not None
    return shown_delivery(replayed, responses=responses)


async def replay_dead(db: Database, bot_id: str, webhook_id: str) -> int:
    """Put every dead-lettered delivery of the webhook back in the queue; how many."""
    await _load(db, bot_id, webhook_id)
    return await WebhookStore.of(db).replay_deliveries(webhook_id, None, utc_now())


def shown_delivery(doc: Mapping[str, Any], *, responses: bool = False) -> dict[str, Any]:
    """A delivery as the log shows it. Each attempt's ``error`` is its status
    (``HTTP 403``); with ``responses``, followed by the start of what the
    receiver answered (``HTTP 403: <body>``)."""
    history = [_shown_attempt(a, responses) for a in doc.get("history", [])]
    last = history[-1] if history else {}
    reason = doc.get("reason")
    if reason and not responses and last.get("status"):  # logged before answers were kept apart
        reason = _status_only(reason, last["status"])
    return {
        "id": doc["_id"],
        "event": doc["event"],
        "user_id": doc["user_id"],
        "state": doc["state"],
        "attempts": doc["attempts"],
        "occurred_at": doc["occurred_at"],
        "created_at": doc["created_at"],
        "next_attempt_at": (doc["next_attempt_at"] if doc["state"] == DeliveryState.PENDING
                            else None),
        "delivered_at": doc.get("delivered_at"),
        "last_status": last.get("status"),
        "last_error": reason or last.get("error"),
        "history": history,
        "data": doc["data"],
    }


def _shown_attempt(attempt: Mapping[str, Any], responses: bool) -> dict[str, Any]:
    shown = {k: v for k, v in attempt.items() if k not in ("response", "refused")}
    if responses and attempt.get("response"):
        shown["error"] = f"{attempt['error']}: {attempt['response']}"
    elif shown.get("error") and shown.get("status"):
        shown["error"] = _status_only(shown["error"], shown["status"])
    return shown


def _status_only(text: str, status: int) -> str:
    """``text`` cut after ``HTTP <status>``: before answers were kept apart,
    the log held them in the error (``HTTP 403: <body>``)."""
    marker = f"HTTP {status}"
    at = text.find(marker)
    return text if at < 0 else text[:at + len(marker)]


async def _load(db: Database, bot_id: str, webhook_id: str) -> dict[str, Any]:
    doc = await WebhookStore.of(db).get_webhook(bot_id, webhook_id)
    if doc is None:
        raise NotFound(f"no webhook {webhook_id!r}", webhook=webhook_id)
    return doc


def _shown(doc: Mapping[str, Any]) -> dict[str, Any]:
    shown = {k: v for k, v in doc.items() if k not in ("_id", "secret")}
    # Enough of the secret to tell which one is configured, never enough to sign.
    return {"id": doc["_id"], **shown, "audience": doc.get("audience"),
            "secret_hint": f"…{doc['secret'][-4:]}"}


def _url(raw: str, allow_private: bool) -> str:
    try:
        url = URL(raw)
    except (ValueError, TypeError):
        raise InvalidRequest(f"'url' is not a URL: {raw!r}", field="url") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise InvalidRequest(f"'url' must be an absolute http or https URL, not {raw!r}",
                             field="url")
    if url.user or url.password:
        raise InvalidRequest("'url' must not carry credentials: sign with the secret instead",
                             field="url")
    check_url(url, allow_private=allow_private)
    return str(url)


def _events(raw: list[str]) -> list[str]:
    # The schema allows only known names; keep them in the order of WebhookEvent.
    wanted = set(raw)
    return [str(e) for e in WebhookEvent if e in wanted]


async def _audience(db: Database, bot_id: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    shown, _ = await resolve_audience(db, bot_id, spec)
    return shown
