"""The property schema shared by the filter tests (the system properties plus
one custom property of every type), and generators of conditions, filters and
profiles over it: clean values, and the dirty ones a database may hold."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from plugin.audience.filters import And, Node, Or, Ref, format_expression
from plugin.core.properties import SYSTEM_PROPERTIES, PropertyDef, custom_property

NOW = datetime(2024, 5, 10, 12, 0, 0, 123000, tzinfo=UTC)

PROPERTIES: Mapping[str, PropertyDef] = {
    **SYSTEM_PROPERTIES,
    **{
        prop.name: prop
        for prop in (
            custom_property("name", "text"),
            custom_property("email", "email"),
            custom_property("phone", "phone"),
            custom_property("plan", "choice", choices=("free", "pro")),
            custom_property("age", "number"),
            custom_property("birthday", "date"),
            custom_property("vip", "boolean"),
            custom_property("tags", "list"),
        )
    },
}


TEXTS = ["web", "WEB", "Web\n", "we", "w.b", "a$b", "", "ß", "SS", "ǅ", "ǆ", "İ", "i", "x\ny"]
DATES = [
    NOW,
    NOW.replace(tzinfo=None),
    NOW - timedelta(minutes=1),
    NOW - timedelta(days=1),
    NOW - timedelta(days=9),
    datetime(2024, 5, 1),
    datetime(2024, 5, 1, 23, 59, 59, 999000, tzinfo=UTC),
    datetime(2024, 5, 2, tzinfo=UTC),
]
NUMBERS = [0, 1, 2.5, -3, 3, 3.0]
DIRTY = [None, True, False, [], "3", ["", None], [1, 10], ["web", "x"]]

FIELD_VALUES: dict[str, list[Any]] = {
    "name": TEXTS + DIRTY,
    "channel": TEXTS + DIRTY,
    "current_module": ["welcome", "Welcome", "", None, ["welcome"], 7],
    # dirty imports: un-normalised values match only contains/starts_with/...
    "email": ["bob@x.com", "BOB@x.com", "ann@y.org", " bob@x.com", "", None, ["bob@x.com"]],
    "phone": ["+15551234567", "+1 555 123 4567", "555", None, ["+15551234567"]],
    "plan": ["free", "Pro", "legacy"],
    "age": NUMBERS + DIRTY,
    "message_count": NUMBERS + DIRTY,
    "birthday": DATES + DIRTY + [[NOW]],
    "created_at": DATES + DIRTY,
    "vip": [True, False, 1, 0, "true", None, [True]],
    "tags": [["VIP", "b"], ["vip"], [], None, "vip", [1, 2], [3.0], ["", "x"], [None], [True]],
}

PERIODS = [
    {"amount": 1, "unit": "days"},
    {"amount": 2, "unit": "days"},
    {"amount": 1, "unit": "minutes"},
    {"amount": 24, "unit": "hours"},
    {"amount": 9, "unit": "days"},
]
DAYS = ["2024-04-30", "2024-05-01", "2024-05-02", "2024-05-10"]
INSTANTS = [
    "2024-05-01T00:00:00Z",
    "2024-05-01T23:59:59.999Z",
    "2024-05-10T12:00:00.123Z",
    "2024-05-10T11:59:00.123Z",
]
SHORT = ["web", "W", "e", ".", "$", "b", "ss", "ß", "ǅ", "i", "y", "x\n"]
TEXT_LISTS = [["web"], ["WEB", "we"], ["", "a$b"], ["ß", "i", "x\ny"]]

# Example values per type and operator; every pair is tried on every stored value.
VALUES: dict[str, dict[str, list[Any]]] = {
    "text": {
        "equals": TEXTS,
        "not_equals": TEXTS,
        "contains": SHORT,
        "not_contains": SHORT,
        "starts_with": SHORT,
        "ends_with": SHORT,
        "in": TEXT_LISTS,
        "not_in": TEXT_LISTS,
    },
    "email": {
        "equals": ["Bob@X.com", "ann@y.org"],
        "not_equals": ["Bob@X.com"],
        "in": [["Bob@X.com", "ann@y.org"]],
        "not_in": [["ann@y.org"]],
        "contains": ["bob", "X.C"],
    },
    "phone": {
        "equals": ["+1 (555) 123-4567"],
        "not_equals": ["+1 (555) 123-4567"],
        "in": [["555 1234", "+15551234567"]],
        "not_in": [["+15551234567"]],
        "starts_with": ["+1", "55"],
    },
    "number": {
        "eq": NUMBERS,
        "ne": NUMBERS,
        "gt": NUMBERS,
        "gte": NUMBERS,
        "lt": NUMBERS,
        "lte": NUMBERS,
        "between": [[0, 1], [1, 3], [2.5, 2.5], [-3, 0], [2, 9]],
    },
    "date": {
        "before": DAYS + INSTANTS,
        "after": DAYS + INSTANTS,
        "on": DAYS + INSTANTS,
        "between": [DAYS[:2], DAYS[1:3], DAYS[2:], INSTANTS[:2], [INSTANTS[0], DAYS[1]]],
        "within_last": PERIODS,
        "more_than_ago": PERIODS,
    },
    "boolean": {"is_true": [None], "is_false": [None]},
    "list": {
        "contains": ["vip", "VIP", "x", "", 1, 3, 2.0],
        "not_contains": ["vip", 3],
    },
}
PRESENCE: dict[str, list[Any]] = {"is_set": [None], "is_not_set": [None]}


def operators_of(name: str) -> dict[str, list[Any]]:
    type_ = str(PROPERTIES[name].type)
    return {**VALUES.get(type_, VALUES["text"]), **PRESENCE}


def condition_of(name: str, operator: str, value: Any) -> dict[str, Any]:
    condition = {"property": name, "operator": operator}
    if value is not None:
        condition["value"] = value
    return condition


@st.composite
def conditions(draw: st.DrawFn) -> dict[str, Any]:
    name = draw(st.sampled_from(sorted(FIELD_VALUES)))
    operators = operators_of(name)
    operator = draw(st.sampled_from(sorted(operators)))
    return condition_of(name, operator, draw(st.sampled_from(operators[operator])))


@st.composite
def profiles(draw: st.DrawFn) -> dict[str, Any]:
    profile: dict[str, Any] = {}
    attributes: dict[str, Any] = {}
    for name, pool in FIELD_VALUES.items():
        if draw(st.booleans()):
            target = profile if PROPERTIES[name].system else attributes
            target[name] = draw(st.sampled_from(pool))
    if draw(st.integers(0, 9)):
        profile["attributes"] = attributes
    return profile


def _tree(count: int) -> st.SearchStrategy[Node]:
    refs = st.builds(Ref, st.integers(0, count - 1))
    return st.recursive(
        refs,
        lambda children: (
            st.builds(And, st.lists(children, min_size=2, max_size=3).map(tuple))
            | st.builds(Or, st.lists(children, min_size=2, max_size=3).map(tuple))
        ),
        max_leaves=6,
    )


@st.composite
def filters(draw: st.DrawFn) -> dict[str, Any]:
    chosen = draw(st.lists(conditions(), min_size=1, max_size=4))
    if draw(st.booleans()):
        return {"conditions": chosen}
    tree = draw(_tree(len(chosen)))
    # Every condition must appear in the expression.
    tree = Or((tree, And(tuple(Ref(index) for index in range(len(chosen))))))
    return {"conditions": chosen, "expression": format_expression(tree)}


