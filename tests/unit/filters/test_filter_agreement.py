"""The reference evaluator and the compiled query agree on random filters and
random profiles.

The compiled query is judged by a small MongoDB matcher written here for
exactly the operators the compiler emits (ALLOWED_OPERATORS), following
MongoDB's documented rules: a field path through a missing object is missing,
a scalar operator matches an array if any item matches, comparisons only
within a type bracket (booleans are not numbers), ``$in: [null]`` matches a
missing field, regexes only match strings, a bare value is an ``$eq``.

The same matcher checks that :func:`scoped_query` never changes a query's
meaning.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from filter_schema import NOW, PROPERTIES
from hypothesis import given, settings
from hypothesis import strategies as st

from plugin.filters import (
    And,
    Node,
    Or,
    Ref,
    compile_filter,
    format_expression,
    matches,
    scoped_query,
)
from plugin.filters.compile import ALLOWED_OPERATORS

MISSING = object()


def mongo_match(query: dict[str, Any], document: dict[str, Any]) -> bool:
    for key, condition in query.items():
        if key == "$and":
            ok = all(mongo_match(part, document) for part in condition)
        elif key == "$or":
            ok = any(mongo_match(part, document) for part in condition)
        elif key == "$nor":
            ok = not any(mongo_match(part, document) for part in condition)
        else:
            assert not key.startswith("$"), key
            ok = _field_match(condition, _resolve(document, key))
        if not ok:
            return False
    return True


def _resolve(document: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(document, dict) or part not in document:
            return MISSING
        document = document[part]
    return document


def _field_match(condition: Any, value: Any) -> bool:
    if not (isinstance(condition, dict) and condition and all(k[0] == "$" for k in condition)):
        # A bare value: only the plain scalars scoped_query writes.
        assert isinstance(condition, str | int | float | bool | datetime), condition
        return _operator("$eq", condition, {}, value)
    assert condition and all(key in ALLOWED_OPERATORS for key in condition), condition
    return all(
        _operator(op, arg, condition, value) for op, arg in condition.items() if op != "$options"
    )


def _members(value: Any) -> list[Any]:
    """What a scalar operator is tried on: the items of an array and the array itself."""
    if value is MISSING:
        return []
    return [*value, value] if isinstance(value, list) else [value]


def _operator(op: str, arg: Any, condition: dict[str, Any], value: Any) -> bool:
    if op == "$exists":
        return (value is not MISSING) is arg
    if op == "$eq":
        return any(_equal(member, arg) for member in _members(value))
    if op == "$ne":
        return not _operator("$in", [arg], condition, value)
    if op == "$nin":
        return not _operator("$in", arg, condition, value)
    if op == "$in":
        assert not any(isinstance(item, dict) for item in arg), "no operators inside $in"
        if value is MISSING:
            return None in arg
        return any(_equal(member, item) for member in _members(value) for item in arg)
    if op in ("$gt", "$gte", "$lt", "$lte"):
        return any(_compare(op, member, arg) for member in _members(value))
    if op == "$regex":
        flags = re.IGNORECASE if "i" in condition.get("$options", "") else 0
        # PCRE's \z (absolute end) is Python's \Z.
        pattern = re.compile(arg.replace(r"\z", r"\Z"), flags)
        return any(isinstance(m, str) and pattern.search(m) for m in _members(value))
    if op == "$not":
        return not _field_match(arg, value)
    if op == "$size":
        return isinstance(value, list) and len(value) == arg
    if op == "$elemMatch":
        return isinstance(value, list) and any(_field_match(arg, item) for item in value)
    raise AssertionError(f"unexpected operator {op}")


def _bracket(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, datetime):
        return "date"
    return type(value).__name__


def _utc(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _equal(member: Any, arg: Any) -> bool:
    if _bracket(member) != _bracket(arg):
        return False
    if isinstance(member, list):
        return len(member) == len(arg) and all(map(_equal, member, arg))
    return bool(_utc(member) == _utc(arg))


def _compare(op: str, member: Any, arg: Any) -> bool:
    if _bracket(member) != _bracket(arg) or _bracket(arg) not in ("number", "date"):
        return False
    left, right = _utc(member), _utc(arg)
    return bool(
        {
            "$gt": left > right,
            "$gte": left >= right,
            "$lt": left < right,
            "$lte": left <= right,
        }[op]
    )


# --- the matcher itself, on the shapes it must get right -------------------------


def test_the_matcher_follows_mongodb_rules() -> None:
    doc = {"a": [1, 10], "b": None, "s": "Web", "t": ["x", "Y"], "n": True}
    assert mongo_match({"a": {"$gte": 2}}, doc) and mongo_match({"a": {"$lte": 9}}, doc)
    assert not mongo_match({"a": {"$eq": 5}}, doc)
    assert mongo_match({"b": {"$exists": True}}, doc)
    assert not mongo_match({"b": {"$nin": [None]}}, doc)
    assert not mongo_match({"zz": {"$nin": [None]}}, doc)
    assert mongo_match({"zz": {"$ne": 3}}, doc)
    assert mongo_match({"s": {"$regex": r"^web\z", "$options": "i"}}, doc)
    assert not mongo_match({"s": {"$regex": r"^web\z"}}, doc)
    assert mongo_match({"t": {"$elemMatch": {"$regex": "^y", "$options": "i"}}}, doc)
    assert not mongo_match({"n": {"$eq": 1}}, doc)
    assert mongo_match({"$nor": [{"zz": {"$exists": True}}]}, doc)
    assert mongo_match({"a": {"$not": {"$size": 0}}}, doc)
    assert not mongo_match({"a": {"$size": 3}}, doc)
    # exact equality: case-sensitive, any item of a list, bare values too
    assert not mongo_match({"s": {"$eq": "web"}}, doc) and mongo_match({"s": {"$eq": "Web"}}, doc)
    assert mongo_match({"t": {"$in": ["Y", "z"]}}, doc)
    assert not mongo_match({"t": {"$in": ["y"]}}, doc)
    assert mongo_match({"s": "Web", "a": 10}, doc) and not mongo_match({"s": "web"}, doc)
    assert mongo_match({"a": {"$gte": 2, "$lte": 9}}, doc)  # each bound on its own item


# --- random filters over random profiles --------------------------------------------

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


def _operators(name: str) -> dict[str, list[Any]]:
    type_ = str(PROPERTIES[name].type)
    return {**VALUES.get(type_, VALUES["text"]), **PRESENCE}


def _condition(name: str, operator: str, value: Any) -> dict[str, Any]:
    condition = {"property": name, "operator": operator}
    if value is not None:
        condition["value"] = value
    return condition


def test_every_example_condition_agrees_on_every_stored_value() -> None:
    checked = 0
    for name, stored_values in FIELD_VALUES.items():
        prop = PROPERTIES[name]
        documents: list[dict[str, Any]] = [{}, {"attributes": {}}]
        for stored in stored_values:
            documents.append({name: stored} if prop.system else {"attributes": {name: stored}})
        for operator, examples in _operators(name).items():
            for value in examples:
                filter = {"conditions": [_condition(name, operator, value)]}
                query = compile_filter(filter, PROPERTIES, now=NOW)
                for document in documents:
                    expected = mongo_match(query, document)
                    assert matches(filter, PROPERTIES, document, now=NOW) == expected, (
                        filter,
                        query,
                        document,
                    )
                    checked += 1
    assert checked > 5000


@st.composite
def conditions(draw: st.DrawFn) -> dict[str, Any]:
    name = draw(st.sampled_from(sorted(FIELD_VALUES)))
    operators = _operators(name)
    operator = draw(st.sampled_from(sorted(operators)))
    return _condition(name, operator, draw(st.sampled_from(operators[operator])))


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


@settings(max_examples=300)
@given(filters(), st.lists(profiles(), min_size=1, max_size=5))
def test_evaluator_agrees_with_the_compiled_query(
    filter: dict[str, Any], documents: list[dict[str, Any]]
) -> None:
    query = compile_filter(filter, PROPERTIES, now=NOW)
    for document in documents:
        assert matches(filter, PROPERTIES, document, now=NOW) == mongo_match(query, document), (
            query,
            document,
        )


@settings(max_examples=300)
@given(conditions(), profiles())
def test_each_operator_agrees_alone(condition: dict[str, Any], document: dict[str, Any]) -> None:
    filter = {"conditions": [condition]}
    query = compile_filter(filter, PROPERTIES, now=NOW)
    assert matches(filter, PROPERTIES, document, now=NOW) == mongo_match(query, document)


# --- scoped_query keeps the meaning --------------------------------------------------

BOTS = ["b", "c", None, ["b"]]


def _scope_disagreement(
    scope: Any, query: dict[str, Any], documents: list[dict[str, Any]]
) -> dict[str, Any] | None:
    """The first document on which ``scope(query, "b")`` and "``query`` and of
    bot b" disagree, or None."""
    scoped = scope(query, "b")
    for document in documents:
        # bot_id as MongoDB reads {"bot_id": "b"}: a list holding "b" matches too.
        expected = mongo_match({"bot_id": {"$eq": "b"}}, document) and mongo_match(query, document)
        if mongo_match(scoped, document) != expected:
            return document
    return None


