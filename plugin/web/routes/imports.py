"""The import dialog of the audience list: a CSV or Excel file mapped onto
the bot's properties, checked (a dry run), then imported, as jobs.

The browser keeps the file: choosing it posts it for a proposed mapping
(:func:`~plugin.transfer.imports.read_import`, nothing changes), and "Check
file" and "Import" post it again with the mapping the user settled on, each
queuing an import job (:func:`~plugin.transfer.imports.queue_import`, the
API's own service: the file and the mapping are checked before the job is
queued). The dialog then polls the job (htmx) until it shows the report:
counts, rejected and ambiguous rows, and the rejected rows as CSV
(:func:`~plugin.transfer.imports.rejections_csv`, as the API serves them).

A file or mapping the service refuses is shown inside the dialog (a modal
dialog leaves the page's alert region behind it) and changes nothing.
Editors only: the results are the API's import resource, which is too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from aiohttp import web

from plugin.access.keys import Role
from plugin.audience.property_store import PropertyStore
from plugin.core.errors import InvalidRequest, NotFound
from plugin.http.appkeys import DATABASE
from plugin.http.routes.imports import read_import_form
from plugin.jobs import lifecycle as jobs
from plugin.jobs.model import ACTIVE, Job, JobKind, JobStatus
from plugin.transfer import imports as importing
from plugin.transfer.mapping import IGNORE
from plugin.transfer.store import TransferStore
from plugin.transfer.tables import UnreadableFile
from plugin.web.guard import page, render, session_of
from plugin.web.routes.audience import label_of

__all__ = ["routes"]

routes = web.RouteTableDef()

# What the file input offers; the service reads the content whatever the name
# says, but a file of another kind is refused by its name first, plainly.
FILE_TYPES = (".csv", ".txt", ".tsv", ".xlsx", ".xlsm", ".xls")
KEY_LABELS = {"user_id": "User id", "email": "Email", "phone": "Phone"}
# Rejected rows listed in the dialog; the download has them all.
ROWS_SHOWN = 100
_EXAMPLE_CHARS = 60


@dataclass(frozen=True, slots=True)
class MappedColumn:
    """A row of the mapping table: the file's column, an example, its property."""

    header: str
    example: str
    target: str


def _text(value: Any) -> str:
    if value is None:
        return ""
    text = value.isoformat() if isinstance(value, datetime | date | time) else str(value)
    return text if len(text) <= _EXAMPLE_CHARS else text[:_EXAMPLE_CHARS - 1] + "…"


def _check_file_type(filename: str) -> None:
    if not filename.lower().endswith(FILE_TYPES):
        raise UnreadableFile(f"“{filename or 'the file'}” is not a CSV or Excel file: choose "
                             "a .csv or .xlsx file", field="file")


def _mapping(fields: dict[str, str]) -> dict[str, str]:
    """The mapping the dialog posted: ``column-N`` (a header) → ``map-N``."""
    mapping: dict[str, str] = {}
    n = 0
    while f"column-{n}" in fields:
        mapping[fields[f"column-{n}"]] = fields.get(f"map-{n}", IGNORE)
        n += 1
    if not mapping:
        raise InvalidRequest("choose the file again: its mapping is missing", field="file")
    return mapping


def _default_key(mapping: dict[str, str]) -> str:
    return next((key for key in importing.KEYS if key in mapping.values()), "user_id")


def _problem(request: web.Request, exc: InvalidRequest, *, clear_mapping: bool) -> web.Response:
    """The refusal in the dialog's own alert region; nothing else changes
    (except a refused file's stale mapping, which goes)."""
    response = render("_import_problem.html", request, {
        "message": exc.message, "errors": exc.details.get("errors") or [],
        "clear_mapping": clear_mapping})
    response.headers["HX-Retarget"] = "#import-problem"
    response.headers["HX-Reswap"] = "innerHTML"
    return response


