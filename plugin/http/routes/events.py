"""Event ingestion: the HTTP face of the recorder, for runtimes that post."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web

from plugin.access.keys import Role
from plugin.capture.store import CaptureStore
from plugin.core.constants import MAX_EVENTS_PER_REQUEST
from plugin.core.errors import InvalidRequest, PayloadTooLarge
from plugin.core.events import Event, EventType, new_event_id, to_utc, utc_now
from plugin.http.appkeys import DATABASE
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
    result = await CaptureStore.of(request.app[DATABASE]).ingest(events)
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
    events, problems = [], []
    received_at = utc_now()
    for i, raw in enumerate(raw_events):
        ts = received_at
        if "ts" in raw:
            try:
                ts = to_utc(datetime.fromisoformat(raw["ts"].replace("Z", "+00:00")))
            except ValueError:
                problems.append({"path": f"events/{i}/ts",
                                 "message": f"{raw['ts']!r} is not an ISO 8601 timestamp"})
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