def _with_bot(bot: Any, profile: dict[str, Any]) -> dict[str, Any]:
    return profile if bot is None else {**profile, "bot_id": bot}


scoped_profiles = st.builds(_with_bot, st.sampled_from(BOTS), profiles())

# Conjunctions over few fields, so that bounds meet on one field: system
# (created_at, message_count: merged) and custom (birthday, age: kept apart).
BOUNDED = ["created_at", "message_count", "birthday", "age", "channel"]


@st.composite
def conjunctions(draw: st.DrawFn) -> dict[str, Any]:
    chosen = []
    for _ in range(draw(st.integers(1, 4))):
        name = draw(st.sampled_from(BOUNDED))
        operators = _operators(name)
        operator = draw(st.sampled_from(sorted(operators)))
        chosen.append(_condition(name, operator, draw(st.sampled_from(operators[operator]))))
    return {"conditions": chosen}


@settings(max_examples=300)
@given(filters() | conjunctions(), st.lists(scoped_profiles, min_size=1, max_size=6))
def test_scoped_query_means_the_query_for_one_bot(
    filter: dict[str, Any], documents: list[dict[str, Any]]
) -> None:
    query = compile_filter(filter, PROPERTIES, now=NOW)
    assert _scope_disagreement(scoped_query, query, documents) is None, scoped_query(query, "b")


