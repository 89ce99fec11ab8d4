"""Imports: a CSV or XLSX file posted as multipart (files up to
``IMPORT_MAX_BYTES``), checked in the request and run as a job (see
:mod:`plugin.transfer.imports`); the job's status and report; the rejected rows of
a finished import as CSV."""

from __future__ import annotations

import json

from aiohttp import BodyPartReader, web

from plugin.access.keys import Role
from plugin.core import constants as c
from plugin.core.errors import InvalidRequest, NotFound
from plugin.http.appkeys import DATABASE
from plugin.http.auth import authorize_bot, principal
from plugin.http.endpoint import endpoint
from plugin.http.jsonio import json_response
from plugin.http.params import BOT_ID, IMPORT_ID
from plugin.http.presenters import shown_import
from plugin.jobs import lifecycle as jobs
from plugin.jobs.model import JobKind, JobStatus
from plugin.transfer import imports as importing
from plugin.transfer.store import TransferStore
from plugin.transfer.tables import UnreadableFile

__all__ = ["read_import_form", "rejections_url", "routes"]

routes = web.RouteTableDef()

REJECTIONS = "/v1/imports/{import_id}/rejections.csv"

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def rejections_url(import_id: str) -> str:
    """Where the rejected rows of an import are (relative to the server)."""
    return REJECTIONS.format(import_id=import_id)


async def read_import_form(request: web.Request) -> tuple[bytes, str, dict[str, str]]:
    """The file (read up to the size limit), its name and the other fields of
    the form (the web tab's import dialog reads its form with it too)."""
    if not request.content_type.startswith("multipart/"):
        raise InvalidRequest("send the file as multipart/form-data: a 'file' part, and "
                             "optionally 'mapping' (JSON), 'key', 'dry_run' and "
                             "'update_all_matches'")
    try:
        return await _read_parts(request)
    except ValueError as exc:  # aiohttp's word for a malformed multipart body
        raise InvalidRequest(f"the multipart form cannot be read: {exc}") from None


async def _read_parts(request: web.Request) -> tuple[bytes, str, dict[str, str]]:
    reader = await request.multipart()
    data, filename, fields = None, "", {}
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader) or part.name is None:
            continue
        if part.name == "file":
            filename = part.filename or ""
            chunks, size = [], 0
            while chunk := await part.read_chunk(64 * 1024):
                size += len(chunk)
                if size > c.IMPORT_MAX_BYTES:
                    raise UnreadableFile(
                        f"the file is larger than {c.IMPORT_MAX_BYTES} bytes; split it",
                        limit=c.IMPORT_MAX_BYTES)
                chunks.append(chunk)
            data = b"".join(chunks)
        else:
            fields[part.name] = (await part.read(decode=True)).decode("utf-8", "replace")
    if data is None:
        raise InvalidRequest("the form has no 'file' part", field="file")
    return data, filename, fields


def _flag(fields: dict[str, str], name: str) -> bool:
    """A yes/no field of the form: absent is no.

    Raises:
        InvalidRequest: a value that is neither (1/0, true/false, yes/no, on/off).
    """
    value = fields.get(name, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise InvalidRequest(f"{name!r} is true or false, not {fields[name][:40]!r}", field=name)


@routes.post("/v1/bots/{bot_id}/imports")
@endpoint("Import users from a CSV or XLSX file (multipart: file, mapping, key, dry_run, "
          "update_all_matches; files up to 10 MiB, 100,000 rows, 500 columns). Without a "
          "mapping, a proposed one (200) and nothing changes; with one, the file and mapping "
          "are checked at once, then a job validates every row and writes (202); follow it at "
          "GET /v1/imports/{id}. A row whose e-mail or phone several users share is rejected "
          "as ambiguous unless update_all_matches is true", role=Role.EDITOR,
          responses={200: "import.report", 202: "import", 400: "error", 404: "error"},
          params=(BOT_ID,), tag="export and import")
async def create_import(request: web.Request) -> web.Response:
    data, filename, fields = await read_import_form(request)
    mapping = None
    if fields.get("mapping"):
        try:
            mapping = json.loads(fields["mapping"])
        except json.JSONDecodeError as exc:
            raise InvalidRequest(f"'mapping' is not JSON: {exc}", field="mapping") from None
        if not isinstance(mapping, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()):
            raise InvalidRequest("'mapping' is an object {column: property or \"ignore\"}",
                                 field="mapping")
    db, bot_id = request.app[DATABASE], request.match_info["bot_id"]
    key = fields.get("key", "user_id")
    every = _flag(fields, "update_all_matches")
    if mapping is None:
        _, proposed = await importing.read_import(db, bot_id, data, filename, None, key, every)
        return json_response(proposed)
    job = await importing.queue_import(db, bot_id, data, filename, mapping, key,
                                       _flag(fields, "dry_run"), update_all_matches=every,
                                       started_by=principal(request).identity())
    return json_response(shown_import(job, None, rejections_url), status=202)


@routes.get("/v1/imports/{import_id}")
@endpoint("An import: its status, rows written so far, and its report once done",
          role=Role.EDITOR, responses={200: "import", 404: "error"}, params=(IMPORT_ID,),
          tag="export and import")
async def get_import(request: web.Request) -> web.Response:
    db = request.app[DATABASE]
    job = await jobs.get_job(db, request.match_info["import_id"], JobKind.IMPORT)
    authorize_bot(request, str(job["bot_id"]))
    done = job["status"] == JobStatus.DONE
    report = await TransferStore.of(db).get_import(job["_id"]) if done else None
    return json_response(shown_import(job, report, rejections_url))


@routes.get(REJECTIONS)
@endpoint("The rejected rows of an import (row, column, reason) as CSV", role=Role.EDITOR,
          responses={200: None, 404: "error"}, params=(IMPORT_ID,), tag="export and import")
async def import_rejections(request: web.Request) -> web.Response:
    transfers = TransferStore.of(request.app[DATABASE])
    report = await transfers.get_import(request.match_info["import_id"])
    if report is None:
        raise NotFound(f"no import {request.match_info['import_id']!r}")
    authorize_bot(request, report["bot_id"])
    return web.Response(body=importing.rejections_csv(report),
                        content_type="text/csv", charset="utf-8", headers={
                            "Content-Disposition":
                                f'attachment; filename="import-{report["_id"][:8]}-rejected.csv"'})
