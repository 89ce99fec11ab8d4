"""One condition -> its MongoDB sub-query, for every operator, and every way a
condition can be wrong (including injection attempts)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from filter_schema import NOW, PROPERTIES

from plugin.audience.filters import compile_filter, operators_for
from plugin.audience.filters.conditions import MAX_TEXT_VALUE_LENGTH, MAX_VALUES
from plugin.core.errors import FilterError
from plugin.core.properties import PropertyType


def _one(prop: str, operator: str, value: Any = None, **extra: Any) -> dict[str, Any]:
    condition: dict[str, Any] = {"property": prop, "operator": operator, **extra}
    if value is not None:
        condition["value"] = value
    return compile_filter({"conditions": [condition]}, PROPERTIES, now=NOW)


def _rx(pattern: str) -> dict[str, str]:
    return {"$regex": pattern, "$options": "i"}


def _utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, us: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, us, tzinfo=UTC)


NAME = "attributes.name"
SET = {"$exists": True, "$nin": [None, ""]}

COMPILED = [
    # text
    ("name", "equals", "Ann", {NAME: _rx(r"^Ann\z")}),
    ("name", "equals", "", {NAME: _rx(r"^\z")}),
    ("name", "not_equals", "Ann", {"$nor": [{NAME: _rx(r"^Ann\z")}]}),
    ("name", "contains", "nn", {NAME: _rx("nn")}),
    ("name", "not_contains", "nn", {"$nor": [{NAME: _rx("nn")}]}),
    ("name", "starts_with", "An", {NAME: _rx("^An")}),
    ("name", "ends_with", "nn", {NAME: _rx(r"nn\z")}),
    ("name", "in", ["Ann"], {NAME: _rx(r"^Ann\z")}),
    ("name", "in", ["Ann", "Bo"], {"$or": [{NAME: _rx(r"^Ann\z")}, {NAME: _rx(r"^Bo\z")}]}),
    ("name", "not_in", ["Ann", "Bo"], {"$nor": [{NAME: _rx(r"^Ann\z")}, {NAME: _rx(r"^Bo\z")}]}),
    ("name", "is_set", None, {NAME: SET}),
    ("name", "is_not_set", None, {"$nor": [{NAME: SET}]}),
    # system text properties are top-level fields; prose ones ignore case
    ("last_user_message", "equals", "Hi", {"last_user_message": _rx(r"^Hi\z")}),
    (
        "current_message",
        "in",
        ["a", "B"],
        {"$or": [{"current_message": _rx(r"^a\z")}, {"current_message": _rx(r"^B\z")}]},
    ),
    # identifiers (PropertyDef.exact) compare exactly: plain $eq / $in, no regex
    ("channel", "equals", "web", {"channel": {"$eq": "web"}}),
    ("channel", "equals", "We.b", {"channel": {"$eq": "We.b"}}),  # no escaping: not a regex
    ("channel", "not_equals", "web", {"$nor": [{"channel": {"$eq": "web"}}]}),
    ("channel", "in", ["web", "SMS"], {"channel": {"$in": ["web", "SMS"]}}),
    ("current_module", "in", ["welcome"], {"current_module": {"$in": ["welcome"]}}),
    ("assigned_to", "not_in", ["bot"], {"$nor": [{"assigned_to": {"$in": ["bot"]}}]}),
    ("user_id", "equals", "U1", {"user_id": {"$eq": "U1"}}),
    # ... but contains/starts_with/ends_with stay case-insensitive regexes
    ("channel", "contains", "EB", {"channel": _rx("EB")}),
    ("source", "starts_with", "fb", {"source": _rx("^fb")}),
    ("current_campaign", "ends_with", "x", {"current_campaign": _rx(r"x\z")}),
    # regex metacharacters are escaped
    ("name", "contains", "a.b*c", {NAME: _rx(r"a\.b\*c")}),
    ("name", "equals", "(x)|[y]^$\\", {NAME: _rx(r"^\(x\)\|\[y\]\^\$\\\z")}),
    # email and phone: equals/in compare the normalised form exactly (stored
    # values are normalised when written), contains takes the raw text
    ("email", "equals", " Bob@Example.COM ", {"attributes.email": {"$eq": "bob@example.com"}}),
    (
        "email",
        "not_in",
        ["A@b.co"],
        {"$nor": [{"attributes.email": {"$in": ["a@b.co"]}}]},
    ),
    (
        "email",
        "in",
        ["A@b.co", "c@D.org"],
        {"attributes.email": {"$in": ["a@b.co", "c@d.org"]}},
    ),
    ("email", "not_equals", "A@b.co", {"$nor": [{"attributes.email": {"$eq": "a@b.co"}}]}),
    ("email", "contains", "Example.", {"attributes.email": _rx(r"Example\.")}),
    ("phone", "equals", "+1 (555) 123-4567", {"attributes.phone": {"$eq": "+15551234567"}}),
    (
        "phone",
        "in",
        ["555.123.4567", "+44 20 7946 0958"],
        {"attributes.phone": {"$in": ["5551234567", "+442079460958"]}},
    ),
    ("phone", "starts_with", "+1 5", {"attributes.phone": _rx(r"^\+1\ 5")}),
    # choice values are plain text, even one no longer among the choices
    ("plan", "equals", "PRO", {"attributes.plan": _rx(r"^PRO\z")}),
    ("plan", "equals", "legacy", {"attributes.plan": _rx(r"^legacy\z")}),
    # number
    ("age", "eq", 30, {"attributes.age": {"$eq": 30}}),
    ("age", "ne", 30, {"$nor": [{"attributes.age": {"$eq": 30}}]}),
    ("age", "gt", 1.5, {"attributes.age": {"$gt": 1.5}}),
    ("age", "gte", -2, {"attributes.age": {"$gte": -2}}),
    ("age", "lt", 0, {"attributes.age": {"$lt": 0}}),
    ("age", "lte", 99, {"attributes.age": {"$lte": 99}}),
    (
        "age",
        "between",
        [18, 30],
        {"$and": [{"attributes.age": {"$gte": 18}}, {"attributes.age": {"$lte": 30}}]},
    ),
    (
        "message_count",
        "between",
        [5, 5],
        {"$and": [{"message_count": {"$gte": 5}}, {"message_count": {"$lte": 5}}]},
    ),
    ("age", "is_set", None, {"attributes.age": SET}),
    ("age", "is_not_set", None, {"$nor": [{"attributes.age": SET}]}),
    # date: a bare date is a whole UTC day, a time is an instant
    ("created_at", "before", "2024-05-01", {"created_at": {"$lt": _utc(2024, 5, 1)}}),
    (
        "created_at",
        "before",
        "2024-05-01T10:30:00+02:00",
        {"created_at": {"$lt": _utc(2024, 5, 1, 8, 30)}},
    ),
    ("created_at", "after", "2024-05-01", {"created_at": {"$gte": _utc(2024, 5, 2)}}),
    ("created_at", "after", "2024-05-01T10:00:00Z", {"created_at": {"$gt": _utc(2024, 5, 1, 10)}}),
    (
        "created_at",
        "on",
        "2024-05-01",
        {
            "$and": [
                {"created_at": {"$gte": _utc(2024, 5, 1)}},
                {"created_at": {"$lt": _utc(2024, 5, 2)}},
            ]
        },
    ),
    (
        "created_at",
        "on",
        "2024-05-01T23:30:00-02:00",
        {
            "$and": [
                {"created_at": {"$gte": _utc(2024, 5, 2)}},
                {"created_at": {"$lt": _utc(2024, 5, 3)}},
            ]
        },
    ),
    (
        "birthday",
        "between",
        ["2024-05-01", "2024-05-03"],
        {
            "$and": [
                {"attributes.birthday": {"$gte": _utc(2024, 5, 1)}},
                {"attributes.birthday": {"$lt": _utc(2024, 5, 4)}},
            ]
        },
    ),
    (
        "birthday",
        "between",
        ["2024-05-01T06:00:00Z", "2024-05-01T18:00:00Z"],
        {
            "$and": [
                {"attributes.birthday": {"$gte": _utc(2024, 5, 1, 6)}},
                {"attributes.birthday": {"$lte": _utc(2024, 5, 1, 18)}},
            ]
        },
    ),
    (
        "birthday",
        "between",
        ["2024-05-01T06:00:00Z", "2024-05-01"],
        {
            "$and": [
                {"attributes.birthday": {"$gte": _utc(2024, 5, 1, 6)}},
                {"attributes.birthday": {"$lt": _utc(2024, 5, 2)}},
            ]
        },
    ),
    (
        "last_message_at",
        "within_last",
        {"amount": 3, "unit": "days"},
        {
            "$and": [
                {"last_message_at": {"$gte": _utc(2024, 5, 7, 12, 0, 0, 123000)}},
                {"last_message_at": {"$lte": NOW}},
            ]
        },
    ),
    (
        "last_message_at",
        "more_than_ago",
        {"amount": 90, "unit": "minutes"},
        {"last_message_at": {"$lt": _utc(2024, 5, 10, 10, 30, 0, 123000)}},
    ),
    (
        "last_message_at",
        "more_than_ago",
        {"amount": 2, "unit": "hours"},
        {"last_message_at": {"$lt": _utc(2024, 5, 10, 10, 0, 0, 123000)}},
    ),
    ("birthday", "is_not_set", None, {"$nor": [{"attributes.birthday": SET}]}),
    # boolean
    ("vip", "is_true", None, {"attributes.vip": {"$eq": True}}),
    ("vip", "is_false", None, {"attributes.vip": {"$eq": False}}),
    ("vip", "is_set", None, {"attributes.vip": SET}),
    ("vip", "is_not_set", None, {"$nor": [{"attributes.vip": SET}]}),
    ("birthday", "is_set", None, {"attributes.birthday": SET}),
    # list
    ("tags", "contains", "VIP", {"attributes.tags": {"$elemMatch": _rx(r"^VIP\z")}}),
    ("tags", "contains", 3, {"attributes.tags": {"$elemMatch": {"$eq": 3}}}),
    (
        "tags",
        "not_contains",
        "vip",
        {"$nor": [{"attributes.tags": {"$elemMatch": _rx(r"^vip\z")}}]},
    ),
    (
        "tags",
        "is_set",
        None,
        {"attributes.tags": {"$exists": True, "$ne": None, "$not": {"$size": 0}}},
    ),
    (
        "tags",
        "is_not_set",
        None,
        {"$nor": [{"attributes.tags": {"$exists": True, "$ne": None, "$not": {"$size": 0}}}]},
    ),
]


@pytest.mark.parametrize(("prop", "operator", "value", "expected"), COMPILED)
def test_compiles(prop: str, operator: str, value: Any, expected: dict[str, Any]) -> None:
    assert _one(prop, operator, value) == expected


def test_every_operator_of_every_type_is_covered() -> None:
    covered = {(PROPERTIES[prop].type, operator) for prop, operator, _, _ in COMPILED}
    for type_ in PropertyType:
        for operator in operators_for(type_):
            if type_ in (PropertyType.EMAIL, PropertyType.PHONE, PropertyType.CHOICE):
                type_ = PropertyType.TEXT  # same operators and shapes as text
            assert (type_, operator) in covered


def test_date_values_may_be_python_dates() -> None:
    query = _one("birthday", "on", date(2024, 5, 1))
    assert query == _one("birthday", "on", "2024-05-01")
    instant = _one("birthday", "before", datetime(2024, 5, 1, 10, 0))  # naive = UTC
    assert instant == {"attributes.birthday": {"$lt": _utc(2024, 5, 1, 10)}}


def test_now_defaults_to_the_current_time_cut_to_milliseconds() -> None:
    before = datetime.now(UTC)
    query = compile_filter(
        {
            "conditions": [
                {
                    "property": "created_at",
                    "operator": "more_than_ago",
                    "value": {"amount": 1, "unit": "minutes"},
                }
            ]
        },
        PROPERTIES,
    )
    bound = query["created_at"]["$lt"]
    assert bound.microsecond % 1000 == 0
    assert before.timestamp() - 61 <= bound.timestamp() <= datetime.now(UTC).timestamp() - 59


def test_naive_now_is_utc() -> None:
    naive = NOW.replace(tzinfo=None)
    condition = {
        "property": "created_at",
        "operator": "more_than_ago",
        "value": {"amount": 1, "unit": "days"},
    }
    assert compile_filter({"conditions": [condition]}, PROPERTIES, now=naive) == compile_filter(
        {"conditions": [condition]}, PROPERTIES, now=NOW
    )


def test_operators_for() -> None:
    assert operators_for("number") == [
        "eq",
        "ne",
        "gt",
        "gte",
        "lt",
        "lte",
        "between",
        "is_set",
        "is_not_set",
    ]
    assert operators_for(PropertyType.LIST) == ["contains", "not_contains", "is_set", "is_not_set"]
    assert operators_for("email") == operators_for("text")
    assert "within_last" in operators_for("date")
    with pytest.raises(ValueError):
        operators_for("colour")


# (condition, words the message must hold)
BAD_CONDITIONS: list[tuple[Any, str]] = [
    ("email", "must be an object with 'property', 'operator' and 'value'"),
    ({"property": "name", "operator": "is_set", "op": 1}, "unknown key 'op'"),
    ({"operator": "is_set"}, "'property' must name a property"),
    ({"property": 3, "operator": "is_set"}, "'property' must name a property"),
    ({"property": "nmae", "operator": "is_set"}, "unknown property 'nmae'; did you mean 'name'?"),
    ({"property": "$where", "operator": "is_set"}, "unknown property '$where'"),
    ({"property": "attributes.name", "operator": "is_set"}, "unknown property 'attributes.name'"),
    (
        {"property": "name", "operator": "gt", "value": 1},
        "operator 'gt' is not valid for text property 'name'; use one of: equals, not_equals, "
        "contains, not_contains, starts_with, ends_with, in, not_in, is_set, is_not_set",
    ),
    ({"property": "age", "operator": "equals", "value": 1}, "use one of: eq, ne, gt"),
    ({"property": "age"}, "operator missing or not text is not valid for number property"),
    ({"property": "tags", "operator": "in", "value": ["a"]}, "use one of: contains, not_contains"),
    ({"property": "name", "operator": "equals"}, "operator 'equals' needs a value"),
    ({"property": "name", "operator": "equals", "value": None}, "needs a value"),
    ({"property": "name", "operator": "is_set", "value": "x"}, "operator 'is_set' takes no value"),
    ({"property": "vip", "operator": "is_true", "value": True}, "'is_true' takes no value"),
    # wrong types
    ({"property": "name", "operator": "equals", "value": 5}, "expected text, got a number"),
    ({"property": "name", "operator": "contains", "value": ["a"]}, "expected text, got a list"),
    ({"property": "name", "operator": "contains", "value": ""}, "'contains' needs non-empty text"),
    ({"property": "name", "operator": "not_in", "value": "a"}, "'not_in' needs a list of text"),
    ({"property": "name", "operator": "in", "value": []}, "'in' needs 1 to 100 values, got 0"),
    ({"property": "name", "operator": "in", "value": ["a", 2]}, "value 2: expected text"),
    ({"property": "name", "operator": "equals", "value": "a\x00b"}, "must not contain NUL"),
    ({"property": "email", "operator": "equals", "value": "bob"}, "'bob' is not an email address"),
    ({"property": "email", "operator": "in", "value": ["a@b.co", "x"]}, "value 2: 'x' is not an"),
    ({"property": "phone", "operator": "equals", "value": "12"}, "'12' is not a phone number"),
    ({"property": "age", "operator": "gt", "value": "5"}, "expected a number, got text"),
    ({"property": "age", "operator": "eq", "value": True}, "expected a number, got a boolean"),
    ({"property": "age", "operator": "eq", "value": float("nan")}, "a number must be finite"),
    ({"property": "age", "operator": "lt", "value": float("inf")}, "a number must be finite"),
    ({"property": "age", "operator": "eq", "value": 2**63}, "out of range for a stored number"),
    ({"property": "age", "operator": "between", "value": [1]}, "between needs a list of two"),
    ({"property": "age", "operator": "between", "value": 5}, "between needs a list of two"),
    ({"property": "age", "operator": "between", "value": [1, "2"]}, "expected a number, got text"),
    ({"property": "age", "operator": "between", "value": [9, 1]}, "lower bound first, got [9, 1]"),
    ({"property": "birthday", "operator": "on", "value": "May 1st"}, "is not an ISO 8601 date"),
    ({"property": "birthday", "operator": "on", "value": 1714521600}, "expected a date, got a"),
    ({"property": "birthday", "operator": "on", "value": "2" * 65}, "at most 64 characters"),
    ({"property": "birthday", "operator": "after", "value": "9999-12-31"}, "out of range"),
    (
        {"property": "birthday", "operator": "between", "value": ["2024-05-02", "2024-05-01"]},
        "between needs the earlier date first",
    ),
    (
        {
            "property": "birthday",
            "operator": "between",
            "value": ["2024-05-02T00:00Z", "2024-05-01"],
        },
        "between needs the earlier date first",
    ),
    ({"property": "birthday", "operator": "within_last", "value": 3}, 'like {"amount": 7'),
    (
        {"property": "birthday", "operator": "within_last", "value": {"amount": 3}},
        'needs a period like {"amount": 7, "unit": "days"}, got an object',
    ),
    (
        {"property": "birthday", "operator": "within_last", "value": {"amount": 0, "unit": "days"}},
        "amount must be a positive whole number",
    ),
    (
        {
            "property": "birthday",
            "operator": "within_last",
            "value": {"amount": 1.5, "unit": "days"},
        },
        "amount must be a positive whole number",
    ),
    (
        {
            "property": "birthday",
            "operator": "more_than_ago",
            "value": {"amount": 1, "unit": "weeks"},
        },
        "unit must be one of: minutes, hours, days",
    ),
    (
        {
            "property": "birthday",
            "operator": "within_last",
            "value": {"amount": 36_501, "unit": "days"},
        },
        "longer than 36500 days",
    ),
    ({"property": "tags", "operator": "contains", "value": True}, "needs text or a number, got a"),
    ({"property": "tags", "operator": "contains", "value": ["a"]}, "needs text or a number"),
]


@pytest.mark.parametrize(("condition", "words"), BAD_CONDITIONS)
def test_bad_conditions_name_the_condition(condition: Any, words: str) -> None:
    ok = {"property": "name", "operator": "is_set"}
    with pytest.raises(FilterError) as caught:
        compile_filter({"conditions": [ok, condition], "expression": "1 or 2"}, PROPERTIES, now=NOW)
    error = caught.value
    assert error.message.startswith("condition 2: ")
    assert words in error.message
    assert error.details == {"condition": 2}


def test_value_length_is_bounded() -> None:
    longest = "x" * MAX_TEXT_VALUE_LENGTH
    assert _one("name", "contains", longest) == {NAME: _rx(longest)}
    with pytest.raises(FilterError, match=f"longer than {MAX_TEXT_VALUE_LENGTH} characters"):
        _one("name", "contains", longest + "x")
    with pytest.raises(FilterError, match=f"value 2: text longer than {MAX_TEXT_VALUE_LENGTH}"):
        _one("name", "in", ["a", longest + "x"])


def test_value_count_is_bounded() -> None:
    values = [str(number) for number in range(MAX_VALUES)]
    assert len(_one("name", "in", values)["$or"]) == MAX_VALUES
    with pytest.raises(FilterError, match=f"1 to {MAX_VALUES} values, got {MAX_VALUES + 1}"):
        _one("name", "in", [*values, "x"])


INJECTIONS: list[tuple[str, str, Any]] = [
    ("name", "equals", {"$where": "sleep(1000)"}),
    ("name", "equals", {"$ne": None}),
    ("name", "not_equals", {"$regex": ".*"}),
    ("name", "contains", {"$gt": ""}),
    ("name", "in", [{"$ne": None}]),
    ("name", "in", {"$exists": True}),
    ("age", "eq", {"$gt": 0}),
    ("age", "between", [{"$gt": 0}, 5]),
    ("birthday", "before", {"$gt": "2020-01-01"}),
    ("birthday", "between", [{"$exists": True}, "2024-01-01"]),
    ("birthday", "within_last", {"amount": {"$gt": 0}, "unit": "days"}),
    ("birthday", "within_last", {"amount": 1, "unit": "days", "$where": "1"}),
    ("tags", "contains", {"$elemMatch": {"$exists": True}}),
]


@pytest.mark.parametrize(("prop", "operator", "value"), INJECTIONS)
def test_operator_documents_as_values_are_rejected(prop: str, operator: str, value: Any) -> None:
    with pytest.raises(FilterError) as caught:
        _one(prop, operator, value)
    assert caught.value.details == {"condition": 1}
    assert "condition 1: " in caught.value.message


@pytest.mark.parametrize(
    ("value", "pattern"),
    [
        (".*", r"^\.\*\z"),
        ("^admin$", r"^\^admin\$\z"),
        ("a|b", r"^a\|b\z"),
        ("(?i)x", r"^\(\?i\)x\z"),
        ("\\", r"^\\\z"),
        ("x{1000}", r"^x\{1000\}\z"),
        ("z\\", r"^z\\\z"),
    ],
)
def test_regex_metacharacters_are_data(value: str, pattern: str) -> None:
    assert _one("name", "equals", value) == {NAME: _rx(pattern)}
