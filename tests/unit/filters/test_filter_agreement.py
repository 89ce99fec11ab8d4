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
from datetime import UTC, datetime
from typing import Any

from filter_schema import (
    DATES,
    FIELD_VALUES,
    NOW,
    NUMBERS,
    PROPERTIES,
    condition_of,
    conditions,
    filters,
    operators_of,
    profiles,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from plugin.audience.filters import (
    compile_filter,
    matches,
    scoped_query,
)
from plugin.audience.filters.compile import ALLOWED_OPERATORS

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

def test_every_example_condition_agrees_on_every_stored_value() -> None:
    checked = 0
    for name, stored_values in FIELD_VALUES.items():
        prop = PROPERTIES[name]
        documents: list[dict[str, Any]] = [{}, {"attributes": {}}]
        for stored in stored_values:
            documents.append({name: stored} if prop.system else {"attributes": {name: stored}})
        for operator, examples in operators_of(name).items():
            for value in examples:
                filter = {"conditions": [condition_of(name, operator, value)]}
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
        operators = operators_of(name)
        operator = draw(st.sampled_from(sorted(operators)))
        chosen.append(condition_of(name, operator, draw(st.sampled_from(operators[operator]))))
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
