"""Exports: queue one, follow it, download the file through its signed link.

The download route has no API key: the signed, expiring link is the
credential (``plugin.transfer.export.check_link``), so it can be mailed and opened
in a browser.
"""

from __future__ import annotations

from aiohttp import web

from plugin.access.keys import Role
from plugin.core import constants as c
from plugin.core.errors import NotFound
from plugin.http.appkeys import SETTINGS, STORE
from plugin.http.auth import principal
from plugin.http.endpoint import Param, endpoint
from plugin.http.jsonio import json_response, read_body
from plugin.http.routes.events import BOT_ID
from plugin.jobs import worker as jobs
from plugin.jobs.worker import JobKind
from plugin.transfer import export as exporting

routes = web.RouteTableDef()

EXPORT_ID = Param("job_id", "path", {"type": "string"}, required=True)
EXPIRES = Param("expires", "query", {"type": "integer"}, "Unix time the link expires at",
                required=True)
SIGNATURE = Param("signature", "query", {"type": "string"}, "HMAC-SHA256 of the link",
                  required=True)


def _base_url(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


@routes.post("/v1/bots/{bot_id}/exports")
@endpoint("Export the users of a segment or filter to CSV or XLSX (a job); the row count "
          "is known at once", role=Role.VIEWER, request="export.create",
          responses={202: "export.created", 400: "error", 404: "error"}, params=(BOT_ID,),
          tag="export and import")
async def create_export(request: web.Request) -> web.Response:
    body = await read_body(request, "export.create")
    job = await exporting.create_export(request.app[STORE], request.app[SETTINGS],
                                        request.match_info["bot_id"], body)
    return json_response({"job_id": job["_id"], "total": job["total"]}, status=202)


@routes.get("/v1/exports/{job_id}")
@endpoint("An export's status, rows written and, once done, its signed download link",
          role=Role.VIEWER, responses={200: "export", 404: "error"}, params=(EXPORT_ID,),
          tag="export and import")
async def get_export(request: web.Request) -> web.Response:
    job = await jobs.get_job(request.app[STORE], request.match_info["job_id"], JobKind.EXPORT)
    principal(request).authorize(str(job["bot_id"]), Role.VIEWER)
    return json_response(exporting.shown_export(job, request.app[SETTINGS],
                                                _base_url(request)))


@routes.get("/v1/exports/{job_id}/download")
@endpoint("Download an export's file; the signed link is the credential (no API key)",
          role=None, responses={200: None, 403: "error", 404: "error"},
          params=(EXPORT_ID, EXPIRES, SIGNATURE), tag="export and import")
async def download_export(request: web.Request) -> web.StreamResponse:
    job_id = request.match_info["job_id"]
    exporting.check_link(request.app[SETTINGS], job_id, request.query.get("expires"),
                         request.query.get("signature"))
    stream = await request.app[STORE].open_file(c.EXPORT_BUCKET, job_id)
    if stream is None:
        raise NotFound(f"export {job_id!r} has no file: not built yet, or removed once "
                       "its retention ran out", job=job_id)
    metadata = stream.metadata or {}
    response = web.StreamResponse(headers={
        "Content-Type": metadata.get("content_type", "application/octet-stream"),
        "Content-Disposition": f'attachment; filename="{stream.filename}"',
        "Content-Length": str(stream.length)})
    await response.prepare(request)
    while chunk := await stream.readchunk():
        await response.write(chunk)
    await response.write_eof()
    return response
