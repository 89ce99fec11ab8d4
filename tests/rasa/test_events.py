"""Rasa tracker events → Audience events: the table in connectors.rasa.events."""

from __future__ import annotations

import pytest

from connectors.rasa.events import MalformedEvent, parse_message, rasa_event_id, translate
from plugin.core.events import EventType

TS = 1_700_000_000.25


@pytest.mark.parametrize(("raw", "kind", "data"), [
    ({"event": "flow_started", "flow_id": "transfer"}, EventType.MODULE_ENTERED,
     {"module": "transfer"}),
    ({"event": "flow_resumed", "flow_id": "transfer"}, EventType.MODULE_ENTERED,
     {"module": "transfer"}),
    ({"event": "flow_completed", "flow_id": "transfer", "step_id": "END"}, EventType.CUSTOM,
     {"name": "module_left", "module": "transfer", "reason": "completed", "step": "END"}),
    ({"event": "flow_cancelled", "flow_id": "transfer"}, EventType.CUSTOM,
     {"name": "module_left", "module": "transfer", "reason": "cancelled"}),
    ({"event": "active_loop", "name": None}, EventType.CUSTOM,
     {"name": "module_left", "loop": True}),
    ({"event": "restart"}, EventType.CUSTOM, {"name": "restart"}),
    ({"event": "pause"}, EventType.HANDOVER, {"to": "human:queue",
                                              "reason": "paused by the bot"}),
    ({"event": "slot", "name": "email", "value": None}, EventType.CUSTOM,
     {"name": "slot_cleared", "property": "email"}),
    ({"event": "reminder", "intent": "ping", "date_time": "2030-01-01"}, EventType.CUSTOM,
     {"name": "reminder", "rasa": {"intent": "ping", "date_time": "2030-01-01"}}),
])
def test_each_kind_of_event(raw: dict[str, object], kind: EventType,
                            data: dict[str, object]) -> None:
    event = translate("b", "s", {**raw, "timestamp": TS})
    assert event is not None and event.type is kind and event.data == data
    assert event.source == "rasa" and event.ts.timestamp() == 1_700_000_000.25


def test_action_listen_is_bookkeeping() -> None:
    assert translate("b", "s", {"event": "action", "name": "action_listen",
                                "timestamp": TS}) is None


def test_ids_depend_on_what_happened_not_on_the_delivery() -> None:
    raw = {"event": "user", "text": "hi", "timestamp": TS}
    broker_copy = {"sender_id": "s", **raw, "metadata": {"model_id": "m1"}}
    assert rasa_event_id("s", raw) == rasa_event_id("s", broker_copy)
    assert rasa_event_id("s", raw) != rasa_event_id("t", raw)
    assert rasa_event_id("s", raw) != rasa_event_id("s", {**raw, "text": "ho"})
    assert rasa_event_id("s", raw) != rasa_event_id("s", {**raw, "timestamp": TS + 0.001})


@pytest.mark.parametrize(("body", "reason"), [
    (b"\xff\xfe", "not JSON"),
    (b"42", "JSON int, not an object"),
    (b'{"sender_id": ""}', "'sender_id' is missing"),
])
def test_bad_messages(body: bytes, reason: str) -> None:
    with pytest.raises(MalformedEvent, match=reason):
        parse_message(body)


@pytest.mark.parametrize(("raw", "reason"), [
    ({"timestamp": TS}, "'event' .* is missing"),
    ({"event": "user", "timestamp": "yesterday"}, "'timestamp' is missing or not a number"),
    ({"event": "user", "timestamp": float("nan")}, "'timestamp'"),
    ({"event": "slot", "name": 3, "timestamp": TS}, "'name' of a slot event"),
    ({"event": "user", "text": 5, "timestamp": TS}, "'text' of a user event"),
    ({"event": "bot", "data": {"buttons": "Yes"}, "timestamp": TS}, "data.buttons"),
    ({"event": "flow_started", "timestamp": TS}, "'flow_id' of a flow_started event"),
])
def test_bad_events(raw: dict[str, object], reason: str) -> None:
    with pytest.raises(MalformedEvent, match=reason):
        translate("b", "s", raw)
