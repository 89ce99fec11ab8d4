"""Webhooks for real-time CRM sync: configure them, read their delivery log,
replay dead-lettered deliveries."""

from __future__ import annotations

from aiohttp import web

from plugin.access.keys import Role
from plugin.core.errors import InvalidRequest
from plugin.crm import webhooks
from plugin.crm.outbox import DeliveryState
from plugin.http.appkeys import DATABASE, SETTINGS
from plugin.http.auth import principal
from plugin.http.endpoint import Param, endpoint
from plugin.http.jsonio import json_response, read_body
from plugin.http.params import BOT_ID, DELIVERY_ID, WEBHOOK_ID, int_param

routes = web.RouteTableDef()

_ONE = (BOT_ID, WEBHOOK_ID)
_TAG = "crm sync"
DELIVERIES_DEFAULT_LIMIT = 50
DELIVERIES_MAX_LIMIT = 500


def _ids(request: web.Request) -> tuple[str, str]:
    return request.match_info["bot_id"], request.match_info["webhook_id"]


def _shows_responses(request: web.Request) -> bool:
    """Only admins see what receivers answered (it may hold anything); the others
    see the status."""
    return principal(request).role is Role.ADMIN


@routes.post("/v1/bots/{bot_id}/webhooks")
@endpoint("Send events to a URL in real time (signed JSON POSTs); the secret is shown once",
          role=Role.EDITOR, request="webhook.create",
          responses={201: "webhook", 400: "error", 404: "error", 409: "error"},
          params=(BOT_ID,), tag=_TAG)
async def create_webhook(request: web.Request) -> web.Response:
    body = await read_body(request, "webhook.create")
    hook = await webhooks.create_webhook(request.app[DATABASE], request.match_info["bot_id"], body,
                                         allow_private=request.app[SETTINGS].webhook_allow_private)
    return json_response(hook, status=201)


@routes.get("/v1/bots/{bot_id}/webhooks")
@endpoint("The bot's webhooks", role=Role.VIEWER, responses={200: "webhook.list"},
          params=(BOT_ID,), tag=_TAG)
async def list_webhooks(request: web.Request) -> web.Response:
    found = await webhooks.list_webhooks(request.app[DATABASE], request.match_info["bot_id"])
    return json_response({"webhooks": found})


@routes.get("/v1/bots/{bot_id}/webhooks/{webhook_id}")
@endpoint("A webhook", role=Role.VIEWER, responses={200: "webhook", 404: "error"},
          params=_ONE, tag=_TAG)
async def get_webhook(request: web.Request) -> web.Response:
    return json_response(await webhooks.get_webhook(request.app[DATABASE], *_ids(request)))


@routes.patch("/v1/bots/{bot_id}/webhooks/{webhook_id}")
@endpoint("Change a webhook's URL, events, secret, audience, or pause it",
          role=Role.EDITOR, request="webhook.update",
          responses={200: "webhook", 400: "error", 404: "error"}, params=_ONE, tag=_TAG)
async def update_webhook(request: web.Request) -> web.Response:
    body = await read_body(request, "webhook.update")
    return json_response(await webhooks.update_webhook(
        request.app[DATABASE], *_ids(request), body,
        allow_private=request.app[SETTINGS].webhook_allow_private))


@routes.delete("/v1/bots/{bot_id}/webhooks/{webhook_id}")
@endpoint("Delete a webhook with its delivery log (pending deliveries are dropped)",
          role=Role.EDITOR, responses={204: None, 404: "error"}, params=_ONE, tag=_TAG)
async def delete_webhook(request: web.Request) -> web.Response:
    await webhooks.delete_webhook(request.app[DATABASE], *_ids(request))
    return web.Response(status=204)


@routes.get("/v1/bots/{bot_id}/webhooks/{webhook_id}/deliveries")
@endpoint("The webhook's delivery log, newest first", role=Role.VIEWER,
          responses={200: "webhook.deliveries", 400: "error", 404: "error"},
          params=(*_ONE,
                  Param("state", "query", {"enum": [str(s) for s in DeliveryState]}),
                  Param("limit", "query", {"type": "integer", "minimum": 1,
                                           "maximum": DELIVERIES_MAX_LIMIT,
                                           "default": DELIVERIES_DEFAULT_LIMIT}),
                  Param("before", "query", {"type": "string"},
                        "The `next` cursor of the previous page.")),
          tag=_TAG)
async def list_deliveries(request: web.Request) -> web.Response:
    state = request.query.get("state")
    if state is not None and state not in set(DeliveryState):
        raise InvalidRequest(f"query parameter 'state' must be one of "
                             f"{', '.join(DeliveryState)}, not {state!r}", parameter="state")
    limit = int_param(request, "limit", default=DELIVERIES_DEFAULT_LIMIT, low=1,
                      high=DELIVERIES_MAX_LIMIT)
    page = await webhooks.list_deliveries(request.app[DATABASE], *_ids(request), state=state,
                                          limit=limit, before=request.query.get("before"),
                                          responses=_shows_responses(request))
    return json_response(page)


@routes.post("/v1/bots/{bot_id}/webhooks/{webhook_id}/deliveries/{delivery_id}/replay")
@endpoint("Send one delivery again (dead-lettered, delivered or skipped)", role=Role.EDITOR,
          responses={200: "webhook.delivery", 404: "error", 409: "error"},
          params=(*_ONE, DELIVERY_ID), tag=_TAG)
async def replay_delivery(request: web.Request) -> web.Response:
    delivery = await webhooks.replay_delivery(request.app[DATABASE], *_ids(request),
                                              request.match_info["delivery_id"],
                                              responses=_shows_responses(request))
    return json_response(delivery)


@routes.post("/v1/bots/{bot_id}/webhooks/{webhook_id}/replay")
@endpoint("Put every dead-lettered delivery of the webhook back in the queue",
          role=Role.EDITOR, responses={200: "webhook.replayed", 404: "error"}, params=_ONE,
          tag=_TAG)
async def replay_dead(request: web.Request) -> web.Response:
    return json_response({"replayed": await webhooks.replay_dead(request.app[DATABASE],
                                                                 *_ids(request))})
