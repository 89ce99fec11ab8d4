"""The audience list's "Export" dialog: export the view on screen, follow the
job, download the file.

"Export" opens the dialog and asks for its form with the view's state in the
URL (the builder's fields, the segment, the sort, the search, the visible
columns, as :mod:`plugin.web.routes.audience` reads them), so the form states
how many users the export will write before anything runs. The form's post
queues the export through the service the API uses
(:func:`plugin.transfer.export.create_export`, the body checked with the same
schema); the job worker builds the file while the dialog polls the job every
:data:`POLL_MS` and, once done, links to the file through the API's signed
download route (the link is the credential: no key needed, so it can be mailed).
Bad input comes back as the form, with the problem named in the dialog (an
alert of the page would sit behind the modal dialog), and starts nothing.

Editors only, as the API's export routes: an export carries every user's
contact details out of the server.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from multidict import MultiMapping

from plugin import schemas
from plugin.access.keys import Role
from plugin.audience import query as audience
from plugin.audience.bots import require_known_bot
from plugin.audience.spec import audience_filter
from plugin.core import constants as c
from plugin.core.errors import AudienceError, InvalidRequest, NotFound
from plugin.core.properties import PropertyDef
from plugin.http.appkeys import DATABASE, SETTINGS
from plugin.http.errors import status_of
from plugin.http.routes.export import export_links
from plugin.jobs import lifecycle as jobs
from plugin.jobs.model import ACTIVE, Job, JobKind, JobStatus
from plugin.transfer import export as exporting
from plugin.web.filter_form import FilterForm
from plugin.web.form_errors import named
from plugin.web.guard import page, render, session_of
from plugin.web.routes.audience import label_of
from plugin.web.views import hides_test_users, view_filter, without_test_users

__all__ = ["routes", "POLL_MS"]

routes = web.RouteTableDef()

POLL_MS = 500
FORMATS = (("csv", "CSV"), ("xlsx", "Excel"))
FIELD_LABELS = {"format": "Format", "columns": "Columns", "limit": "Limit",
                "email": "Email the link to"}
# The list's "Name" column is whichever of these the bot has.
_NAME_FIELDS = ("name", "first_name", "last_name")


@dataclass(frozen=True, slots=True)
class Choices:
    """What the dialog's form holds: as submitted (text), or the defaults."""

    format: str = "csv"
    columns: str = "visible"  # or "all"
    limit: str = str(c.EXPORT_DEFAULT_LIMIT)
    email: str = ""

    @classmethod
    def posted(cls, form: Mapping[str, str]) -> Choices:
        return cls(form.get("format", "csv"), form.get("columns", "visible"),
                   form.get("limit", "").strip(), form.get("email", "").strip())


@dataclass(frozen=True, slots=True)
class Problem:
    """A refused export, as the dialog shows it: the field it is about, if any."""

    message: str
    field: str | None

    @classmethod
    def of(cls, exc: AudienceError) -> Problem:
        if not isinstance(exc, InvalidRequest):
            return cls(exc.message, None)
        shown = named(exc, FIELD_LABELS)
        field = shown.details.get("field")
        return cls(shown.message, field if field in FIELD_LABELS else None)


def _strings(posted: MultiMapping[Any]) -> dict[str, str]:
    return {k: v for k, v in posted.items() if isinstance(v, str)}


def _state(query: MultiMapping[Any]) -> list[tuple[str, str]]:
    """The view's fields the form carries on, as they came."""
    return [(k, v) for k, v in query.items() if isinstance(v, str)
            and k not in ("format", "columns", "limit", "email", "csrf", "total")]


def visible_columns(shown: list[str], exportable: Collection[str]) -> list[str]:
    """The export's columns for the list's visible ones: the user id first, then
    each visible column (the name as the bot's name fields) an export can have."""
    columns = ["user_id"]
    for key in shown:
        if key == "name":
            columns += [n for n in _NAME_FIELDS if n in exportable]
        elif key in exportable:
            columns.append(key)
    return list(dict.fromkeys(columns))


def _whole(text: str) -> int | None:
    """``text`` as a whole number of users, if it is one (ASCII digits only)."""
    return int(text) if text.isascii() and text.isdigit() else None


def _view(form: Mapping[str, str],
          properties: Mapping[str, PropertyDef]) -> tuple[dict[str, Any], str, str | None]:
    """The view's audience spec, sort and search, as the list reads them: test
    users left out unless "Show test users" is on or the filter asks about them."""
    built = FilterForm.from_query(form, properties).to_filter(properties)
    segment_id = form.get("segment") or None
    spec: dict[str, Any]
    if hides_test_users(built, form.get("test_users") == "1"):
        spec = {"filter": without_test_users(view_filter(built, segment_id))}
    elif segment_id is not None and built is None:
        spec = {"segment": segment_id}
    else:
        spec = {"filter": view_filter(built, segment_id) or {"conditions": []}}
    return spec, form.get("sort") or audience.DEFAULT_SORT, (form.get("q") or "").strip() or None


