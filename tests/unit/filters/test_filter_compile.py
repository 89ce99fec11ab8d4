"""Whole filters: top-level shape, the expression tree turned into $and/$or,
and the promise that only allow-listed operators ever reach the query."""

from __future__ import annotations

from typing import Any

import pytest
from filter_schema import NOW, PROPERTIES
from hypothesis import given
from hypothesis import strategies as st

from plugin.audience.filters import compile_filter, parse_filter, scoped_query
from plugin.audience.filters.compile import ALLOWED_OPERATORS, MAX_CONDITIONS
from plugin.audience.filters.conditions import Predicate, operators_for
from plugin.core.errors import FilterError

EMAIL = {"property": "email", "operator": "is_set"}
PHONE = {"property": "phone", "operator": "is_set"}
WEB = {"property": "channel", "operator": "equals", "value": "web"}
Q_EMAIL = {"attributes.email": {"$exists": True, "$nin": [None, ""]}}
Q_PHONE = {"attributes.phone": {"$exists": True, "$nin": [None, ""]}}
# channel is an identifier (PropertyDef.exact): equality is a plain $eq.
Q_WEB = {"channel": {"$eq": "web"}}


@pytest.mark.parametrize(
    ("filter", "expected"),
    [
        ({}, {}),
        ({"conditions": []}, {}),
        ({"conditions": [], "expression": None}, {}),
        ({"conditions": [], "expression": " "}, {}),
        ({"conditions": [EMAIL]}, Q_EMAIL),
        ({"conditions": [EMAIL, PHONE]}, {"$and": [Q_EMAIL, Q_PHONE]}),
        ({"conditions": [EMAIL, PHONE], "expression": "1 or 2"}, {"$or": [Q_EMAIL, Q_PHONE]}),
        ({"conditions": [EMAIL, PHONE], "expression": "B AND a"}, {"$and": [Q_PHONE, Q_EMAIL]}),
        (
            {"conditions": [EMAIL, PHONE, WEB], "expression": "1 or 2 and 3"},
            {"$or": [Q_EMAIL, {"$and": [Q_PHONE, Q_WEB]}]},
        ),
        (
            {"conditions": [EMAIL, PHONE, WEB], "expression": "(1 or 2) and 3"},
            {"$and": [{"$or": [Q_EMAIL, Q_PHONE]}, Q_WEB]},
        ),
        (
            {"conditions": (EMAIL, PHONE), "expression": "1 or 2 or 1"},
            {"$or": [Q_EMAIL, Q_PHONE, Q_EMAIL]},
        ),
    ],
)
def test_compiles_the_tree(filter: dict[str, Any], expected: dict[str, Any]) -> None:
    assert compile_filter(filter, PROPERTIES, now=NOW) == expected


@pytest.mark.parametrize(
    ("filter", "words", "details"),
    [
        (None, "a filter must be an object with 'conditions' and 'expression'", {}),
        ([EMAIL], "a filter must be an object", {}),
        ({"conditions": [EMAIL], "where": "1"}, "unknown key 'where'", {"field": "where"}),
        ({"$where": "1"}, "unknown key '$where'", {"field": "$where"}),
        ({"conditions": EMAIL}, "'conditions' must be a list", {"field": "conditions"}),
        ({"conditions": "1 and 2"}, "'conditions' must be a list", {"field": "conditions"}),
        (
            {"conditions": [EMAIL] * (MAX_CONDITIONS + 1)},
            f"at most {MAX_CONDITIONS} conditions, got {MAX_CONDITIONS + 1}",
            {"field": "conditions"},
        ),
        (
            {"conditions": [EMAIL], "expression": 1},
            "'expression' must be text or null",
            {"field": "expression"},
        ),
        (
            {"conditions": [EMAIL], "expression": ["1"]},
            "'expression' must be text",
            {"field": "expression"},
        ),
        (
            {"conditions": [EMAIL, PHONE], "expression": "1 or"},
            "but the expression ends",
            {"position": 4, "token": ""},
        ),
        (
            {"conditions": [EMAIL, PHONE], "expression": "1 or 3"},
            "condition 3 at position 5",
            {"position": 5, "token": "3"},
        ),
        (
            {"conditions": [EMAIL, PHONE], "expression": "2"},
            "condition 1 is not used",
            {"condition": 1, "conditions": [1]},
        ),
        (
            {"conditions": [EMAIL, PHONE], "expression": ""},
            "the expression is empty",
            {"position": 0, "token": ""},
        ),
        ({"expression": "1"}, "the filter has no conditions", {"position": 0, "token": "1"}),
        # Conditions are checked before the expression, in order.
        (
            {"conditions": [EMAIL, {"property": "nope", "operator": "is_set"}], "expression": "("},
            "condition 2: unknown property 'nope'",
            {"condition": 2},
        ),
    ],
)
def test_bad_filters(filter: Any, words: str, details: dict[str, object]) -> None:
    with pytest.raises(FilterError) as caught:
        compile_filter(filter, PROPERTIES, now=NOW)
    assert words in caught.value.message
    assert caught.value.details == details
    assert caught.value.to_dict()["error"] == "invalid_filter"


