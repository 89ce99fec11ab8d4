"""Starting a conversation mid-flow: ``Runtime.start_module`` with the
properties the skipped turns would have collected (a scenario's ``given``)."""

from __future__ import annotations

import pytest

from plugin.core.errors import InvalidRequest
from runtime import Runtime
from tests.runtime.conftest import Backend, RecordingObserver


async def test_seeded_properties_are_stored_checked_and_reported_before_the_module_runs(
    runtime: Runtime, observer: RecordingObserver, backend: Backend
) -> None:
    result = await runtime.start_module(
        "leads", "mid-1", "quote_details", channel="whatsapp", observer=observer,
        properties={"email": "Ada@Example.com", "name": "Ada"})
    assert [m.text for m in result.messages] == ["How many seats do you need?"]
    assert result.waiting_for == "seats"
    assert observer.events == [
        ("property_set", "email", "ada@example.com"),  # normalised as an answer would be
        ("property_set", "name", "Ada"),
        ("module_entered", "quote_details"),
    ]
    await runtime.handle("leads", "mid-1", text="5", channel="whatsapp")
    done = await runtime.handle("leads", "mid-1", payload="starter", channel="whatsapp")
    # The quote call and the closing message see the seeded email.
    assert done.messages[0].text.endswith("It's on its way to ada@example.com.")
    assert backend.requests[-1]["path"] == "/quote"
    assert '"email": "ada@example.com"' in backend.requests[-1]["body"]


async def test_undeclared_properties_and_bad_values_are_refused_and_nothing_is_stored(
    runtime: Runtime, observer: RecordingObserver
) -> None:
    with pytest.raises(InvalidRequest) as refused:
        await runtime.start_module("leads", "mid-2", "quote_details", observer=observer,
                                   properties={"emial": "a@b.io", "seats": "many"})
    assert refused.value.details["errors"] == [
        {"path": "properties/emial", "message": "bot 'leads' declares no property 'emial'"},
        {"path": "properties/seats", "message": "'many' is not a number"},
    ]
    assert observer.events == []
    assert runtime.conversation("leads", "mid-2") is None
