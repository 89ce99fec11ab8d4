"""Audience inside a Rasa action server (rasa_sdk 3.x), as a plugin.

rasa_sdk looks for one top-level package, ``rasa_sdk_plugins``, and calls its
``init_hooks(manager)``; Audience ships that package as a shim that registers
every plugin of the ``rasa_sdk`` entry-point group, this module among them.
rasa_sdk then calls :func:`attach_sanic_app_extensions` on each app it
builds (one per Sanic worker), and :func:`install` adds:

* a ``before_server_start`` listener opening the database client and a
  :class:`~plugin.capture.recorder.Recorder` in the worker (never at import: Sanic
  may run several workers), and one on ``before_server_stop`` flushing and
  closing them;
* request/response middleware recording each ``POST /webhook``: the tracker
  events not seen before (same ids as the broker consumer, so the two paths
  never duplicate), then one custom ``action_call`` event with the action,
  latency, status, outcome (4xx, 5xx and exceptions are failed calls), the
  slots it set and the messages it returned.

Deflate-compressed requests (Rasa's ``COMPRESS_ACTION_SERVER_REQUEST``) are
read too. Capture never fails an action call: every problem is logged.

Configuration is the environment: ``AUDIENCE_BOT_ID`` (required), and
``MONGODB_URI`` / ``AUDIENCE_DATA_DIR`` / ``AUDIENCE_DB_NAME`` as for
``audience serve``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
import zlib
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pluggy
from sanic import Request, Sanic
from sanic.response import BaseHTTPResponse

from plugin.capture.recorder import Recorder
from plugin.core import events as ev
from plugin.core.events import Event, utc_now
from plugin.core.settings import Settings
from plugin.db.database import Database

from . import api_calls
from .events import SOURCE, MalformedEvent, translate

__all__ = ["attach_sanic_app_extensions", "install", "ActionCapture", "BOT_ENV", "CALL_EVENT"]

log = logging.getLogger(__name__)
hookimpl = pluggy.HookimplMarker("rasa_sdk")

BOT_ENV = "AUDIENCE_BOT_ID"
CALL_EVENT = "action_call"
WEBHOOK = "/webhook"
# How many conversations a worker remembers the last captured event of; one it
# forgot sends its whole tracker again once, which ingestion deduplicates.
SEEN_SENDERS = 10_000


@hookimpl
def attach_sanic_app_extensions(app: Sanic) -> None:
    """rasa_sdk's hook: called once for every app (each worker builds its own)."""
    install(app)


def install(app: Sanic, bot_id: str | None = None) -> None:
    bot_id = bot_id or os.environ.get(BOT_ENV, "").strip()
    if not bot_id:
        log.error("%s is not set: Audience does not capture this action server", BOT_ENV)
        return
    app.ctx.audience_bot_id = bot_id
    app.ctx.audience = None
    app.register_listener(_open_capture, "before_server_start")
    app.register_listener(_close_capture, "before_server_stop")
    app.register_middleware(_call_started, "request")
    app.register_middleware(_call_finished, "response")


async def _open_capture(app: Sanic) -> None:
    try:
        db = await Database.open(Settings.from_env())
    except Exception:
        log.exception("Audience cannot open its database: this worker captures nothing")
        return
    recorder = await Recorder(db, source=SOURCE).start()
    app.ctx.audience = ActionCapture(app.ctx.audience_bot_id, db, recorder)
    api_calls.attach(recorder, app.ctx.audience_bot_id)
    log.info("Audience captures action calls for bot %s", app.ctx.audience_bot_id)


async def _close_capture(app: Sanic) -> None:
    capture: ActionCapture | None = getattr(app.ctx, "audience", None)
    if capture is None:
        return
    app.ctx.audience = None
    api_calls.detach()
    await capture.recorder.close()
    await capture.db.close()


async def _call_started(request: Request) -> None:
    if request.method == "POST" and request.path == WEBHOOK:
        request.ctx.audience_started = (time.perf_counter(), utc_now())