def test_fifty_conditions_are_allowed() -> None:
    query = compile_filter({"conditions": [EMAIL] * MAX_CONDITIONS}, PROPERTIES, now=NOW)
    assert query == {"$and": [Q_EMAIL] * MAX_CONDITIONS}


def test_parse_filter_keeps_checked_conditions() -> None:
    parsed = parse_filter({"conditions": [WEB, EMAIL], "expression": "2 or 1"}, PROPERTIES)
    assert [condition.number for condition in parsed.conditions] == [1, 2]
    assert parsed.conditions[0].prop is PROPERTIES["channel"]
    assert parsed.conditions[1].predicate is Predicate.IS_SET
    assert not parsed.conditions[1].negated


# --- only allow-listed operators ------------------------------------------------


def _operators(query: object) -> set[str]:
    """Every $-key anywhere in the query, and fail on a $-string used as a key path."""
    found: set[str] = set()
    if isinstance(query, dict):
        for key, value in query.items():
            if key.startswith("$"):
                found.add(key)
            found |= _operators(value)
    elif isinstance(query, list):
        for item in query:
            found |= _operators(item)
    return found


def _field_paths(query: object) -> set[str]:
    paths: set[str] = set()
    if isinstance(query, dict):
        for key, value in query.items():
            if not key.startswith("$"):
                paths.add(key)
            paths |= _field_paths(value)
    elif isinstance(query, list):
        for item in query:
            paths |= _field_paths(item)
    return paths


SCALARS = st.sampled_from(
    [
        None,
        True,
        0,
        -1,
        2.5,
        float("nan"),
        2**70,
        "",
        "x",
        "$where",
        ".*",
        "2024-05-01",
        "bob@x.com",
        "+15551234567",
        "days",
        "a\x00",
    ]
)
JSON = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(["$where", "$ne", "amount", "unit", "x"]), children, max_size=3
        )
    ),
    max_leaves=5,
)
FIELDS = {prop.field for prop in PROPERTIES.values()}


@st.composite
def _conditions(draw: st.DrawFn) -> dict[str, Any]:
    name = draw(st.sampled_from(sorted(PROPERTIES)))
    condition: dict[str, Any] = {
        "property": name,
        "operator": draw(st.sampled_from(operators_for(PROPERTIES[name].type))),
    }
    if draw(st.booleans()):
        condition["value"] = draw(JSON)
    return condition


@given(st.lists(_conditions(), min_size=1, max_size=4))
def test_any_input_gives_a_filter_error_or_an_allow_listed_query(
    conditions: list[dict[str, Any]],
) -> None:
    try:
        query = compile_filter({"conditions": conditions}, PROPERTIES, now=NOW)
    except FilterError as error:
        assert error.message.startswith("condition ")
        return
    assert _operators(query) <= ALLOWED_OPERATORS
    assert _field_paths(query) <= FIELDS
    scoped = scoped_query(query, "b")
    assert _operators(scoped) <= ALLOWED_OPERATORS
    assert _field_paths(scoped) <= FIELDS | {"bot_id"}


def test_the_operator_checkers_catch_a_foreign_operator() -> None:
    # Deliberately wrong input: the checkers above must see through nesting.
    query = {"$and": [{"channel": {"$eq": "web"}}, {"$where": "1"}, {"x": {"$in": [1]}}]}
    assert _operators(query) - ALLOWED_OPERATORS == {"$where"}
    assert _field_paths(query) - FIELDS == {"x"}


def test_identifier_properties_are_exact() -> None:
    exact = {name for name, prop in PROPERTIES.items() if prop.exact}
    assert exact == {
        "user_id",
        "channel",
        "source",
        "assigned_to",
        "current_module",
        "current_campaign",
    }
    # exact says how to compare, not what the API shows
    assert "exact" not in PROPERTIES["channel"].to_dict()
