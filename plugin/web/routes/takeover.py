"""Human takeover from the profile page: "Start Chat", the agent's "Message"
and "Send", "Assign to Bot". Editors only. The messages go through the
user's channel (:mod:`plugin.handover.takeover`) and reach every open page
of that user through its live stream, the sender's included."""

from __future__ import annotations

from aiohttp import web

from plugin import schemas
from plugin.access.keys import Role
from plugin.handover import takeover as handover
from plugin.http.appkeys import CONNECTORS, DATABASE
from plugin.web.guard import is_htmx, page, redirect, render

routes = web.RouteTableDef()

MAX_AGENT_NAME = 100


def _back(request: web.Request) -> str:
    return f"/bots/{request.match_info['bot']}/users/{request.match_info['user']}"


async def _done(request: web.Request, holder: str) -> web.StreamResponse:
    if is_htmx(request):
        return render("_takeover.html", request, {
            "bot": request.match_info["bot"], "user": {"user_id": request.match_info["user"],
                                                       "assigned_to": holder}})
    return redirect(_back(request))


@routes.post("/bots/{bot}/users/{user}/takeover")
@page(role=Role.EDITOR)
async def start_chat(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    agent = form.get("agent")
    body = {"agent": agent.strip() if isinstance(agent, str) else ""}
    schemas.check("handover.takeover", body, "the agent's name")
    profile = await handover.take_over(request.app[DATABASE], request.app[CONNECTORS],
                                       request.match_info["bot"], request.match_info["user"],
                                       body["agent"])
    return await _done(request, profile.get("assigned_to", "bot"))


@routes.post("/bots/{bot}/users/{user}/messages")
@page(role=Role.EDITOR)
async def send(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    text = form.get("text")
    body = {"text": text.strip() if isinstance(text, str) else ""}
    schemas.check("handover.message", body, "the message")
    await handover.send_agent_message(request.app[DATABASE], request.app[CONNECTORS],
                                      request.match_info["bot"], request.match_info["user"],
                                      body)
    if is_htmx(request):
        return web.Response(status=204)  # the live stream shows it
    return redirect(_back(request))


@routes.post("/bots/{bot}/users/{user}/assign-to-bot")
@page(role=Role.EDITOR)
async def assign_to_bot(request: web.Request) -> web.StreamResponse:
    profile = await handover.assign_to_bot(request.app[DATABASE], request.app[CONNECTORS],
                                           request.match_info["bot"], request.match_info["user"])
    return await _done(request, profile.get("assigned_to", "bot"))
