"""Who a bulk action from the audience list is for: the users ticked, every
user the view matches ("Select all N matching"), or the segment on screen.

The list's selection form (``#bulk`` in ``_results.html``) carries the ticked
``user`` boxes, ``all_matching``, the builder's fields and the open
``segment``. They become an audience spec (:mod:`plugin.audience.spec`), the
same a bulk action of the API takes, counted now so that the confirmation
states the number before anything starts:

* users ticked (and not "all matching"): those users;
* "all matching", or nothing ticked on a segment: what the view shows — the
  segment when no condition narrows it, else the view's filter; test users
  left out as the list leaves them out (unless "Show test users" is on, or
  the filter asks about them), by a filter only when there are some;
* nothing ticked on the whole audience: a problem naming ``user``, since a
  broadcast to everyone must be asked for ("Select all N matching").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from plugin.audience import query as audience
from plugin.audience import segments
from plugin.audience.profile_store import ProfileStore
from plugin.audience.spec import audience_filter, resolve_audience
from plugin.core.errors import InvalidRequest
from plugin.db.database import Database
from plugin.web.filter_form import FilterForm
from plugin.web.views import hides_test_users, view_filter, without_test_users

__all__ = ["Chosen", "chosen_audience"]


@dataclass(frozen=True, slots=True)
class Chosen:
    spec: dict[str, Any]  # an audience spec: {"segment": id} or {"filter": {...}}
    described: str  # who, in words: "The 2 selected users"
    count: int


async def chosen_audience(db: Database, bot_id: str, form: Mapping[str, str],
                          ticked: list[str]) -> Chosen:
    """The audience the selection form describes, counted.

    Raises:
        InvalidRequest: nothing is chosen (``field`` ``user``), or the view's
            filter is wrong. NotFound: the segment does not exist.
    """
    segment_id = form.get("segment") or None
    if ticked and form.get("all_matching") != "1":
        spec: dict[str, Any] = {"filter": {"conditions": [
            {"property": "user_id", "operator": "in", "value": sorted(set(ticked))}]}}
        described = "The selected users"
    elif form.get("all_matching") == "1" or segment_id is not None:
        return await _view(db, bot_id, form, segment_id)
    else:
        raise InvalidRequest("no user is selected: tick users in the list, or “Select all "
                             "on this page” and then “Select all … matching”", field="user")
    return await _counted(db, bot_id, spec, described)


async def _counted(db: Database, bot_id: str, spec: dict[str, Any], described: str) -> Chosen:
    resolved = await resolve_audience(db, bot_id, spec)
    return Chosen(resolved.spec, described,
                  await ProfileStore.of(db).count_profiles(resolved.query))


async def _view(db: Database, bot_id: str, form: Mapping[str, str],
                segment_id: str | None) -> Chosen:
    """What the list shows, as :mod:`plugin.web.routes.audience` reads it."""
    properties = await audience.catalog(db, bot_id)
    built = FilterForm.from_query(form, properties).to_filter(properties)
    spec: dict[str, Any]
    if built is None and segment_id is not None:
        name = (await segments.get_segment(db, bot_id, segment_id))["name"]
        spec, described = {"segment": segment_id}, f"The members of segment “{name}”"
    else:
        spec = {"filter": view_filter(built, segment_id) or {"conditions": []}}
        described = ("Every user the filter matches" if built is not None
                     else "Every user of the bot")
    chosen = await _counted(db, bot_id, spec, described)
    if not hides_test_users(built, form.get("test_users") == "1"):
        return chosen
    without = await _counted(db, bot_id, {"filter": without_test_users(
        audience_filter(chosen.spec))}, f"{described}, test users left out")
    return chosen if without.count == chosen.count else without