async def _call_finished(request: Request, response: BaseHTTPResponse) -> None:
    started = getattr(request.ctx, "audience_started", None)
    capture: ActionCapture | None = getattr(request.app.ctx, "audience", None)
    if started is None or capture is None:
        return
    latency_ms = round((time.perf_counter() - started[0]) * 1000, 3)
    try:
        call = read_action_call(request.body, request.headers.get("content-encoding"))
    except (ValueError, zlib.error) as exc:  # rasa_sdk answers such a request itself
        log.warning("Audience could not read an action call (%s); it is not recorded", exc)
        return
    try:
        await capture.record_call(call, response.status, response.body, latency_ms, started[1])
    except Exception:
        log.exception("Audience could not record a call of the action server; "
                      "the action's answer is unaffected")


def read_action_call(body: bytes, content_encoding: str | None) -> dict[str, Any]:
    """The action call Rasa posted, deflate-compressed or not."""
    if content_encoding and content_encoding.lower() == "deflate":
        body = zlib.decompress(body)
    call = json.loads(body)
    if not isinstance(call, dict):
        raise ValueError("the action call is not a JSON object")
    return call


@dataclass(slots=True)
class ActionCapture:
    """One worker's capture: the bot, its store and recorder, and per conversation
    the timestamp of the newest tracker event already recorded."""

    bot_id: str
    db: Database
    recorder: Recorder
    seen: OrderedDict[str, float] = field(default_factory=OrderedDict)

    async def record_call(self, call: Mapping[str, Any], status: int, body: bytes | None,
                          latency_ms: float, ts: datetime) -> None:
        tracker = call.get("tracker") or {}
        sender = call.get("sender_id") or tracker.get("sender_id")
        if not isinstance(sender, str) or not sender:
            log.warning("an action call without a sender_id was not recorded")
            return
        history = tracker.get("events") or []
        for event in self.new_events(sender, history):
            await self.recorder.record(event)
        await self.recorder.record(self.call_event(sender, call, history, status, body,
                                                   latency_ms, ts))

    def new_events(self, sender: str, history: Sequence[Any]) -> list[Event]:
        """The tracker's events not recorded yet (by timestamp: a tracker only grows)."""
        mark = self.seen.get(sender)
        newest = mark
        made = []
        for raw in history:
            if not isinstance(raw, Mapping):
                continue
            stamp = raw.get("timestamp")
            if isinstance(stamp, int | float) and not isinstance(stamp, bool):
                # Equal timestamps are let through: their ids make a repeat a no-op.
                if mark is not None and stamp < mark:
                    continue
                newest = stamp if newest is None else max(newest, stamp)
            try:
                event = translate(self.bot_id, sender, raw)
            except MalformedEvent as exc:
                log.warning("a tracker event of %s was not recorded: %s", sender, exc.message)
                continue
            if event is not None:
                made.append(event)
        if newest is not None:
            self.seen[sender] = newest
            self.seen.move_to_end(sender)
            while len(self.seen) > SEEN_SENDERS:
                self.seen.popitem(last=False)
        return made

    def call_event(self, sender: str, call: Mapping[str, Any], history: Sequence[Any],
                   status: int, body: bytes | None, latency_ms: float, ts: datetime) -> Event:
        action = call.get("next_action")
        answer = _json_or_none(body)
        ok = 200 <= status < 300
        data: dict[str, Any] = {"action": action if isinstance(action, str) else None,
                                "status": status, "ok": ok, "latency_ms": latency_ms}
        if ok and isinstance(answer, Mapping):
            returned = [e for e in answer.get("events") or [] if isinstance(e, Mapping)]
            data["slots"] = {e["name"]: e.get("value") for e in returned
                             if e.get("event") == "slot" and isinstance(e.get("name"), str)}
            data["messages"] = [m for m in answer.get("responses") or []
                                if isinstance(m, Mapping)]
            data["events"] = [e.get("event") for e in returned]
        elif not ok:
            reason = answer.get("error") if isinstance(answer, Mapping) else None
            data["error"] = str(reason) if reason else f"HTTP {status}"
        last = history[-1].get("timestamp") if history and isinstance(history[-1],
                                                                       Mapping) else None
        # Deterministic: the same call (same tracker, same action) counts once.
        identity = json.dumps([sender, action, len(history), last], default=str)
        event_id = "rasa-call-" + hashlib.sha256(identity.encode()).hexdigest()[:32]
        return ev.custom(self.bot_id, sender, CALL_EVENT, data, ts=ts, event_id=event_id,
                         source=SOURCE)


def _json_or_none(body: bytes | None) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
