"""The audience list: the filter builder, search, columns, sort, keyset pages.

Everything the view shows is in its URL (see :mod:`plugin.web.filter_form`),
so one GET renders it: the whole page, or for htmx the builder with the
results and the alerts out of band (``_view.html``). When the filter, sort or
a cursor is wrong, the builder comes back as submitted with an alert, and the
list and total are not sent, so they stay as they were; a whole page shows
the alert in place of the list. A value not yet typed is a quiet note, not an
alert.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from plugin.access.keys import Role
from plugin.audience import query as audience
from plugin.audience import segments
from plugin.audience.bot_list import bot_name
from plugin.audience.bots import require_known_bot
from plugin.audience.cursors import sortable
from plugin.audience.filters import operators_for
from plugin.audience.segment_store import SegmentStore
from plugin.core.errors import InvalidRequest
from plugin.core.properties import PropertyDef
from plugin.db.database import Database
from plugin.http.appkeys import DATABASE, SETTINGS
from plugin.web.filter_form import NO_VALUE, PERIOD_UNITS, FilterForm, Row
from plugin.web.guard import can_edit, is_htmx, page, render
from plugin.web.views import hides_test_users, view_filter, without_test_users

routes = web.RouteTableDef()

ROWS_PER_PAGE = (10, 25, 50, 100)
DEFAULT_ROWS = 25
DEFAULT_COLUMNS = ("name", "email", "phone", "channel", "last_message_at")
_NAME_FIELDS = ("name", "first_name", "last_name")


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    label: str
    sort: str | None  # the property to sort by, if it can be


@dataclass(frozen=True, slots=True)
class ShownRow:
    """A condition row as the builder shows it."""

    row: Row
    operators: list[str]
    kind: str  # plugin.web.filter_form.Row.input_kind
    choices: tuple[str, ...]
    # Users this condition alone matches; None when it is invalid, or not
    # counted yet (the page asks for the counts once it is shown: /matches).
    matches: int | None


def label_of(prop: PropertyDef) -> str:
    """A property as people read it: its label, else its name in words."""
    if prop.label and prop.label != prop.name:
        return prop.label
    return prop.name.replace("_", " ").capitalize()


def display_name(user: dict[str, Any]) -> str:
    attributes = user.get("attributes") or {}
    if isinstance(attributes.get("name"), str) and attributes["name"].strip():
        return str(attributes["name"])
    parts = [attributes.get(f) for f in ("first_name", "last_name")]
    joined = " ".join(str(p) for p in parts if isinstance(p, str | int) and str(p).strip())
    return joined or str(user.get("user_id", ""))


def cell(user: dict[str, Any], column: Column, properties: dict[str, PropertyDef]) -> Any:
    if column.key == "name":
        return display_name(user)
    prop = properties.get(column.key)
    if prop is None:
        return None
    if prop.system:
        return user.get(prop.name)
    return (user.get("attributes") or {}).get(prop.name)


def _columns(chosen: list[str], properties: dict[str, PropertyDef]) -> list[Column]:
    """The chosen columns: the default ones in their order, then the others as
    the catalogue orders them."""
    order = {key: n for n, key in enumerate(dict.fromkeys([*DEFAULT_COLUMNS, *properties]))}
    found = []
    for key in sorted(set(chosen), key=lambda k: order.get(k, len(order))):
        if key == "name":
            first = properties.get("first_name")
            found.append(Column("name", "Name", "first_name" if first and sortable(first)
                                else None))
        elif key in properties and key not in _NAME_FIELDS:
            prop = properties[key]
            found.append(Column(key, label_of(prop), key if sortable(prop) else None))
    return found


def _shown_row(row: Row, prop: PropertyDef | None, matches: int | None) -> ShownRow:
    if prop is None:
        return ShownRow(row, [], "none", (), matches)
    return ShownRow(row, operators_for(prop.type), row.input_kind(prop), prop.choices, matches)


def _int_choice(raw: str | None, choices: tuple[int, ...], default: int) -> int:
    return int(raw) if raw is not None and raw.isdigit() and int(raw) in choices else default


async def _count_alone(db: Database, bot_id: str, form: FilterForm, row: Row,
                       properties: dict[str, PropertyDef]) -> int | None:
    try:
        return await audience.count_audience(db, bot_id, form.single(row, properties))
    except InvalidRequest:
        return None


@routes.get("/bots/{bot}/audience")
@page(role=Role.VIEWER)
async def audience_page(request: web.Request) -> web.StreamResponse:
    db, bot_id, query = request.app[DATABASE], request.match_info["bot"], request.query
    await require_known_bot(db, bot_id)
    properties = await audience.catalog(db, bot_id)
    form = FilterForm.from_query(query, properties)
    limit = _int_choice(query.get("limit"), ROWS_PER_PAGE, DEFAULT_ROWS)
    sort = query.get("sort") or audience.DEFAULT_SORT
    search = (query.get("q") or "").strip()
    after, before = query.get("after") or None, query.get("before") or None
    chosen = query.getall("cols", []) or list(DEFAULT_COLUMNS)
    segment_id = query.get("segment") or None
    # Test users (simulated, or from the test-bot page) are hidden unless asked for.
    show_tests = query.get("test_users") == "1"
    segment = await segments.get_segment(db, bot_id, segment_id) if segment_id else None
    error: InvalidRequest | None = None
    found: audience.AudiencePage | None = None
    try:
        built = form.to_filter(properties)
        hide_tests = hides_test_users(built, show_tests)
        if (segment_id is not None or hide_tests) and built is not None:
            # The builder's own mistakes, at the positions of its own expression.
            await audience.compile_audience_filter(db, bot_id, built)
        shown = view_filter(built, segment_id)
        if hide_tests:
            shown = without_test_users(shown)
        found = await audience.query_audience(
            db, bot_id, shown, sort=sort, limit=limit,
            cursor=before or after, cursor_key=request.app[SETTINGS].cursor_key(),
            backward=before is not None, search=search or None)
    except InvalidRequest as exc:
        # The builder is shown as submitted, with the problem; the list and
        # the total stay as they were (htmx) or are left out (a whole page).
        error = exc
    shown_rows = [_shown_row(row, properties.get(row.property), None) for row in form.rows]
    state: list[tuple[str, str]] = [*form.params(), ("sort", sort), ("limit", str(limit))]
    if segment_id:
        state.append(("segment", segment_id))
    if search:
        state.append(("q", search))
    if show_tests:
        state.append(("test_users", "1"))
    if chosen != list(DEFAULT_COLUMNS):
        state += [("cols", c) for c in chosen]
    base = f"/bots/{bot_id}/audience"

    def url(*extra: tuple[str, str], drop: tuple[str, ...] = ()) -> str:
        kept = [(k, v) for k, v in state if k not in drop]
        return f"{base}?{urlencode([*kept, *extra])}"

    columns = _columns(chosen, properties)
    context = {
        "bot": bot_id, "bot_name": await bot_name(db, bot_id), "base": base,
        "properties": [(p.name, label_of(p)) for p in properties.values()],
        "rows": shown_rows, "form": form,
        "no_value": NO_VALUE, "period_units": PERIOD_UNITS, "expression": form.expression,
        "search": search, "limit": limit, "rows_per_page": ROWS_PER_PAGE, "sort": sort,
        "columns": columns, "chosen": chosen,
        "column_choices": [("name", "Name"), *[(p.name, label_of(p))
                                               for p in properties.values()
                                               if p.name not in _NAME_FIELDS]],
        "page": found, "error": error,
        "users": [(u, [cell(u, c, properties) for c in columns]) for u in
                  (found.users if found else [])],
        "next_url": url(("after", found.next)) if found and found.next else None,
        "previous_url": url(("before", found.previous)) if found and found.previous else None,
        "sort_url": lambda key: url(("sort", key if sort != key else f"-{key}"),
                                    drop=("sort",)),
        "filter_params": form.params(), "segment": segment,
        "static_segments": [s for s in await SegmentStore.of(db).list_segments(bot_id)
                            if s["kind"] == segments.STATIC],
        "matches_url": f"{base}/matches?{urlencode(form.params())}" if form.rows else None,
        "editor": can_edit(request), "show_tests": show_tests,
    }
    if is_htmx(request) and not _restoring(request):
        # A typed field updates the results and the counts, never the field
        # being typed in; a structural change (a property, an operator, a
        # row added or removed, a column) renders the builder again.
        typed = request.headers.get("HX-Target") == "results"
        response = render("_results_update.html" if typed else "_view.html", request, context)
        # The address bar gets the view's own URL: not the form as htmx sent
        # it (an "Add condition" in it would add a row on every reload).
        response.headers["HX-Push-Url"] = "false" if error is not None else url()
        if typed and error is not None:
            response.headers["HX-Reswap"] = "none"
        return response
    return render("audience.html", request, context)


def _restoring(request: web.Request) -> bool:
    """htmx asks for a whole page when it restores history it did not keep."""
    return request.headers.get("HX-History-Restore-Request") == "true"


@routes.get("/bots/{bot}/audience/matches")
@page(role=Role.VIEWER)
async def condition_matches(request: web.Request) -> web.StreamResponse:
    """How many users each condition of the builder matches alone: asked for
    by the page once it is shown, so that the list is not kept waiting for
    one count per condition."""
    db, bot_id = request.app[DATABASE], request.match_info["bot"]
    await require_known_bot(db, bot_id)
    properties = await audience.catalog(db, bot_id)
    form = FilterForm.from_query(request.query, properties)
    counts = await asyncio.gather(*(_count_alone(db, bot_id, form, row, properties)
                                    for row in form.rows))
    rows = [_shown_row(row, properties.get(row.property), count)
            for row, count in zip(form.rows, counts, strict=True)]
    return render("_matches_all.html", request, {"rows": rows, "counted": True})


@routes.get("/bots/{bot}/segments")
@page(role=Role.VIEWER)
async def segment_list(request: web.Request) -> web.StreamResponse:
    """The segments beside the list, each with its count (one count each: the
    page loads them once it is shown)."""
    db, bot_id = request.app[DATABASE], request.match_info["bot"]
    current = request.query.get("current") or None
    return render("_segments.html", request, {
        "bot": bot_id, "segments": await segments.list_segments(db, bot_id),
        "current": {"id": current} if current else None})
