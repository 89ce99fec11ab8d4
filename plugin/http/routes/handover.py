"""Human takeover: "Start Chat", an agent's messages, "Assign to Bot"."""

from __future__ import annotations

from aiohttp import web

from plugin.access.keys import Role
from plugin.audience.query import public_profile
from plugin.handover import takeover as handover
from plugin.http.appkeys import CONNECTORS, DATABASE
from plugin.http.endpoint import endpoint
from plugin.http.jsonio import json_response, read_body
from plugin.http.params import BOT_ID, USER_ID

routes = web.RouteTableDef()
_IDS = (BOT_ID, USER_ID)


@routes.post("/v1/bots/{bot_id}/users/{user_id}/takeover")
@endpoint("Start Chat: a human agent holds the conversation; the bot stays silent",
          role=Role.EDITOR, request="handover.takeover",
          responses={200: "profile", 404: "error", 409: "error"}, params=_IDS, tag="handover")
async def take_over(request: web.Request) -> web.Response:
    body = await read_body(request, "handover.takeover")
    profile = await handover.take_over(request.app[DATABASE], request.app[CONNECTORS],
                                       request.match_info["bot_id"],
                                       request.match_info["user_id"], body["agent"])
    return json_response(public_profile(profile))


@routes.post("/v1/bots/{bot_id}/users/{user_id}/messages")
@endpoint("Send the agent's message through the user's channel", role=Role.EDITOR,
          request="handover.message",
          responses={200: "handover.delivered", 404: "error", 409: "error"}, params=_IDS,
          tag="handover")
async def send_message(request: web.Request) -> web.Response:
    body = await read_body(request, "handover.message")
    delivered = await handover.send_agent_message(
        request.app[DATABASE], request.app[CONNECTORS], request.match_info["bot_id"],
        request.match_info["user_id"], body)
    return json_response({"delivered": delivered})


@routes.post("/v1/bots/{bot_id}/users/{user_id}/assign-to-bot")
@endpoint("Assign to Bot: the bot answers the user again", role=Role.EDITOR,
          responses={200: "profile", 404: "error"}, params=_IDS, tag="handover")
async def assign_to_bot(request: web.Request) -> web.Response:
    profile = await handover.assign_to_bot(request.app[DATABASE], request.app[CONNECTORS],
                                           request.match_info["bot_id"],
                                           request.match_info["user_id"])
    return json_response(public_profile(profile))
