"""Properties: the bot's property schema (name, label, type, choices, system
or custom, the filter operators each takes); defining a new custom property,
and changing a custom property's label or choices.

Looking needs a viewer; defining needs the admin role, as the JSON API's
``PUT /v1/bots/{bot}/properties`` does. A form becomes the body that route
takes, checked by the same schema and the same service
(:func:`plugin.audience.query.define_properties`): all or nothing, so a
refused form changes nothing. Its problem names the form's field.

"Add property" refuses a name already defined (the API's PUT would replace
it): a form for something new must not silently change something old.
A property's type is set when it is added; changing it is left to the API,
whose callers know what the values already stored become.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from plugin import schemas
from plugin.access.keys import Role
from plugin.audience import query as audience
from plugin.audience.bot_list import bot_name
from plugin.audience.bots import require_known_bot
from plugin.core.errors import InvalidRequest
from plugin.core.properties import SYSTEM_PROPERTIES, PropertyDef, PropertyType
from plugin.http.appkeys import DATABASE
from plugin.web.form_errors import named, problem_in
from plugin.web.guard import is_htmx, page, redirect, render, session_of

routes = web.RouteTableDef()

ADD, CHANGE = "add", "change"
FIELD_LABELS = {"name": "Name", "type": "Type", "label": "Label", "choices": "Choices"}
# The path of the one property a form sends, in the body's schema errors.
_PREFIX = "properties/0/"


def _choices(text: str) -> list[str]:
    """One choice a line; blank lines are not choices."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def _shown(prop: PropertyDef) -> dict[str, Any]:
    return {**prop.to_dict(), "raw_label": prop.label,
            "operators": audience.describe_properties({prop.name: prop})[0]["operators"]}


async def _context(request: web.Request, *, notice: str | None = None) -> dict[str, Any]:
    db, bot_id = request.app[DATABASE], request.match_info["bot"]
    properties = await audience.catalog(db, bot_id)
    return {"bot": bot_id, "bot_name": await bot_name(db, bot_id),
            "properties": [_shown(p) for p in properties.values()],
            "admin": session_of(request).principal.role is Role.ADMIN,
            "types": [str(t) for t in PropertyType], "notice": notice}


@routes.get("/bots/{bot}/properties")
@page(role=Role.VIEWER)
async def properties_page(request: web.Request) -> web.StreamResponse:
    await require_known_bot(request.app[DATABASE], request.match_info["bot"])
    return render("properties.html", request, await _context(request))


@routes.post("/bots/{bot}/properties")
@page(role=Role.ADMIN)
async def define_property(request: web.Request) -> web.StreamResponse:
    """"Add property" (``mode=add``) or "Save" in a property's "Change" dialog
    (``mode=change``: its label and choices; its type stays)."""
    db, bot_id = request.app[DATABASE], request.match_info["bot"]
    form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
    mode = CHANGE if form.get("mode") == CHANGE else ADD
    name = form.get("name", "").strip()
    target = "#alerts"
    try:
        known = await audience.catalog(db, bot_id)
        item: dict[str, Any] = {"name": name, "label": form.get("label", "").strip()}
        if mode == ADD:
            target = "#add-property-problem"
            if name in known and name not in SYSTEM_PROPERTIES:
                raise InvalidRequest(f"a property named {name!r} exists: change it with its "
                                     "Change button", field="name")
            item["type"] = form.get("type", "")
        else:
            if name not in known or known[name].system:
                raise InvalidRequest(f"no custom property {name!r} to change", field="name")
            target = f"#change-{name}-problem"  # a defined name: safe in a selector
            item["type"] = str(known[name].type)
        choices = _choices(form.get("choices", ""))
        if choices:
            item["choices"] = choices
        body = {"properties": [item]}
        schemas.check("properties.define", body, "the property")
        try:
            await audience.define_properties(db, bot_id, body["properties"])
        except InvalidRequest as exc:
            # Past the schema, the service refuses a system property's name or
            # a choice property without choices; its error names the entry only.
            field = "name" if name in SYSTEM_PROPERTIES else "choices"
            raise InvalidRequest(exc.message, **{**exc.details, "field": field}) from None
    except InvalidRequest as exc:
        return problem_in(request, target, named(exc, FIELD_LABELS, prefix=_PREFIX))
    if not is_htmx(request):
        return redirect(f"/bots/{bot_id}/properties")
    verb = "added" if mode == ADD else "changed"
    return render("_properties.html", request,
                  await _context(request, notice=f"Property {name} {verb}."))
