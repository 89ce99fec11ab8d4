"""CRM sync's pure part: entries made from captured events, signatures, retry delays."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from plugin.core import events as ev
from plugin.crm.outbox import (
    Subscription,
    WebhookEvent,
    outbox_entries,
    retry_delay,
    signature_header,
    verify_signature,
)

NOW = datetime(2026, 3, 1, tzinfo=UTC)
EVERYTHING = Subscription("hook", frozenset(WebhookEvent))


def chunk_of(*events: ev.Event) -> list[ev.Event]:
    return list(events)


def at(second: int) -> datetime:
    return NOW + timedelta(seconds=second)


def make_entries(chunk: list[ev.Event], token: int = 7, created_by: str | None = "key-1",
                 subscriptions: list[Subscription] | None = None) -> list[dict[str, object]]:
    """Entries for ``chunk``; ``created_by``: the stored key of the event whose
    write made the profile (``key-1``, the first event's, by default)."""
    created = {} if created_by is None else {("bot", "u"): created_by}
    return outbox_entries([(token, chunk)], {"bot": subscriptions or [EVERYTHING]}, created,
                          {id(e): f"key-{e.id}" for e in chunk}, NOW)


def test_a_new_profile_is_announced_first_and_its_changes_last() -> None:
    chunk = chunk_of(
        ev.user_message("bot", "u", "hi", event_id="1", ts=at(1), channel="web"),
        ev.property_set("bot", "u", "email", "a@b.co", event_id="2", ts=at(2)),
        ev.handover("bot", "u", "human:ann", event_id="3", ts=at(3)),
        ev.branch("bot", "u", "vip", event_id="4", ts=at(4)),
    )
    entries = make_entries(chunk)
    assert [e["event"] for e in entries] == ["profile.created", "message.received",
                                             "property.set", "handover", "profile.updated"]
    assert entries[-1]["data"] == {"changed": ["email", "assigned_to"]}
    assert entries[0]["data"] == {"channel": "web", "source": None}
    assert [e["seq"] for e in entries] == sorted(e["seq"] for e in entries)


def test_ids_are_the_same_for_the_same_events_and_differ_per_webhook() -> None:
    chunk = chunk_of(ev.user_message("bot", "u", "hi", event_id="1", ts=at(1)))
    assert [e["_id"] for e in make_entries(chunk)] == [e["_id"] for e in make_entries(chunk)]
    other = Subscription("other", frozenset(WebhookEvent))
    both = make_entries(chunk, subscriptions=[EVERYTHING, other])
    assert len({e["_id"] for e in both}) == 4


def test_a_chunk_that_did_not_create_the_profile_does_not_announce_it() -> None:
    chunk = chunk_of(ev.user_message("bot", "u", "hi", event_id="1", ts=at(1)))
    assert [e["event"] for e in make_entries(chunk, created_by="key-9")] == [
        "message.received"]
    assert [e["event"] for e in make_entries(chunk, created_by=None)] == ["message.received"]


def test_only_subscribed_events_and_bots_get_entries() -> None:
    chunk = chunk_of(ev.user_message("bot", "u", "hi", event_id="1", ts=at(1)),
                     ev.property_rejected("bot", "u", "age", "x", "not a number",
                                          event_id="2", ts=at(2)))
    wanted = Subscription("hook", frozenset({WebhookEvent.PROPERTY_REJECTED}))
    assert [e["event"] for e in make_entries(chunk, subscriptions=[wanted])] == [
        "property.rejected"]
    assert outbox_entries([(7, chunk)], {"another-bot": [EVERYTHING]}, {}, {}, NOW) == []


def test_a_bulk_update_changes_the_profile() -> None:
    chunk = chunk_of(ev.custom("bot", "u", "bulk_update", {"set": {"tier": "gold"},
                                                             "unset": ["city"]},
                               event_id="1", ts=at(1)))
    entries = make_entries(chunk, created_by=None)
    assert [(e["event"], e["data"]) for e in entries] == [
        ("profile.updated", {"changed": ["tier", "city"]})]


@pytest.mark.parametrize(("header", "message"), [
    (None, "no X-Audience-Signature"),
    ("", "no X-Audience-Signature"),
    ("v1=abc", "must read"),
    ("t=12,v2=abc", "must read"),
    ("t=soon,v1=abc", "must read"),
])
def test_malformed_signature_headers_are_refused(header: str | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        verify_signature("secret", header, b"{}", now=12)


def test_a_non_ascii_signature_is_a_mismatch_not_a_crash() -> None:
    with pytest.raises(ValueError, match="does not match"):
        verify_signature("secret", "t=12,v1=ù\udcff", b"{}", now=12)


def test_any_matching_v1_signature_is_enough() -> None:
    # A receiver may be sent two signatures while a secret is rotated.
    good = signature_header("secret", b"{}", 100)
    assert verify_signature("secret", f"{good},v1=deadbeef", b"{}", now=100) == 100
    assert verify_signature("secret", f"t=100,v1=deadbeef,{good[6:]}", b"{}", now=100) == 100


@given(attempt=st.integers(1, 40), base=st.floats(0.01, 10), cap=st.floats(0.01, 7200),
       seed=st.integers(0, 2**32))
def test_retry_delays_grow_then_cap_with_jitter(attempt: int, base: float, cap: float,
                                                seed: int) -> None:
    ceiling = min(cap, base * 2 ** (attempt - 1))
    delay = retry_delay(attempt, base, cap, random.Random(seed))
    assert ceiling / 2 <= delay <= ceiling
