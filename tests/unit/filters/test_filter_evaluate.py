"""The reference evaluator on hand-picked profiles, one case per operator and
per edge (missing property, naive datetimes, case, lists)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from filter_schema import NOW, PROPERTIES

from plugin.audience.filters import evaluate, matches, parse_filter
from plugin.core.errors import FilterError

ANN = {
    "user_id": "u1",
    "channel": "Web",
    "message_count": 7,
    "created_at": datetime(2024, 5, 1, 9, 30, tzinfo=UTC),
    "last_message_at": NOW - timedelta(hours=5),
    "attributes": {
        "name": "Ann-Marie",
        "email": "ann@example.com",
        "phone": "+15551234567",
        "plan": "pro",
        "age": 31.5,
        "birthday": datetime(1993, 2, 28),  # naive, as MongoDB returns it
        "vip": True,
        "tags": ["VIP", "beta", 3],
        "blank": "",
    },
}
EMPTY = {"user_id": "u2", "attributes": {"name": "", "tags": [], "vip": None}}
BARE = {"user_id": "u3"}  # no attributes at all


def _check(prop: str, operator: str, value: Any, profile: dict[str, Any]) -> bool:
    condition: dict[str, Any] = {"property": prop, "operator": operator}
    if value is not None:
        condition["value"] = value
    return matches({"conditions": [condition]}, PROPERTIES, profile, now=NOW)


CASES = [
    # text, case-insensitive
    ("name", "equals", "ann-marie", ANN, True),
    ("name", "equals", "Ann", ANN, False),
    ("name", "not_equals", "Ann", ANN, True),
    ("name", "not_equals", "ANN-MARIE", ANN, False),
    ("name", "not_equals", "Ann", BARE, True),
    ("name", "contains", "N-m", ANN, True),
    ("name", "contains", "x", ANN, False),
    ("name", "not_contains", "x", ANN, True),
    ("name", "not_contains", "x", BARE, True),
    ("name", "starts_with", "ANN", ANN, True),
    ("name", "starts_with", "Marie", ANN, False),
    ("name", "ends_with", "MARIE", ANN, True),
    ("name", "ends_with", "Ann", ANN, False),
    ("name", "in", ["Bo", "ann-MARIE"], ANN, True),
    ("name", "in", ["Bo", "Ann"], ANN, False),
    ("name", "not_in", ["Bo"], ANN, True),
    ("name", "not_in", ["Bo", "ann-marie"], ANN, False),
    ("name", "not_in", ["Bo"], BARE, True),
    ("name", "equals", "", EMPTY, True),
    ("name", "contains", ".", ANN, False),  # a literal dot, not "any character"
    # identifiers compare exactly (case-sensitive); contains still ignores case
    ("channel", "equals", "Web", ANN, True),
    ("channel", "equals", "WEB", ANN, False),
    ("channel", "not_equals", "WEB", ANN, True),
    ("channel", "in", ["sms", "Web"], ANN, True),
    ("channel", "in", ["sms", "web"], ANN, False),
    ("channel", "not_in", ["web"], ANN, True),
    ("channel", "contains", "WE", ANN, True),
    ("user_id", "equals", "U1", ANN, False),
    # email and phone compare by the normalised form, exactly
    ("email", "equals", "ANN@Example.com", ANN, True),
    ("email", "in", ["x@y.co", " Ann@example.COM"], ANN, True),
    ("email", "equals", "ann@example.com", {"attributes": {"email": "ANN@example.com"}}, False),
    ("phone", "equals", "+1 555-123-4567", ANN, True),
    ("phone", "not_in", ["(555) 123 4567"], ANN, True),  # no country code: another number
    ("phone", "contains", "555-123", ANN, False),  # raw text against the stored form
    ("plan", "in", ["PRO"], ANN, True),
    # presence: empty text and empty lists are not set; null is not set
    ("name", "is_set", None, ANN, True),
    ("name", "is_set", None, EMPTY, False),
    ("name", "is_not_set", None, EMPTY, True),
    ("name", "is_not_set", None, BARE, True),
    ("tags", "is_set", None, ANN, True),
    ("tags", "is_set", None, EMPTY, False),
    ("tags", "is_not_set", None, EMPTY, True),
    ("vip", "is_set", None, EMPTY, False),
    ("vip", "is_not_set", None, EMPTY, True),
    ("age", "is_set", None, ANN, True),
    ("age", "is_not_set", None, BARE, True),
    # numbers
    ("age", "eq", 31.5, ANN, True),
    ("message_count", "eq", 7.0, ANN, True),
    ("message_count", "ne", 7, ANN, False),
    ("message_count", "ne", 7, BARE, True),
    ("message_count", "gt", 7, ANN, False),
    ("message_count", "gte", 7, ANN, True),
    ("message_count", "lt", 7.5, ANN, True),
    ("message_count", "lte", 6, ANN, False),
    ("message_count", "between", [7, 7], ANN, True),
    ("message_count", "between", [8, 9], ANN, False),
    ("message_count", "gt", 0, BARE, False),
    # dates
    ("created_at", "on", "2024-05-01", ANN, True),
    ("created_at", "on", "2024-05-02", ANN, False),
    ("created_at", "on", "2024-05-01T23:00:00Z", ANN, True),
    ("created_at", "before", "2024-05-01", ANN, False),
    ("created_at", "before", "2024-05-02", ANN, True),
    ("created_at", "after", "2024-05-01", ANN, False),  # a bare date: after that whole day
    ("created_at", "after", "2024-04-30", ANN, True),
    ("created_at", "after", "2024-05-01T09:29:59Z", ANN, True),
    ("created_at", "after", "2024-05-01T09:30:00Z", ANN, False),
    ("created_at", "between", ["2024-04-01", "2024-05-01"], ANN, True),
    ("created_at", "between", ["2024-05-01T09:30:00Z", "2024-05-01T09:30:00Z"], ANN, True),
    ("created_at", "between", ["2024-05-02", "2024-06-01"], ANN, False),
    ("birthday", "on", "1993-02-28", ANN, True),
    ("birthday", "before", "1993-02-28T00:00:01+00:00", ANN, True),
    ("last_message_at", "within_last", {"amount": 6, "unit": "hours"}, ANN, True),
    ("last_message_at", "within_last", {"amount": 300, "unit": "minutes"}, ANN, True),
    ("last_message_at", "within_last", {"amount": 299, "unit": "minutes"}, ANN, False),
    ("last_message_at", "more_than_ago", {"amount": 4, "unit": "hours"}, ANN, True),
    ("last_message_at", "more_than_ago", {"amount": 1, "unit": "days"}, ANN, False),
    ("last_message_at", "more_than_ago", {"amount": 1, "unit": "days"}, BARE, False),
    # booleans
    ("vip", "is_true", None, ANN, True),
    ("vip", "is_false", None, ANN, False),
    ("vip", "is_false", None, EMPTY, False),
    ("vip", "is_false", None, BARE, False),
    # lists
    ("tags", "contains", "vip", ANN, True),
    ("tags", "contains", "be", ANN, False),
    ("tags", "contains", 3, ANN, True),
    ("tags", "contains", "3", ANN, False),
    ("tags", "not_contains", "vip", ANN, False),
    ("tags", "not_contains", "vip", EMPTY, True),
    ("tags", "not_contains", "vip", BARE, True),
]


@pytest.mark.parametrize(("prop", "operator", "value", "profile", "expected"), CASES)
def test_operator(
    prop: str, operator: str, value: Any, profile: dict[str, Any], expected: bool
) -> None:
    assert _check(prop, operator, value, profile) is expected


def test_negatives_are_complements_on_every_profile() -> None:
    pairs = [
        ("name", "equals", "not_equals", "ann-marie"),
        ("name", "contains", "not_contains", "Ann"),
        ("name", "in", "not_in", ["x", "ANN-MARIE"]),
        ("age", "eq", "ne", 31.5),
        ("tags", "contains", "not_contains", "beta"),
        ("tags", "is_set", "is_not_set", None),
        ("name", "is_set", "is_not_set", None),
    ]
    for prop, positive, negative, value in pairs:
        for profile in (ANN, EMPTY, BARE):
            assert _check(prop, positive, value, profile) != _check(prop, negative, value, profile)


def test_expression_combines_conditions() -> None:
    filter = {
        "conditions": [
            {"property": "channel", "operator": "equals", "value": "Web"},
            {"property": "message_count", "operator": "gt", "value": 10},
            {"property": "tags", "operator": "contains", "value": "vip"},
        ],
        "expression": "1 and (2 or C)",
    }
    assert matches(filter, PROPERTIES, ANN, now=NOW)
    assert not matches({**filter, "expression": "1 and 2 or 2 and 3"}, PROPERTIES, ANN, now=NOW)
    assert not matches({**filter, "expression": None}, PROPERTIES, ANN, now=NOW)
    assert matches({"conditions": []}, PROPERTIES, BARE, now=NOW)


def test_parsed_filter_is_reusable() -> None:
    parsed = parse_filter(
        {"conditions": [{"property": "user_id", "operator": "starts_with", "value": "u"}]},
        PROPERTIES,
        now=NOW,
    )
    assert [evaluate(parsed, profile) for profile in (ANN, EMPTY, BARE)] == [True, True, True]


def test_values_of_another_type_never_match() -> None:
    dirty = {"message_count": "7", "channel": 7, "attributes": {"vip": 1, "tags": "vip"}}
    assert not _check("message_count", "eq", 7, dirty)
    assert not _check("message_count", "gt", 1, dirty)
    assert not _check("channel", "contains", "7", dirty)
    assert not _check("channel", "equals", "7", dirty)  # exact, but text is not a number
    assert not _check("channel", "in", ["7"], dirty)
    assert not _check("vip", "is_true", None, dirty)
    assert not _check("tags", "contains", "vip", dirty)  # not a list
    assert _check("tags", "not_contains", "vip", dirty)


def test_scalar_tests_match_any_item_of_a_list() -> None:
    # MongoDB's rule, kept so the database and the evaluator agree on dirty data.
    dirty = {"channel": ["sms", "Web"], "message_count": [1, 10]}
    assert _check("channel", "equals", "Web", dirty)
    assert not _check("channel", "not_equals", "Web", dirty)
    assert _check("channel", "in", ["x", "sms"], dirty)
    assert _check("name", "equals", "web", {"attributes": {"name": ["sms", "Web"]}})
    assert _check("message_count", "between", [2, 9], dirty)  # 10 >= 2 and 1 <= 9


def test_aware_datetimes_in_other_zones_compare_in_utc() -> None:
    # 19:00 on April 30 in New York is 23:00 UTC, still April 30.
    eastern = datetime(2024, 4, 30, 19, 0, tzinfo=timezone(timedelta(hours=-4)))
    assert _check("created_at", "on", "2024-04-30", {"created_at": eastern})
    # 21:00 there is already May 1 in UTC.
    assert _check("created_at", "on", "2024-05-01", {"created_at": eastern + timedelta(hours=2)})


def test_attributes_that_are_not_an_object_hold_nothing() -> None:
    assert _check("name", "is_not_set", None, {"attributes": "Ann"})
    assert not _check("name", "equals", "Ann", {"attributes": ["Ann"]})


def test_invalid_filters_raise() -> None:
    with pytest.raises(FilterError, match="condition 1: unknown property 'colour'"):
        matches({"conditions": [{"property": "colour", "operator": "is_set"}]}, PROPERTIES, ANN)