def test_merged_bounds_on_a_system_field_keep_their_meaning() -> None:
    query = compile_filter(
        {
            "conditions": [
                {"property": "message_count", "operator": "between", "value": [2, 9]},
                {"property": "message_count", "operator": "gt", "value": 3},
                {"property": "created_at", "operator": "on", "value": "2024-05-01"},
            ]
        },
        PROPERTIES,
        now=NOW,
    )
    scoped = scoped_query(query, "b")
    assert scoped["message_count"] == {"$gte": 2, "$lte": 9, "$gt": 3}
    assert set(scoped["created_at"]) == {"$gte", "$lt"}
    documents = [
        _with_bot(bot, {"message_count": count, "created_at": created})
        for bot in BOTS
        for count in [*NUMBERS, 4, 9, 10, [1, 10], None]
        for created in DATES
    ]
    assert _scope_disagreement(scoped_query, query, documents) is None


def test_the_scope_checker_catches_a_wrong_scoping() -> None:
    # Deliberately wrong: a plain dict merge lets a second bound on the same
    # operator overwrite the first, and forgetting bot_id lets other bots in.
    def overwriting(query: dict[str, Any], bot_id: str) -> dict[str, Any]:
        flat: dict[str, Any] = {"bot_id": bot_id}
        for part in query["$and"]:
            for field, condition in part.items():
                flat[field] = {**flat.get(field, {}), **condition}
        return flat

    def unscoped(query: dict[str, Any], bot_id: str) -> dict[str, Any]:
        return query

    query = compile_filter(
        {
            "conditions": [
                {"property": "message_count", "operator": "gt", "value": 3},
                {"property": "message_count", "operator": "gt", "value": 1},
            ]
        },
        PROPERTIES,
        now=NOW,
    )
    documents = [{"bot_id": "b", "message_count": 2}, {"bot_id": "c", "message_count": 5}]
    assert _scope_disagreement(overwriting, query, documents) == documents[0]
    assert _scope_disagreement(unscoped, query, documents) == documents[1]
    assert _scope_disagreement(scoped_query, query, documents) is None
