"""Exports: queue one, follow it, download the file through its signed link.

The download route has no API key: the signed, expiring link is the
credential (``plugin.transfer.links``), so it can be mailed and opened in a
browser. The links are built here, next to the route they point at: the API
shows them, and the export job mails the one :func:`mailed_links` builds.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from urllib.parse import urlencode

from aiohttp import web

from plugin.access.keys import Role
from plugin.core import constants as c
from plugin.core.errors import NotFound
from plugin.core.settings import Settings
from plugin.http.appkeys import DATABASE, SETTINGS
from plugin.http.auth import authorize_bot, principal
from plugin.http.endpoint import Param, endpoint
from plugin.http.jsonio import json_response, read_body
from plugin.http.params import BOT_ID
from plugin.http.presenters import shown_export
from plugin.jobs import lifecycle as jobs
from plugin.jobs.model import JobKind
from plugin.transfer import export as exporting
from plugin.transfer.links import SignedLink, check_link, sign_link
from plugin.transfer.store import TransferStore

__all__ = ["download_path", "download_url", "export_links", "mailed_links", "routes"]

routes = web.RouteTableDef()

DOWNLOAD = "/v1/exports/{job_id}/download"

EXPORT_ID = Param("job_id", "path", {"type": "string"}, required=True)
EXPIRES = Param("expires", "query", {"type": "integer"}, "Unix time the link expires at",
                required=True)
SIGNATURE = Param("signature", "query", {"type": "string"}, "HMAC-SHA256 of the link",
                  required=True)


def download_path(link: SignedLink) -> str:
    """The download route of a signed link, with its expiry and signature."""
    query = urlencode({"expires": link.expires, "signature": link.signature})
    return f"{DOWNLOAD.format(job_id=link.job_id)}?{query}"


def download_url(settings: Settings, base_url: str, job_id: str) -> str:
    """A fresh signed link to the file of export ``job_id``, under ``base_url``."""
    return base_url.rstrip("/") + download_path(sign_link(settings, job_id))


def export_links(settings: Settings) -> Callable[[str], str]:
    """The links the API shows: under ``AUDIENCE_PUBLIC_URL``, else a path on
    this server. Never under the request's ``Host`` (or ``X-Forwarded-Host``):
    whoever sends the request chooses those, and a link is a credential that
    gets forwarded."""
    return functools.partial(download_url, settings, settings.public_url or "")


def mailed_links(settings: Settings) -> Callable[[str], str]:
    """The links the export job mails: under ``AUDIENCE_PUBLIC_URL``, else under
    the address this server listens on (a mail needs a whole URL)."""
    base = settings.public_url or f"http://{settings.host}:{settings.port}"
    return functools.partial(download_url, settings, base)


@routes.post("/v1/bots/{bot_id}/exports")
@endpoint("Export the users of a segment or filter to CSV or XLSX (a job); the row count "
          "is known at once", role=Role.EDITOR, request="export.create",
          responses={202: "export.created", 400: "error", 404: "error"}, params=(BOT_ID,),
          tag="export and import", known_bot=True)
async def create_export(request: web.Request) -> web.Response:
    body = await read_body(request, "export.create")
    job = await exporting.create_export(request.app[DATABASE], request.app[SETTINGS],
                                        request.match_info["bot_id"], body,
                                        started_by=principal(request).identity())
    return json_response({"job_id": job["_id"], "total": job["total"]}, status=202)


@routes.get("/v1/exports/{job_id}")
@endpoint("An export's status, rows written and, once done, its signed download link",
          role=Role.EDITOR, responses={200: "export", 404: "error"}, params=(EXPORT_ID,),
          tag="export and import")
async def get_export(request: web.Request) -> web.Response:
    job = await jobs.get_job(request.app[DATABASE], request.match_info["job_id"], JobKind.EXPORT)
    authorize_bot(request, str(job["bot_id"]))
    settings = request.app[SETTINGS]
    return json_response(shown_export(job, settings, export_links(settings)))


@routes.get(DOWNLOAD)
@endpoint("Download an export's file; the signed link is the credential (no API key)",
          role=None, responses={200: None, 403: "error", 404: "error"},
          params=(EXPORT_ID, EXPIRES, SIGNATURE), tag="export and import")
async def download_export(request: web.Request) -> web.StreamResponse:
    job_id = request.match_info["job_id"]
    check_link(request.app[SETTINGS], job_id, request.query.get("expires"),
               request.query.get("signature"))
    stream = await TransferStore.of(request.app[DATABASE]).open_file(c.EXPORT_BUCKET, job_id)
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
