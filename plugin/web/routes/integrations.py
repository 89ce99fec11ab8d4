"""CRM sync ("Integrations"): the bot's webhooks with their state and their
pending and dead deliveries; adding one (its secret shown once, in the answer
to the form that created it, never again); pausing and resuming; a
webhook's delivery log with each attempt, and replaying one delivery or every
dead-lettered one.

Looking needs a viewer; every change needs the editor role, as the JSON API's
webhook routes do (:mod:`plugin.http.routes.webhooks`): connecting the CRM is
the audience team's work, like exporting, which hands over as much. Only
admins see the start of what a receiver answered (it may hold anything).
The handlers call the service the API calls (:mod:`plugin.crm.webhooks`)
with bodies checked against the same schemas.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from plugin import schemas
from plugin.access.keys import Role
from plugin.audience.bot_list import bot_name
from plugin.audience.bots import require_known_bot
from plugin.audience.segment_store import SegmentStore
from plugin.core.errors import Conflict, InvalidRequest, NotFound
from plugin.crm import webhooks
from plugin.crm.outbox import DeliveryState, WebhookEvent
from plugin.crm.store import WebhookStore
from plugin.db.database import Database
from plugin.http.appkeys import DATABASE, SETTINGS
from plugin.web.form_errors import named, problem_in
from plugin.web.guard import can_edit, is_htmx, page, redirect, render, session_of

routes = web.RouteTableDef()

DELIVERIES_PER_PAGE = 25
# How the page polls a webhook's log while deliveries are on their way.
POLL_EVERY = "1s"
EVENT_LABELS: Mapping[WebhookEvent, str] = {
    WebhookEvent.PROFILE_CREATED: "Profile created",
    WebhookEvent.PROFILE_UPDATED: "Profile updated",
    WebhookEvent.PROPERTY_SET: "Property set",
    WebhookEvent.PROPERTY_REJECTED: "Property rejected",
    WebhookEvent.MESSAGE_RECEIVED: "Message received",
    WebhookEvent.MESSAGE_SENT: "Message sent",
    WebhookEvent.MODULE_ENTERED: "Module entered",
    WebhookEvent.API_CALLED: "API called",
    WebhookEvent.HANDOVER: "Handover",
}
DEFAULT_EVENTS = (WebhookEvent.PROFILE_CREATED, WebhookEvent.PROFILE_UPDATED)
FIELD_LABELS = {"url": "Webhook URL", "events": "Events", "audience": "Audience",
                "description": "Description"}
EVERYONE = ""


def _is_admin(request: web.Request) -> bool:
    return session_of(request).principal.role is Role.ADMIN


def _list_url(bot_id: str) -> str:
    return f"/bots/{bot_id}/integrations"


def _log_url(bot_id: str, webhook_id: str) -> str:
    return f"/bots/{bot_id}/integrations/webhooks/{webhook_id}"


def _audience_label(audience: Mapping[str, Any] | None, segment_names: Mapping[str, str]) -> str:
    if not audience:
        return "Everyone"
    if "segment" in audience:
        return f"Segment {segment_names.get(audience['segment'], audience['segment'])}"
    return "A filter (set through the API)"


async def _segment_names(db: Database, bot_id: str) -> dict[str, str]:
    return {doc["_id"]: doc["name"] for doc in await SegmentStore.of(db).list_segments(bot_id)}


async def _shown_hook(db: Database, hook: dict[str, Any],
                      segment_names: Mapping[str, str]) -> dict[str, Any]:
    counts = await WebhookStore.of(db).count_deliveries(hook["id"])
    return {**hook, "counts": {str(state): counts.get(state, 0) for state in DeliveryState},
            "audience_label": _audience_label(hook.get("audience"), segment_names),
            "event_labels": [EVENT_LABELS[WebhookEvent(e)] for e in hook["events"]]}


async def _list_context(request: web.Request, *, secret: str | None = None,
                        created: dict[str, Any] | None = None) -> dict[str, Any]:
    db, bot_id = request.app[DATABASE], request.match_info["bot"]
    names = await _segment_names(db, bot_id)
    hooks = await asyncio.gather(*(_shown_hook(db, hook, names)
                                   for hook in await webhooks.list_webhooks(db, bot_id)))
    return {"bot": bot_id, "bot_name": await bot_name(db, bot_id), "hooks": hooks,
            "editor": can_edit(request), "secret": secret, "created": created,
            "events": [(str(e), EVENT_LABELS[e], e in DEFAULT_EVENTS) for e in WebhookEvent],
            "segments": sorted(names.items(), key=lambda item: item[1].casefold()),
            "everyone": EVERYONE, "states": DeliveryState}


@routes.get("/bots/{bot}/integrations")
@page(role=Role.VIEWER)
async def integrations_page(request: web.Request) -> web.StreamResponse:
    await require_known_bot(request.app[DATABASE], request.match_info["bot"])
    return render("integrations.html", request, await _list_context(request))


@routes.post("/bots/{bot}/integrations/webhooks")
@page(role=Role.EDITOR)
async def create_webhook(request: web.Request) -> web.StreamResponse:
    """"Create webhook": the secret is in this answer only (the service keeps
    it for signing and never shows it again)."""
    db, bot_id = request.app[DATABASE], request.match_info["bot"]
    posted = await request.post()
    audience = str(posted.get("audience") or EVERYONE)
    body: dict[str, Any] = {
        "url": str(posted.get("url") or "").strip(),
        "events": [str(e) for e in posted.getall("events", [])],
    }
    description = str(posted.get("description") or "").strip()
    if description:
        body["description"] = description
    if audience != EVERYONE:
        body["audience"] = {"segment": audience}
    try:
        if not body["events"]:
            raise InvalidRequest("tick at least one event to send", field="events")
        schemas.check("webhook.create", body, "the webhook")
        hook = await webhooks.create_webhook(
            db, bot_id, body, allow_private=request.app[SETTINGS].webhook_allow_private)
    except InvalidRequest as exc:
        return problem_in(request, "#webhook-problem", named(exc, FIELD_LABELS))
    except NotFound as exc:  # the audience's segment, deleted since the page was shown
        return problem_in(request, "#webhook-problem",
                          NotFound(f"{FIELD_LABELS['audience']}: {exc.message}", **exc.details))
    except Conflict as exc:  # the bot has as many webhooks as it may
        return problem_in(request, "#webhook-problem", exc)
    context = await _list_context(request, secret=hook["secret"], created=hook)
    if is_htmx(request):
        return render("_webhooks.html", request, context)
    return render("integrations.html", request, context)


@routes.post("/bots/{bot}/integrations/webhooks/{webhook}/active")
@page(role=Role.EDITOR)
async def set_active(request: web.Request) -> web.StreamResponse:
    """"Pause" (deliveries wait in the outbox) or "Resume" (they go)."""
    db, bot_id = request.app[DATABASE], request.match_info["bot"]
    webhook_id = request.match_info["webhook"]
    form = await request.post()
    body = {"active": form.get("active") == "true"}
    schemas.check("webhook.update", body, "the change")
    await webhooks.update_webhook(db, bot_id, webhook_id, body,
                                  allow_private=request.app[SETTINGS].webhook_allow_private)
    on_log = form.get("view") == "log"
    if not is_htmx(request):
        return redirect(_log_url(bot_id, webhook_id) if on_log else _list_url(bot_id))
    if on_log:
        return render("_webhook.html", request, await _log_context(request))
    return render("_webhooks.html", request, await _list_context(request))


async def _log_context(request: web.Request, *, notice: str | None = None) -> dict[str, Any]:
    db, bot_id = request.app[DATABASE], request.match_info["bot"]
    webhook_id = request.match_info["webhook"]
    state = request.query.get("state") or None
    if state is not None and state not in set(DeliveryState):
        raise InvalidRequest(f"'state' must be one of {', '.join(DeliveryState)}, not "
                             f"{state!r}", field="state")
    admin = _is_admin(request)
    hook = await _shown_hook(db, await webhooks.get_webhook(db, bot_id, webhook_id),
                             await _segment_names(db, bot_id))
    found = await webhooks.list_deliveries(db, bot_id, webhook_id, state=state,
                                           limit=DELIVERIES_PER_PAGE,
                                           before=request.query.get("before") or None,
                                           responses=admin)
    base = _log_url(bot_id, webhook_id)
    older = None
    if found["next"]:
        older = f"{base}?before={found['next']}" + (f"&state={state}" if state else "")
    # Poll while something is on its way (a paused webhook sends nothing).
    moving = hook["active"] and hook["counts"][DeliveryState.PENDING] > 0
    return {"bot": bot_id, "bot_name": await bot_name(db, bot_id), "hook": hook,
            "deliveries": found["deliveries"], "older": older, "state": state,
            "states": DeliveryState, "base": base, "editor": can_edit(request),
            "notice": notice,
            "poll": POLL_EVERY if moving else None, "event_labels": EVENT_LABELS,
            "event": WebhookEvent, "pending": DeliveryState.PENDING}


@routes.get("/bots/{bot}/integrations/webhooks/{webhook}")
@page(role=Role.VIEWER)
async def delivery_log(request: web.Request) -> web.StreamResponse:
    """A webhook and its delivery log, newest first (for htmx, the part the
    page polls while deliveries are pending)."""
    context = await _log_context(request)
    if is_htmx(request) and request.headers.get("HX-Target") == "webhook":
        return render("_webhook.html", request, context)
    return render("webhook.html", request, context)


@routes.post("/bots/{bot}/integrations/webhooks/{webhook}/deliveries/{delivery}/replay")
@page(role=Role.EDITOR)
async def replay_delivery(request: web.Request) -> web.StreamResponse:
    """"Replay": one delivery (dead, delivered or skipped) back in the queue."""
    db, bot_id = request.app[DATABASE], request.match_info["bot"]
    webhook_id = request.match_info["webhook"]
    await webhooks.replay_delivery(db, bot_id, webhook_id, request.match_info["delivery"])
    if not is_htmx(request):
        return redirect(_log_url(bot_id, webhook_id))
    return render("_webhook.html", request,
                  await _log_context(request, notice="The delivery is queued again."))


@routes.post("/bots/{bot}/integrations/webhooks/{webhook}/replay")
@page(role=Role.EDITOR)
async def replay_dead(request: web.Request) -> web.StreamResponse:
    """"Replay all dead": every dead-lettered delivery back in the queue."""
    db, bot_id = request.app[DATABASE], request.match_info["bot"]
    webhook_id = request.match_info["webhook"]
    count = await webhooks.replay_dead(db, bot_id, webhook_id)
    if not is_htmx(request):
        return redirect(_log_url(bot_id, webhook_id))
    notice = (f"{count:,} dead deliver{'y is' if count == 1 else 'ies are'} queued again."
              if count else "There was no dead delivery to replay.")
    return render("_webhook.html", request, await _log_context(request, notice=notice))
