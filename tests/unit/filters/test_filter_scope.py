"""scoped_query: the shapes it gives the common filters (flat, so that
SecantusDB can use an index) and the cases it must leave alone. That it never
changes a query's meaning is checked in test_filter_agreement."""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from filter_schema import NOW, PROPERTIES

from plugin.audience.filters import compile_filter, scoped_query


def _scoped(*conditions: dict[str, Any], expression: str | None = None) -> dict[str, Any]:
    filter = {"conditions": list(conditions), "expression": expression}
    return scoped_query(compile_filter(filter, PROPERTIES, now=NOW), "b")


def _c(prop: str, operator: str, value: Any = None) -> dict[str, Any]:
    condition: dict[str, Any] = {"property": prop, "operator": operator}
    if value is not None:
        condition["value"] = value
    return condition


def _utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


SET = {"$exists": True, "$nin": [None, ""]}

# The common filters of issue #3: one flat document on the fields of one index.
FLAT = [
    ([_c("channel", "equals", "web")], {"bot_id": "b", "channel": "web"}),
    ([_c("current_module", "equals", "welcome")], {"bot_id": "b", "current_module": "welcome"}),
    ([_c("email", "equals", "X@Y.z")], {"bot_id": "b", "attributes.email": "x@y.z"}),
    (
        [_c("phone", "in", ["+1 555 123 4567", "+44 20 7946 0958"])],
        {"bot_id": "b", "attributes.phone": {"$in": ["+15551234567", "+442079460958"]}},
    ),
    ([_c("channel", "in", ["web", "sms"])], {"bot_id": "b", "channel": {"$in": ["web", "sms"]}}),
    (
        [_c("created_at", "within_last", {"amount": 7, "unit": "days"})],
        {"bot_id": "b", "created_at": {"$gte": _utc(2024, 5, 3, 12, 0, 0, 123000), "$lte": NOW}},
    ),
    (
        [_c("last_message_at", "after", "2026-01-01")],
        {"bot_id": "b", "last_message_at": {"$gte": _utc(2026, 1, 2)}},
    ),
    (
        [_c("created_at", "on", "2024-05-01")],
        {"bot_id": "b", "created_at": {"$gte": _utc(2024, 5, 1), "$lt": _utc(2024, 5, 2)}},
    ),
    (
        [_c("channel", "equals", "web"), _c("created_at", "after", "2024-05-01T10:00:00Z")],
        {"bot_id": "b", "channel": "web", "created_at": {"$gt": _utc(2024, 5, 1, 10)}},
    ),
    # a second condition on the same system field joins its operator document
    (
        [_c("created_at", "after", "2024-05-01"), _c("created_at", "before", "2024-06-01")],
        {"bot_id": "b", "created_at": {"$gte": _utc(2024, 5, 2), "$lt": _utc(2024, 6, 1)}},
    ),
    ([_c("message_count", "eq", 3)], {"bot_id": "b", "message_count": 3}),
    ([_c("vip", "is_true")], {"bot_id": "b", "attributes.vip": True}),
    ([_c("email", "is_set")], {"bot_id": "b", "attributes.email": SET}),
    ([], {"bot_id": "b"}),
]


@pytest.mark.parametrize(("conditions", "expected"), FLAT)
def test_common_filters_are_flat(
    conditions: list[dict[str, Any]], expected: dict[str, Any]
) -> None:
    assert _scoped(*conditions) == expected


