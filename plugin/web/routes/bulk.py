"""Bulk actions from the audience list: "Broadcast", "Run workflow" and
"Update property", each a dialog that starts a job (:mod:`plugin.jobs.actions`,
the services the API's bulk routes call, with the same schemas).

Who it is for comes from the list's selection form (:mod:`plugin.web.selection`)
and is counted when the dialog opens, so the confirmation states it ("Send to
3 users"); the count is sent back with the confirmation, and if the audience
has changed meanwhile nothing starts and the new count is shown. A problem —
an empty message, too many buttons, a value of the wrong type, an unknown
module — is shown inside the dialog, named by the field's label, and nothing
starts. A started job is followed on the jobs page, where htmx is sent.

Every route here is for editors, with the CSRF token (htmx sends it).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from plugin import schemas
from plugin.access.keys import Role
from plugin.audience.property_store import PropertyStore
from plugin.core.errors import AudienceError, InvalidRequest, NotFound
from plugin.core.properties import PropertyDef, PropertyType
from plugin.http.appkeys import CONNECTORS, DATABASE
from plugin.jobs import actions as bulk
from plugin.jobs.model import Job
from plugin.web.composer import compose, previews
from plugin.web.form_errors import problem_in
from plugin.web.guard import is_htmx, page, redirect, render, session_of
from plugin.web.selection import Chosen, chosen_audience

routes = web.RouteTableDef()

ACTIONS = ("broadcast", "workflow", "update")
CLEAR = "clear"  # the "change" choice that removes the property's value
# What each property type takes, in words (the value field's hint and errors).
TYPE_HINTS = {
    PropertyType.TEXT: "Text", PropertyType.NUMBER: "A number, such as 12 or 4.5",
    PropertyType.EMAIL: "An email address", PropertyType.PHONE: "A phone number, such as "
    "+44 20 7946 0958", PropertyType.DATE: "A date, such as 2026-12-31",
    PropertyType.BOOLEAN: "Yes or no", PropertyType.CHOICE: "One of its choices",
    PropertyType.LIST: "Items separated by commas"}

Starter = Callable[[Mapping[str, str], Chosen], Awaitable[Job]]


def confirm_label(action: str, count: int) -> str:
    """The confirmation button, stating the number of users."""
    users = f"{count:,} {'user' if count == 1 else 'users'}"
    return {"broadcast": f"Send to {users}", "workflow": f"Run for {users}",
            "update": f"Update {users}"}[action]


async def _posted(request: web.Request) -> tuple[dict[str, str], list[str]]:
    """The form's fields (the last value of each), and the ticked users."""
    posted = await request.post()
    return ({k: v for k, v in posted.items() if isinstance(v, str)},
            [v for v in posted.getall("user", []) if isinstance(v, str)])


def _label(prop: PropertyDef) -> str:
    return prop.label or prop.name.replace("_", " ").capitalize()


async def _audience_context(request: web.Request, action: str, form: Mapping[str, str],
                            ticked: list[str]) -> dict[str, Any]:
    """The audience part of a dialog: who, how many, and the confirmation; or
    why no one is chosen."""
    try:
        chosen = await chosen_audience(request.app[DATABASE], request.match_info["bot"], form,
                                       ticked)
    except AudienceError as exc:
        return {"action": action, "chosen": None, "audience_problem": exc.message}
    return {"action": action, "chosen": chosen, "audience_problem": None,
            "confirm": confirm_label(action, chosen.count)}


@routes.post("/bots/{bot}/bulk/{action}/form")
@page(role=Role.EDITOR)
async def dialog_form(request: web.Request) -> web.StreamResponse:
    """A dialog's body as it opens, for the selection of the moment."""
    action, bot_id = request.match_info["action"], request.match_info["bot"]
    if action not in ACTIONS:
        raise NotFound(f"no bulk action {action!r}")
    form, ticked = await _posted(request)
    context: dict[str, Any] = {"bot": bot_id,
                               **await _audience_context(request, action, form, ticked)}
    if action == "broadcast":
        context["previews"], context["problems"] = previews(compose({}).message), []
    elif action == "workflow":
        context["modules"] = bulk.workflow_modules(request.app[CONNECTORS], bot_id)
    else:
        props = await PropertyStore.of(request.app[DATABASE]).custom_properties(bot_id)
        context["properties"] = [(p, _label(p)) for p in props.values()]
        context["prop"] = next(iter(props.values()), None)
        context["hints"] = TYPE_HINTS
    return render(f"_bulk_{action}.html", request, context)


@routes.post("/bots/{bot}/bulk/broadcast/preview")
@page(role=Role.EDITOR)
async def broadcast_preview(request: web.Request) -> web.StreamResponse:
    """The message as Web, Messenger and WhatsApp show it, as it is typed."""
    form, _ = await _posted(request)
    composed = compose(form)
    problems = [(key, why) for key, why in composed.problems if key != "text"]
    return render("_broadcast_preview.html", request, {
        "previews": previews(composed.message), "problems": problems})


