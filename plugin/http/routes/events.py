"""Event ingestion: the HTTP face of the recorder, for runtimes that post."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from plugin.access.keys import Role
from plugin.core.constants import MAX_EVENTS_PER_REQUEST
from plugin.core.errors import InvalidRequest, PayloadTooLarge
from plugin.core.events import Event, EventType, new_event_id, parse_timestamp, utc_now
from plugin.core.properties import InvalidValue, check_property_name
from plugin.core.storable import check_storable
from plugin.http.appkeys import GROUP_COMMIT
from plugin.http.endpoint import endpoint
from plugin.http.jsonio import json_response, read_body
from plugin.http.params import BOT_ID

routes = web.RouteTableDef()



@routes.post("/v1/bots/{bot_id}/events")
@endpoint(
    "Record a batch of interactions",
    role=Role.EDITOR,
    request="events.ingest",
    responses={202: "events.ingest.response", 400: "error", 413: "error", 503: "error"},
    params=(BOT_ID,),
    tag="capture",
)
async def ingest_events(request: web.Request) -> web.Response:
    bot_id = request.match_info["bot_id"]
    body = await read_body(request, "events.ingest")
    raw_events = body["events"]
    if len(raw_events) > MAX_EVENTS_PER_REQUEST:
        raise PayloadTooLarge(
            f"{len(raw_events)} events in one request; send at most {MAX_EVENTS_PER_REQUEST}",
            limit=MAX_EVENTS_PER_REQUEST,
        )
    events = _to_events(bot_id, raw_events)
    result = await request.app[GROUP_COMMIT].ingest(events)
    index_of = {event.id: i for i, event in enumerate(events)}
    return json_response(
        {
            "accepted": result.accepted,
            "duplicates": result.duplicates,
            "rejected": [
                {"index": index_of[r.event_id], "user_id": r.user_id, "property": r.property,
                 "reason": r.reason}
                for r in result.rejected
            ],
        },
        status=202,
    )


def _to_events(bot_id: str, raw_events: list[dict[str, Any]]) -> list[Event]:
    """The events of a batch the schema has passed, or InvalidRequest listing
    every event that cannot be stored as sent (its ``ts``, its ``data``)."""
    events, problems = [], []
    received_at = utc_now()
    for i, raw in enumerate(raw_events):
        ts = received_at
        if "ts" in raw:
            try:
                ts = parse_timestamp(raw["ts"])
            except ValueError as exc:
                problems.append({"path": f"events/{i}/ts", "message": str(exc)})
                continue
        found = _data_problems(raw, f"events/{i}/data")
        if found:
            problems += found
            continue
        events.append(Event(
            bot_id=bot_id,
            user_id=raw["user_id"],
            type=EventType(raw["type"]),
            data=raw["data"],
            id=raw.get("id") or new_event_id(),
            ts=ts,
            channel=raw.get("channel"),
            source=raw.get("source", "api"),
        ))
    if problems:
        listed = "; ".join(f"{p['path']}: {p['message']}" for p in problems[:5])
        raise InvalidRequest(f"the request body is invalid: {listed}", errors=problems)
    return events


def _data_problems(raw: dict[str, Any], path: str) -> list[dict[str, str]]:
    """Why an event's data cannot be stored: a key MongoDB would misread (the
    body reader has checked the values), or a property name that is not one."""
    try:
        check_storable(raw["data"], path)
    except InvalidRequest as exc:
        errors = exc.details["errors"]
        assert isinstance(errors, list)
        return errors
    if raw["type"] == EventType.PROPERTY_SET:
        try:
            check_property_name(raw["data"]["property"])
        except InvalidValue as exc:
            return [{"path": f"{path}/property", "message": exc.reason}]
    return []
