"""The jobs page: a bot's latest jobs (broadcasts, workflow runs, property
updates, exports, imports) with who started each, for whom, how far it is
and what went wrong; editors may cancel one that is queued or running.

While a job is queued or running the table asks for itself again every
second (htmx polling, ``/jobs/table``), so progress shows live and the page
never waits on a job; once none is, it stops asking. Viewers see the page;
cancelling is for editors, with the CSRF token (see :mod:`plugin.web.guard`).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from plugin.access.keys import Role
from plugin.audience.bot_list import bot_name
from plugin.audience.bots import require_known_bot
from plugin.audience.segment_store import SegmentStore
from plugin.core.errors import NotFound
from plugin.db.database import Database
from plugin.http.appkeys import DATABASE
from plugin.jobs import lifecycle as jobs
from plugin.web.guard import is_htmx, page, redirect, render
from plugin.web.job_rows import job_row

routes = web.RouteTableDef()

POLL_EVERY = "1s"


async def _table(db: Database, bot_id: str) -> dict[str, Any]:
    found = await jobs.list_jobs(db, bot_id)
    names = {doc["_id"]: doc["name"] for doc in await SegmentStore.of(db).list_segments(bot_id)}
    rows = [job_row(job, names) for job in found]
    return {"bot": bot_id, "jobs": rows, "live": any(row.active for row in rows),
            "poll_every": POLL_EVERY}


@routes.get("/bots/{bot}/jobs")
@page(role=Role.VIEWER)
async def jobs_page(request: web.Request) -> web.StreamResponse:
    db, bot_id = request.app[DATABASE], request.match_info["bot"]
    await require_known_bot(db, bot_id)
    table = await _table(db, bot_id)
    started = next((row for row in table["jobs"] if row.id == request.query.get("started")),
                   None)
    return render("jobs.html", request, {**table, "bot_name": await bot_name(db, bot_id),
                                         "started": started})


@routes.get("/bots/{bot}/jobs/table")
@page(role=Role.VIEWER)
async def jobs_table(request: web.Request) -> web.StreamResponse:
    """The table alone: what the page polls while a job is active."""
    db, bot_id = request.app[DATABASE], request.match_info["bot"]
    return render("_jobs_table.html", request, await _table(db, bot_id))


@routes.post("/bots/{bot}/jobs/{job}/cancel")
@page(role=Role.EDITOR)
async def cancel(request: web.Request) -> web.StreamResponse:
    """"Cancel": a queued job never starts, a running one stops after the
    users it is working on; a finished one stays as it is."""
    db, bot_id = request.app[DATABASE], request.match_info["bot"]
    job = await jobs.get_job(db, request.match_info["job"])
    if job["bot_id"] != bot_id:  # another bot's job, as if it did not exist
        raise NotFound(f"no job {job['_id']!r}", job=job["_id"])
    await jobs.cancel_job(db, job["_id"])
    if is_htmx(request):
        return render("_jobs_table.html", request, await _table(db, bot_id))
    return redirect(f"/bots/{bot_id}/jobs")