@routes.get("/bots/{bot}/bulk/update/value")
@page(role=Role.EDITOR)
async def value_field(request: web.Request) -> web.StreamResponse:
    """The "Value" field for the property chosen: a list of its choices, yes
    or no, or text with a hint of what its type takes."""
    db, bot_id = request.app[DATABASE], request.match_info["bot"]
    props = await PropertyStore.of(db).custom_properties(bot_id)
    return render("_bulk_value.html", request, {
        "prop": props.get(request.query.get("property", "")), "hints": TYPE_HINTS})


async def _start(request: web.Request, action: str, start: Starter) -> web.StreamResponse:
    """Check, count, start; the jobs page, or the problem inside the dialog."""
    bot_id = request.match_info["bot"]
    form, ticked = await _posted(request)
    try:
        chosen = await chosen_audience(request.app[DATABASE], bot_id, form, ticked)
        if form.get("recipients") != str(chosen.count):
            return _problem(request, action, InvalidRequest(
                f"who this is for has changed since the dialog opened: it is now "
                f"{chosen.count:,} {'user' if chosen.count == 1 else 'users'}; check and "
                "confirm again", field="recipients"), chosen)
        job = await start(form, chosen)
    except AudienceError as exc:
        return _problem(request, action, exc)
    jobs_url = f"/bots/{bot_id}/jobs?started={job['_id']}"
    if is_htmx(request):
        return web.Response(status=204, headers={"HX-Redirect": jobs_url})
    return redirect(jobs_url)


def _problem(request: web.Request, action: str, exc: AudienceError,
             chosen: Chosen | None = None) -> web.StreamResponse:
    """The problem in the dialog's outcome region, and the new count if given."""
    if chosen is None or not is_htmx(request):
        return problem_in(request, f"#{action}-outcome", exc)
    response = render("_bulk_outcome.html", request, {
        "message": exc.message, "action": action, "chosen": chosen, "audience_problem": None,
        "confirm": confirm_label(action, chosen.count)})
    response.headers.update({"HX-Retarget": f"#{action}-outcome", "HX-Reswap": "innerHTML",
                             "HX-Push-Url": "false"})
    return response


def _started_by(request: web.Request) -> dict[str, str]:
    return session_of(request).principal.identity()


@routes.post("/bots/{bot}/bulk/broadcast")
@page(role=Role.EDITOR)
async def start_broadcast(request: web.Request) -> web.StreamResponse:
    db, bot_id = request.app[DATABASE], request.match_info["bot"]

    async def start(form: Mapping[str, str], chosen: Chosen) -> Job:
        composed = compose(form)
        if composed.first_problem is not None:
            raise InvalidRequest(composed.first_problem, field=composed.problems[0][0])
        body = {"audience": chosen.spec, "message": composed.message,
                "include_human_held": form.get("include_human_held") == "1"}
        schemas.check("broadcast.create", body, "the broadcast")
        return await bulk.broadcast(db, bot_id, body, started_by=_started_by(request))

    return await _start(request, "broadcast", start)


@routes.post("/bots/{bot}/bulk/workflow")
@page(role=Role.EDITOR)
async def start_workflow(request: web.Request) -> web.StreamResponse:
    db, bot_id = request.app[DATABASE], request.match_info["bot"]

    async def start(form: Mapping[str, str], chosen: Chosen) -> Job:
        module = form.get("module", "").strip()
        if not module:
            raise InvalidRequest("Module: choose the module to start", field="module")
        body = {"audience": chosen.spec, "module": module}
        schemas.check("workflow.run", body, "the workflow")
        try:
            return await bulk.run_workflow(db, request.app[CONNECTORS], bot_id, body,
                                           started_by=_started_by(request))
        except NotFound as exc:
            if exc.details.get("field") != "module":
                raise
            raise InvalidRequest(f"Module: the bot deployed here has no module “{module}”",
                                 field="module") from None

    return await _start(request, "workflow", start)


@routes.post("/bots/{bot}/bulk/update")
@page(role=Role.EDITOR)
async def start_update(request: web.Request) -> web.StreamResponse:
    db, bot_id = request.app[DATABASE], request.match_info["bot"]

    async def start(form: Mapping[str, str], chosen: Chosen) -> Job:
        props = await PropertyStore.of(db).custom_properties(bot_id)
        prop = props.get(form.get("property", ""))
        if prop is None:
            raise InvalidRequest("Property: choose one of the bot's properties",
                                 field="property")
        body: dict[str, Any] = {"audience": chosen.spec, "set": {}}
        if form.get("change") == CLEAR:
            body["unset"] = [prop.name]
        else:
            raw = form.get("value", "").strip()
            if not raw:
                raise InvalidRequest(f"Value: enter the new value of {_label(prop)}, or "
                                     "choose “Clear it”", field="value")
            body["set"][prop.name] = ([item.strip() for item in raw.split(",") if item.strip()]
                                      if prop.type is PropertyType.LIST else raw)
        schemas.check("bulk_update.create", body, "the update")
        try:
            return await bulk.bulk_update(db, bot_id, body, started_by=_started_by(request))
        except InvalidRequest as exc:
            errors = exc.details.get("errors")
            if not (isinstance(errors, list) and errors
                    and str(errors[0].get("path", "")).startswith("set/")):
                raise
            raise InvalidRequest(f"Value: {errors[0]['message']} ({_label(prop)} takes: "
                                 f"{TYPE_HINTS[prop.type].lower()})", field="value") from None

    return await _start(request, "update", start)
