"""Backend calls made by custom actions, on the user's timeline.

The one helper a Rasa bot's code may use; everything else is configuration::

    from connectors.rasa.api_calls import record_api_call

    async def run(self, dispatcher, tracker, domain):
        async with record_api_call(tracker, "crm_lookup", url) as call:
            async with session.get(url) as response:
                call.status = response.status
                order = await response.json()

It records an ``api_call`` event (name, method, URL, status, latency, and
why it failed: ``status`` for a 4xx/5xx, ``timeout``, ``connection``,
``invalid_response``) with the exception's text as ``reason``. Exceptions go
on to the action unchanged. Inside an action server with the Audience plugin
the event goes to the plugin's recorder; anywhere else (a unit test of the
action) nothing is recorded. Recording never fails the action.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from plugin.capture.recorder import Recorder
from plugin.core import events as ev
from plugin.core.events import ApiErrorKind, utc_now

from .events import SOURCE

__all__ = ["ApiCall", "record_api_call", "attach", "detach"]

log = logging.getLogger(__name__)
_REASON_MAX = 300


@dataclass(slots=True)
class _Sink:
    recorder: Recorder
    bot_id: str


_sink: _Sink | None = None  # this process's capture, set by the action-server plugin


def attach(recorder: Recorder, bot_id: str) -> None:
    """Record api calls with ``recorder`` (called when the action server starts)."""
    global _sink
    _sink = _Sink(recorder, bot_id)


def detach() -> None:
    global _sink
    _sink = None


@dataclass(slots=True)
class ApiCall:
    """What the action tells about its call: set ``status`` once there is a response,
    or call :meth:`invalid_response` when its body is unusable."""

    name: str
    url: str
    method: str = "GET"
    status: int | None = None
    error: ApiErrorKind | None = None
    reason: str | None = None

    def invalid_response(self, reason: str) -> None:
        self.error, self.reason = ApiErrorKind.INVALID_RESPONSE, reason

    @property
    def ok(self) -> bool:
        return self.error is None and (self.status is None or self.status < 400)


def _sender_of(tracker: Any) -> str:
    sender = tracker if isinstance(tracker, str) else getattr(tracker, "sender_id", None)
    if not isinstance(sender, str) or not sender:
        raise TypeError("record_api_call needs the action's tracker (or its sender_id)")
    return sender


def _failure(exc: BaseException, call: ApiCall) -> ApiErrorKind:
    status = getattr(exc, "status", None)  # aiohttp's ClientResponseError (raise_for_status)
    if isinstance(status, int) and status >= 400:
        call.status = status
        return ApiErrorKind.STATUS
    if isinstance(exc, TimeoutError):
        return ApiErrorKind.TIMEOUT
    if isinstance(exc, json.JSONDecodeError | UnicodeDecodeError | ValueError):
        return ApiErrorKind.INVALID_RESPONSE
    if isinstance(exc, ConnectionError | OSError):
        return ApiErrorKind.CONNECTION
    # Any other client error: with a response it was the response, else the connection.
    return ApiErrorKind.INVALID_RESPONSE if call.status is not None else ApiErrorKind.CONNECTION


@contextlib.asynccontextmanager
async def record_api_call(tracker: Any, name: str, url: str, *,
                          method: str = "GET") -> AsyncIterator[ApiCall]:
    """Time the block and record it as one backend call on ``tracker``'s user."""
    sender = _sender_of(tracker)
    call = ApiCall(name, url, method.upper())
    ts = utc_now()
    started = time.perf_counter()
    try:
        yield call
    except Exception as exc:
        call.error = _failure(exc, call)
        call.reason = f"{type(exc).__name__}: {exc}"[:_REASON_MAX]
        raise
    finally:
        latency_ms = round((time.perf_counter() - started) * 1000, 3)
        if call.error is None and call.status is not None and call.status >= 400:
            call.error, call.reason = ApiErrorKind.STATUS, call.reason or f"HTTP {call.status}"
        await _record(sender, call, latency_ms, ts)


async def _record(sender: str, call: ApiCall, latency_ms: float, ts: Any) -> None:
    sink = _sink
    if sink is None:
        log.debug("api call %s not recorded: no Audience capture in this process", call.name)
        return
    try:
        event = ev.api_call(sink.bot_id, sender, call.name, method=call.method, url=call.url,
                            status=call.status, latency_ms=latency_ms, ok=call.ok,
                            error=call.error, ts=ts, source=SOURCE)
        if call.reason:
            event = event.with_data({**event.data, "reason": call.reason})
        await sink.recorder.record(event)
    except Exception:
        log.exception("could not record api call %s; the action goes on", call.name)