def _limit(text: str, maximum: int) -> int:
    limit = _whole(text)
    if limit is None or not 1 <= limit <= maximum:
        raise InvalidRequest(f"enter a whole number of users from 1 to {maximum:,}",
                             field="limit")
    return limit


def _label(key: str, properties: Mapping[str, PropertyDef]) -> str:
    prop = properties.get(key)
    return label_of(prop) if prop is not None else key


def _form_context(request: web.Request, source: MultiMapping[Any], total: int,
                  properties: Mapping[str, PropertyDef], every: list[str], choices: Choices,
                  problem: Problem | None = None) -> dict[str, Any]:
    """The dialog's form for the view ``source`` carries, which ``total`` users match."""
    shown = [v for v in source.getall("shown", []) if isinstance(v, str)]
    return {
        "bot": request.match_info["bot"], "state": _state(source), "choices": choices,
        "problem": problem, "formats": FORMATS,
        "visible": [_label(k, properties) for k in visible_columns(shown, every)],
        "all_count": len(every), "maximum": request.app[SETTINGS].export_max_rows,
        **_confirm(total, choices.limit),
    }


def _confirm(total: int, limit: str) -> dict[str, Any]:
    """The confirm button's count: the view's total, or the limit when lower."""
    asked = _whole(limit)
    count = min(total, asked) if asked else total
    return {"total": total, "count": count}


@routes.get("/bots/{bot}/exports/new")
@page(role=Role.EDITOR)
async def export_form(request: web.Request) -> web.StreamResponse:
    """The dialog's form for the view in the query, with the count it would export."""
    db, bot_id = request.app[DATABASE], request.match_info["bot"]
    await require_known_bot(db, bot_id)
    properties = await audience.catalog(db, bot_id)
    spec, sort, search = _view(_strings(request.query), properties)
    found = await audience.query_audience(db, bot_id, audience_filter(spec), sort=sort,
                                          limit=1, search=search)
    every = await exporting.every_column(db, bot_id)
    return render("_export_form.html", request, _form_context(
        request, request.query, found.total, properties, every, Choices()))


@routes.get("/bots/{bot}/exports/count")
@page(role=Role.EDITOR)
async def export_count(request: web.Request) -> web.StreamResponse:
    """The confirm button again, for the limit being typed."""
    total = _whole(request.query.get("total", "")) or 0
    return render("_export_confirm.html", request,
                  _confirm(total, request.query.get("limit", "").strip()))


@routes.post("/bots/{bot}/exports")
@page(role=Role.EDITOR)
async def start_export(request: web.Request) -> web.StreamResponse:
    """Queue the export of the view the form carries; the progress that follows it."""
    db, settings, bot_id = request.app[DATABASE], request.app[SETTINGS], request.match_info["bot"]
    posted = await request.post()
    form = _strings(posted)
    choices = Choices.posted(form)
    properties = await audience.catalog(db, bot_id)
    every = await exporting.every_column(db, bot_id)
    try:
        limit = _limit(choices.limit, settings.export_max_rows)
        spec, sort, search = _view(form, properties)
        shown = [v for v in posted.getall("shown", []) if isinstance(v, str)]
        body: dict[str, Any] = {
            "format": choices.format, "audience": spec, "limit": limit, "sort": sort,
            "columns": (every if choices.columns == "all"
                        else visible_columns(shown, every))}
        if search:
            body["search"] = search
        if choices.email:
            body["email"] = choices.email
        schemas.check("export.create", body, "the export")
        job = await exporting.create_export(
            db, settings, bot_id, body, started_by=session_of(request).principal.identity())
    except AudienceError as exc:
        if status_of(exc) >= 500:
            raise
        return render("_export_form.html", request, _form_context(
            request, posted, _whole(form.get("total", "")) or 0, properties, every, choices,
            Problem.of(exc)))
    return render("_export_progress.html", request, _progress(request, job))


@routes.get("/bots/{bot}/exports/{job}")
@page(role=Role.EDITOR)
async def export_progress(request: web.Request) -> web.StreamResponse:
    """Where the export stands; polled by the dialog until it is finished."""
    job = await jobs.get_job(request.app[DATABASE], request.match_info["job"], JobKind.EXPORT)
    if job["bot_id"] != request.match_info["bot"]:
        raise NotFound(f"no export {job['_id']!r}", job=job["_id"])
    return render("_export_progress.html", request, _progress(request, job))


def _progress(request: web.Request, job: Job) -> dict[str, Any]:
    settings = request.app[SETTINGS]
    done = job["status"] == JobStatus.DONE
    return {
        "bot": job["bot_id"], "job": job, "active": job["status"] in ACTIVE,
        "format": dict(FORMATS).get(job["spec"]["format"], job["spec"]["format"]),
        "written": job.get("rows_written", 0), "poll_ms": POLL_MS,
        "link_hours": max(1, settings.link_ttl_s // 3600),
        "download_url": export_links(settings)(job["_id"]) if done and job.get("file_id")
        else None,
    }