def _job(request: web.Request, job: Job, report: dict[str, Any] | None) -> web.Response:
    """The job's part of the dialog: progress, then the report."""
    listed = report["rejections"] if report else []
    ambiguous = [r for r in listed if "user_ids" in r][:ROWS_SHOWN]
    rejected = [r for r in listed if "user_ids" not in r][:ROWS_SHOWN]
    return render("_import_job.html", request, {
        "bot": request.match_info["bot"], "job": job, "report": report,
        "active": job["status"] in ACTIVE, "dry_run": job["spec"]["dry_run"],
        "rejected": rejected, "ambiguous": ambiguous,
        "more": len(listed) - len(rejected) - len(ambiguous)})


@routes.post("/bots/{bot}/imports/mapping")
@page(role=Role.EDITOR)
async def propose(request: web.Request) -> web.StreamResponse:
    """The file chosen: its columns, each with the property proposed for it."""
    db, bot_id = request.app[DATABASE], request.match_info["bot"]
    try:
        data, filename, _ = await read_import_form(request)
        _check_file_type(filename)
        table, head = await importing.read_import(db, bot_id, data, filename, None, "user_id")
    except InvalidRequest as exc:
        return _problem(request, exc, clear_mapping=True)
    proposed: dict[str, str] = head["proposed_mapping"]
    first = table.rows[0] if table.rows else [None] * len(table.columns)
    properties = await PropertyStore.of(db).custom_properties(bot_id)
    return render("_import_mapping.html", request, {
        "bot": bot_id, "filename": filename, "rows": len(table.rows),
        "columns": [MappedColumn(col, _text(value), proposed[col])
                    for col, value in zip(table.columns, first, strict=True)],
        "targets": [(IGNORE, "Skip"), ("user_id", "User id"),
                    *sorted(((p.name, label_of(p)) for p in properties.values()),
                            key=lambda t: t[1].casefold())],
        "keys": KEY_LABELS, "key": _default_key(proposed)})


@routes.post("/bots/{bot}/imports")
@page(role=Role.EDITOR)
async def start(request: web.Request) -> web.StreamResponse:
    """"Check file" (a dry run) or "Import": the file and mapping checked, a job queued."""
    db, bot_id = request.app[DATABASE], request.match_info["bot"]
    try:
        data, filename, fields = await read_import_form(request)
        _check_file_type(filename)
        job = await importing.queue_import(db, bot_id, data, filename, _mapping(fields),
                                           fields.get("key", "user_id"),
                                           dry_run=fields.get("mode") != "apply",
                                           started_by=session_of(request).principal.identity())
    except InvalidRequest as exc:
        return _problem(request, exc, clear_mapping=False)
    return _job(request, job, None)


@routes.get("/bots/{bot}/imports/{import_id}")
@page(role=Role.EDITOR)
async def status(request: web.Request) -> web.StreamResponse:
    """The job as it is now: progress while it runs (the dialog asks again), then its report."""
    db, bot_id = request.app[DATABASE], request.match_info["bot"]
    job = await jobs.get_job(db, request.match_info["import_id"], JobKind.IMPORT)
    if job["bot_id"] != bot_id:
        raise NotFound(f"no import {job['_id']!r}")
    done = job["status"] == JobStatus.DONE
    report = await TransferStore.of(db).get_import(job["_id"]) if done else None
    return _job(request, job, report)


@routes.get("/bots/{bot}/imports/{import_id}/rejections.csv")
@page(role=Role.EDITOR)
async def rejections(request: web.Request) -> web.StreamResponse:
    """The rejected rows of a check or an import, as the API serves them."""
    report = await TransferStore.of(request.app[DATABASE]).get_import(
        request.match_info["import_id"])
    if report is None or report["bot_id"] != request.match_info["bot"]:
        raise NotFound(f"no import {request.match_info['import_id']!r}")
    return web.Response(body=importing.rejections_csv(report), content_type="text/csv",
                        charset="utf-8", headers={
                            "Content-Disposition":
                                f'attachment; filename="import-{report["_id"][:8]}-rejected.csv"'})
