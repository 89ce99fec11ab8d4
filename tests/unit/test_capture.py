"""The pure half of capture: which profile fields each event changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from plugin.capture.update import (
    by_user,
    check_property_values,
    chunk_token,
    delta_update,
    fold,
    rebuild_update,
)
from plugin.core import events as ev
from plugin.core.properties import custom_property

T0 = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_latest_event_wins_and_messages_are_counted() -> None:
    events = [
        ev.bot_message("b", "u", "second", ts=at(2), channel="web"),
        ev.user_message("b", "u", "first", ts=at(1), channel="web"),
        ev.module_entered("b", "u", "checkout", campaign="sale", ts=at(3)),
        ev.api_call("b", "u", "crm", method="GET", url="x", status=200, latency_ms=3, ok=True,
                    ts=at(4)),
    ]
    update = delta_update(events, now=at(10), created_by="k1", last_place="p4")
    assert update["$set"] == {
        "updated_at": at(10), "last_place": "p4", "channel": "web",
        "last_user_message": "first", "last_user_message_at": at(1),
        "current_message": "second", "current_module": "checkout", "current_campaign": "sale",
    }
    assert update["$inc"] == {"message_count": 2, "rev": 1, "events_folded": 4}
    assert update["$max"] == {"last_message_at": at(2)}
    assert update["$min"] == {"created_at": at(1)}
    assert update["$setOnInsert"]["assigned_to"] == "bot"
    assert update["$setOnInsert"]["created_by"] == "k1"


def test_no_path_is_in_two_operators() -> None:
    events = [ev.handover("b", "u", "human:jo", ts=at(1)),
              ev.property_set("b", "u", "x", 1, ts=at(2)),
              ev.user_message("b", "u", "hi", channel="whatsapp", ts=at(3))]
    update = delta_update(events, now=at(4), created_by="k", last_place="p")
    paths = [path for op in update.values() for path in op]
    assert len(paths) == len(set(paths)), paths
    assert update["$set"]["assigned_to"] == "human:jo"


def test_non_message_events_leave_message_fields_alone() -> None:
    update = delta_update([ev.branch("b", "u", "vip", ts=at(1))], now=at(2), created_by="k",
                          last_place="p1")
    assert update["$inc"] == {"rev": 1, "events_folded": 1} and "$max" not in update
    assert update["$set"] == {"updated_at": at(2), "last_place": "p1"}


def test_property_values_are_checked_against_the_bots_schema() -> None:
    known = {"b": {"age": custom_property("age", "number")}}
    events = [
        ev.property_set("b", "u", "age", "7"),
        ev.property_set("b", "u", "age", "seven"),
        ev.property_set("b", "u", "channel", "sms"),
        ev.property_set("b", "u", "likes", ["tea"]),
        ev.property_rejected("b", "u", "email", "x", "the bot said no"),
    ]
    checked, rejections, new_defs = check_property_values(events, known)
    assert [e.data.get("value") for e in checked] == [7, "seven", "sms", ["tea"], "x"]
    assert [(r.property, r.reason) for r in rejections] == [
        ("age", "'seven' is not a number"),
        ("channel", "'channel' is a system property; the bot cannot set it"),
    ]
    assert [bool(e.data.get("rejected")) for e in checked] == [False, True, True, False, True]
    assert new_defs == [("b", custom_property("likes", "list"))]
    rejected_update = delta_update(checked[1:3], now=at(1), created_by="k", last_place="p")
    assert not any(path.startswith("attributes.") for path in rejected_update["$set"])


def test_groups_are_per_user_in_time_order_and_tokens_reproducible() -> None:
    many = [ev.user_message("b", "chatty", f"m{i}", ts=at(i)) for i in range(120)]
    other = [ev.user_message("b", "quiet", "hi", ts=at(5))]
    groups = by_user(list(reversed(many)) + other)
    assert [e.data["text"] for e in groups[("b", "chatty")][:3]] == ["m0", "m1", "m2"]
    assert groups[("b", "quiet")] == other
    assert chunk_token(by_user(many)[("b", "chatty")]) == chunk_token(groups[("b", "chatty")])
    assert chunk_token(many[:50]) != chunk_token(many[:49])


def test_events_of_one_millisecond_keep_their_order() -> None:
    same = at(1)
    events = [ev.bot_message("b", "u", f"m{i}", ts=same) for i in range(30)]
    assert [e.data["text"] for e in by_user(events)[("b", "u")]] == [f"m{i}" for i in range(30)]
    update = delta_update(events, now=at(2), created_by="k", last_place="p")
    assert update["$set"]["current_message"] == "m29"


def test_a_fold_is_the_same_whatever_the_grouping() -> None:
    events = [ev.user_message("b", "u", "hi", ts=at(1), channel="web"),
              ev.property_set("b", "u", "email", "a@b.co", ts=at(2)),
              ev.bot_message("b", "u", "hello", ts=at(3)),
              ev.custom("b", "u", "bulk_update", {"set": {"tier": "gold"}, "unset": ["email"]},
                        ts=at(4)),
              ev.handover("b", "u", "human:jo", ts=at(5))]
    whole = fold(events).fields()
    assert whole == {"channel": "web", "last_user_message": "hi",
                     "last_user_message_at": at(1), "current_message": "hello",
                     "assigned_to": "human:jo", "attributes": {"tier": "gold"},
                     "message_count": 2, "last_message_at": at(3), "created_at": at(1)}
    assert fold(list(reversed(events))).fields() == whole


def test_a_rebuild_sets_every_derived_field_and_a_delta_unsets_what_a_bulk_update_removed(
        ) -> None:
    events = [ev.property_set("b", "u", "email", "a@b.co", ts=at(1)),
              ev.custom("b", "u", "bulk_update", {"set": {}, "unset": ["email"]}, ts=at(2))]
    rebuilt = rebuild_update(events, now=at(3), origin=events[0], created_by="k",
                             last_place="p2")
    assert rebuilt["$set"]["attributes"] == {} and rebuilt["$set"]["message_count"] == 0
    assert rebuilt["$set"]["last_place"] == "p2" and rebuilt["$inc"] == {"rev": 1}
    delta = delta_update(events, now=at(3), created_by="k", last_place="p")
    assert delta["$unset"] == {"attributes.email": ""}
    assert "attributes.email" not in delta["$set"]


def test_a_bulk_update_event_is_checked_like_property_sets() -> None:
    """A client may post a bulk_update event itself: its values meet the same
    types as property sets, and system properties stay out of reach."""
    known = {"b": {"age": custom_property("age", "number")}}
    event = ev.custom("b", "u", ev.BULK_UPDATE,
                      {"set": {"age": "seven", "tier": "gold", "channel": "sms"},
                       "unset": ["message_count", "age"]})
    [checked], rejections, new_defs = check_property_values([event], known)
    assert checked.data["set"] == {"tier": "gold"}
    assert checked.data["unset"] == ["age"]
    assert [(r.property, r.reason) for r in rejections] == [
        ("age", "'seven' is not a number"),
        ("channel", "'channel' is a system property; the bot cannot set it"),
        ("message_count", "'message_count' is a system property; it cannot be unset"),
    ]
    assert new_defs == [("b", custom_property("tier", "text"))]