NESTED = [
    # OR and negations cannot be flattened: they sit under $and next to bot_id
    (
        [_c("channel", "equals", "web"), _c("channel", "equals", "sms")],
        "1 or 2",
        {
            "bot_id": "b",
            "$and": [{"$or": [{"channel": {"$eq": "web"}}, {"channel": {"$eq": "sms"}}]}],
        },
    ),
    (
        [_c("channel", "not_equals", "web"), _c("source", "equals", "ad")],
        None,
        {"bot_id": "b", "source": "ad", "$and": [{"$nor": [{"channel": {"$eq": "web"}}]}]},
    ),
    # bounds on a custom field (which may hold a list) stay separate predicates
    (
        [_c("age", "between", [18, 30])],
        None,
        {
            "bot_id": "b",
            "$and": [{"attributes.age": {"$gte": 18}}, {"attributes.age": {"$lte": 30}}],
        },
    ),
    (
        [_c("email", "equals", "a@b.co"), _c("email", "contains", "b.")],
        None,
        {
            "bot_id": "b",
            "$and": [
                {"attributes.email": {"$eq": "a@b.co"}},
                {"attributes.email": {"$regex": r"b\.", "$options": "i"}},
            ],
        },
    ),
    # the same operator twice on a system field: the second is kept apart
    (
        [_c("message_count", "gt", 3), _c("message_count", "gt", 1), _c("message_count", "lt", 9)],
        None,
        {
            "bot_id": "b",
            "message_count": {"$gt": 3, "$lt": 9},
            "$and": [{"message_count": {"$gt": 1}}],
        },
    ),
]


@pytest.mark.parametrize(("conditions", "expression", "expected"), NESTED)
def test_what_cannot_be_flattened_stays_under_and(
    conditions: list[dict[str, Any]], expression: str | None, expected: dict[str, Any]
) -> None:
    assert _scoped(*conditions, expression=expression) == expected


def test_a_text_regex_on_a_system_field_merges_with_other_operators() -> None:
    # Prose text still ignores case; its regex shares the field's operator document.
    assert _scoped(
        _c("last_user_message", "starts_with", "hi"), _c("last_user_message", "is_set")
    ) == {
        "bot_id": "b",
        "last_user_message": {"$regex": "^hi", "$options": "i", **SET},
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # only plain scalars become bare values: a bare null, list or document
        # (or a regex object) would mean something else
        ({"channel": {"$eq": None}}, {"bot_id": "b", "channel": {"$eq": None}}),
        ({"tags": {"$eq": ["a"]}}, {"bot_id": "b", "tags": {"$eq": ["a"]}}),
        ({"a": {"$eq": {"$ne": 1}}}, {"bot_id": "b", "a": {"$eq": {"$ne": 1}}}),
        ({"a": {"$eq": re.compile("x")}}, {"bot_id": "b", "a": {"$eq": re.compile("x")}}),
        ({"a": {"$eq": 2.5}}, {"bot_id": "b", "a": 2.5}),
        # a query that names bot_id keeps its own condition
        ({"bot_id": {"$eq": "c"}}, {"bot_id": "b", "$and": [{"bot_id": {"$eq": "c"}}]}),
        # an empty $and is an error in MongoDB: it stays one
        ({"$and": []}, {"bot_id": "b", "$and": [{"$and": []}]}),
        # several keys in one document are a conjunction too
        (
            {"$and": [{"channel": {"$eq": "web"}, "$or": [{"x": 1}]}]},
            {"bot_id": "b", "channel": "web", "$and": [{"$or": [{"x": 1}]}]},
        ),
    ],
)
def test_unusual_queries(query: dict[str, Any], expected: dict[str, Any]) -> None:
    assert scoped_query(query, "b") == expected


def test_the_query_is_not_changed_in_place() -> None:
    query = compile_filter(
        {
            "conditions": [
                _c("created_at", "after", "2024-05-01"),
                _c("created_at", "on", "2024-05-09"),
            ]
        },
        PROPERTIES,
        now=NOW,
    )
    before = copy.deepcopy(query)
    scoped = scoped_query(query, "b")
    assert query == before
    assert scoped["created_at"] == {"$gte": _utc(2024, 5, 2), "$lt": _utc(2024, 5, 10)}
    assert scoped["$and"] == [{"created_at": {"$gte": _utc(2024, 5, 9)}}]


@pytest.mark.parametrize("bot_id", [None, 3, {"$ne": None}, ["b"]])
def test_bot_id_must_be_text(bot_id: Any) -> None:
    with pytest.raises(TypeError, match="bot_id must be text"):
        scoped_query({}, bot_id)
