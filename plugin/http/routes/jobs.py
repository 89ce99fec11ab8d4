"""Bulk actions (broadcast, run workflow, bulk update) and the jobs they become.

The job routes have no ``{bot_id}`` in their path: the auth middleware checks
only the key's role, and each handler authorises the key against the job's
bot itself (a job of a bot the key does not cover is a 404).
"""

from __future__ import annotations

from aiohttp import web

from plugin.access.keys import Role
from plugin.http.appkeys import CONNECTORS, DATABASE
from plugin.http.auth import authorize_bot, principal
from plugin.http.endpoint import endpoint
from plugin.http.jsonio import json_response, read_body
from plugin.http.params import BOT_ID, JOB_ID
from plugin.http.presenters import shown_job
from plugin.jobs import actions as bulk
from plugin.jobs import lifecycle as jobs

routes = web.RouteTableDef()



@routes.post("/v1/bots/{bot_id}/broadcasts")
@endpoint("Broadcast a message to a segment or a filter's users (a job)", role=Role.EDITOR,
          request="broadcast.create", responses={202: "job", 400: "error", 404: "error"},
          params=(BOT_ID,), tag="bulk actions")
async def create_broadcast(request: web.Request) -> web.Response:
    body = await read_body(request, "broadcast.create")
    job = await bulk.broadcast(request.app[DATABASE], request.match_info["bot_id"], body,
                               started_by=principal(request).identity())
    return json_response(shown_job(job), status=202)


@routes.post("/v1/bots/{bot_id}/workflows/run")
@endpoint("Start a module of the bot for each user of a segment or filter (a job)",
          role=Role.EDITOR, request="workflow.run",
          responses={202: "job", 400: "error", 404: "error"}, params=(BOT_ID,),
          tag="bulk actions")
async def run_workflow(request: web.Request) -> web.Response:
    body = await read_body(request, "workflow.run")
    job = await bulk.run_workflow(request.app[DATABASE], request.app[CONNECTORS],
                                  request.match_info["bot_id"], body,
                                  started_by=principal(request).identity())
    return json_response(shown_job(job), status=202)


@routes.post("/v1/bots/{bot_id}/bulk-update")
@endpoint("Set or unset properties of every user of a segment or filter (a job); "
          "validated in full first", role=Role.EDITOR, request="bulk_update.create",
          responses={202: "job", 400: "error", 404: "error"}, params=(BOT_ID,),
          tag="bulk actions")
async def bulk_update(request: web.Request) -> web.Response:
    body = await read_body(request, "bulk_update.create")
    job = await bulk.bulk_update(request.app[DATABASE], request.match_info["bot_id"], body,
                                 started_by=principal(request).identity())
    return json_response(shown_job(job), status=202)


@routes.get("/v1/jobs/{job_id}")
@endpoint("A job's status and progress", role=Role.VIEWER,
          responses={200: "job", 404: "error"}, params=(JOB_ID,), tag="bulk actions")
async def get_job(request: web.Request) -> web.Response:
    job = await jobs.get_job(request.app[DATABASE], request.match_info["job_id"])
    authorize_bot(request, job["bot_id"])
    return json_response(shown_job(job))


@routes.post("/v1/jobs/{job_id}/cancel")
@endpoint("Cancel a job: a running one stops after the users it is working on",
          role=Role.EDITOR, responses={200: "job", 404: "error"}, params=(JOB_ID,),
          tag="bulk actions")
async def cancel_job(request: web.Request) -> web.Response:
    db = request.app[DATABASE]
    job = await jobs.get_job(db, request.match_info["job_id"])
    authorize_bot(request, job["bot_id"])
    return json_response(shown_job(await jobs.cancel_job(db, job["_id"])))
