"""A whole filter: its top-level shape, its checked form, and the MongoDB query
it compiles to.

Pure: no I/O; ``ProfileStore`` runs the query this module returns. The query
holds only the operators in :data:`ALLOWED_OPERATORS`, field paths from
:attr:`PropertyDef.field`, and user values as operands.

>>> from plugin.core.properties import SYSTEM_PROPERTIES
>>> compile_filter(
...     {"conditions": [{"property": "channel", "operator": "equals", "value": "web"},
...                     {"property": "message_count", "operator": "gt", "value": 3}],
...      "expression": "1 or 2"},
...     SYSTEM_PROPERTIES,
... )
{'$or': [{'channel': {'$eq': 'web'}}, {'message_count': {'$gt': 3}}]}

The store runs a query for one bot through :func:`scoped_query`, which adds
the bot and flattens the query so that SecantusDB's planner can use an index.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from plugin.audience.filters.ast import And, Node, Ref
from plugin.audience.filters.conditions import (
    Condition,
    Predicate,
    check_condition,
    condition_query,
    operators_for,
)
from plugin.audience.filters.expression import parse_expression
from plugin.core.errors import FilterError
from plugin.core.events import to_utc, utc_now
from plugin.core.properties import SYSTEM_PROPERTIES, PropertyDef, PropertyType

__all__ = [
    "MAX_CONDITIONS",
    "ALLOWED_OPERATORS",
    "ParsedFilter",
    "SEGMENT_PROPERTY",
    "SegmentRef",
    "parse_filter",
    "compile_filter",
    "compile_parsed",
    "scoped_query",
    "operators_for",
    "utc_now",
]

MAX_CONDITIONS = 50
ALLOWED_OPERATORS = frozenset(
    {
        "$and",
        "$or",
        "$nor",
        "$not",
        "$regex",
        "$options",
        "$eq",
        "$ne",
        "$gt",
        "$gte",
        "$lt",
        "$lte",
        "$exists",
        "$in",
        "$nin",
        "$size",
        "$elemMatch",
    }
)
_FILTER_KEYS = ("conditions", "expression")
_CONDITION_KEYS = ("property", "operator", "value")
# A condition on this name is a segment condition, whatever the property schema says.
SEGMENT_PROPERTY = "segment"
SEGMENT_OPERATORS = ("in", "not_in")
# Dynamic segments may use segments in their filters, this many levels deep.
MAX_SEGMENT_DEPTH = 10
# Static membership: the ids on the profile's ``segments`` list.
_SEGMENTS_FIELD = PropertyDef(name="segments", type=PropertyType.LIST, system=True)
# Fields written by capture only, always scalars: bounds on them may share one
# operator document.
_SCALAR_FIELDS = frozenset(prop.field for prop in SYSTEM_PROPERTIES.values())


@dataclass(frozen=True, slots=True)
class ParsedFilter:
    """A filter checked against a property schema, with ``now`` already applied."""

    conditions: tuple[Condition, ...]
    tree: Node


@dataclass(frozen=True, slots=True)
class SegmentRef:
    """What a segment condition stands for, as the service layer resolved it.

    ``filter`` is a dynamic segment's own (unchecked) filter; ``None`` means a
    static segment, whose members carry its id in their ``segments`` list.
    """

    id: str
    name: str
    filter: Mapping[str, Any] | None = None


def parse_filter(
    filter: object,
    properties: Mapping[str, PropertyDef],
    *,
    now: datetime | None = None,
    segments: Mapping[str, SegmentRef] | None = None,
    inside: str | None = None,
) -> ParsedFilter:
    """Check ``filter`` (``{"conditions": [...], "expression": str | None}``).

    ``properties`` maps every property name (system and custom) to its
    definition. ``now`` (default: the current UTC time) anchors relative date
    operators. ``segments`` maps the segment ids a ``{"property": "segment"}``
    condition may name to what they stand for (without it, no segment
    condition is valid); ``inside`` is the id of the segment whose filter this
    is, so that a filter naming its own segment is caught as a cycle.

    Raises:
        FilterError: the shape, a condition or the expression is invalid; a
            segment is unknown, or refers back to itself.
    """
    # Bounds are cut to milliseconds because stored dates have no more; otherwise
    # the database and the evaluator would disagree at the boundary.
    moment = utc_now() if now is None else to_utc(now)
    trail = () if inside is None else (inside,)
    return _parse(filter, properties, moment, segments or {}, trail)


def _parse(
    filter: object,
    properties: Mapping[str, PropertyDef],
    moment: datetime,
    segments: Mapping[str, SegmentRef],
    trail: tuple[str, ...],
) -> ParsedFilter:
    if not isinstance(filter, Mapping):
        raise FilterError("a filter must be an object with 'conditions' and 'expression'")
    for key in filter:
        if key not in _FILTER_KEYS:
            raise FilterError(
                f"unknown key {key!r} in the filter: use 'conditions' and 'expression'", field=key
            )
    raw_conditions = filter.get("conditions", [])
    if not isinstance(raw_conditions, list | tuple):
        raise FilterError("'conditions' must be a list of conditions", field="conditions")
    if len(raw_conditions) > MAX_CONDITIONS:
        raise FilterError(
            f"a filter has at most {MAX_CONDITIONS} conditions, got {len(raw_conditions)}",
            field="conditions",
        )
    expression = filter.get("expression")
    if expression is not None and not isinstance(expression, str):
        raise FilterError("'expression' must be text or null", field="expression")
    conditions = tuple(
        _segment_condition(raw, number, properties, moment, segments, trail)
        if isinstance(raw, Mapping) and raw.get("property") == SEGMENT_PROPERTY
        else check_condition(raw, number, properties, moment)
        for number, raw in enumerate(raw_conditions, start=1)
    )
    return ParsedFilter(conditions, parse_expression(expression, len(conditions)))


def _segment_condition(
    raw: Mapping[str, Any],
    number: int,
    properties: Mapping[str, PropertyDef],
    moment: datetime,
    segments: Mapping[str, SegmentRef],
    trail: tuple[str, ...],
) -> Condition:
    """A segment condition: static membership, or a dynamic segment's filter nested."""

    def fail(reason: str) -> FilterError:
        return FilterError(f"condition {number}: {reason}", condition=number)

    for key in raw:
        if key not in _CONDITION_KEYS:
            raise fail(f"unknown key {key!r}: use 'property', 'operator' and 'value'")
    operator = raw.get("operator")
    if operator not in SEGMENT_OPERATORS:
        shown = repr(operator) if isinstance(operator, str) else "missing or not text"
        raise fail(f"operator {shown} is not valid for a segment; use one of: "
                   f"{', '.join(SEGMENT_OPERATORS)}")
    value = raw.get("value")
    if not isinstance(value, str) or not value:
        raise fail("'value' must be the id of a segment")
    ref = segments.get(value)
    if ref is None:
        raise fail(f"unknown segment {value!r}")
    negated = operator == "not_in"
    if ref.filter is None:
        return Condition(number, _SEGMENTS_FIELD, operator, Predicate.EXACT_EQUALS, ref.id,
                         negated)
    if ref.id in trail:
        raise fail(f"segment {ref.name!r} refers back to itself")
    if len(trail) >= MAX_SEGMENT_DEPTH:
        raise fail(f"segments nest more than {MAX_SEGMENT_DEPTH} levels deep")
    try:
        nested = _parse(ref.filter, properties, moment, segments, (*trail, ref.id))
    except FilterError as exc:
        raise fail(f"in segment {ref.name!r}: {exc.message}") from None
    return Condition(number, _SEGMENTS_FIELD, operator, Predicate.SEGMENT_FILTER, nested,
                     negated)


def compile_parsed(parsed: ParsedFilter) -> dict[str, Any]:
    """The MongoDB query for an already checked filter."""
    return _query(parsed.tree, parsed.conditions)


def compile_filter(
    filter: object,
    properties: Mapping[str, PropertyDef],
    *,
    now: datetime | None = None,
    segments: Mapping[str, SegmentRef] | None = None,
    inside: str | None = None,
) -> dict[str, Any]:
    """Check ``filter`` and return its MongoDB query (``{}`` matches everything).

    Raises:
        FilterError: as :func:`parse_filter`.
    """
    return compile_parsed(
        parse_filter(filter, properties, now=now, segments=segments, inside=inside))


def _query(node: Node, conditions: tuple[Condition, ...]) -> dict[str, Any]:
    if isinstance(node, Ref):
        condition = conditions[node.index]
        if condition.predicate is Predicate.SEGMENT_FILTER:
            nested = compile_parsed(condition.operand)
            return {"$nor": [nested]} if condition.negated else nested
        return condition_query(condition)
    if not node.items:
        return {}
    operator = "$and" if isinstance(node, And) else "$or"
    return {operator: [_query(item, conditions) for item in node.items]}


def scoped_query(query: dict[str, Any], bot_id: str) -> dict[str, Any]:
    """``query`` restricted to the profiles of ``bot_id``, as one flat document.

    SecantusDB uses an index only for a flat top-level document of simple
    predicates (``{"bot_id": b, "channel": "web"}``), never for the same
    conditions under ``$and``. So the conjuncts of ``query`` (nested ``$and``
    included) become top-level fields next to ``bot_id``, an ``$eq`` on a
    plain scalar becomes the bare value (see :func:`_literal`). Two
    predicates on one field share an operator document
    (``{"created_at": {"$gte": a, "$lt": b}}``) only on a system field, which
    is always a scalar: SecantusDB intersects the bounds of one operator
    document on an indexed list, which MongoDB does not. Whatever cannot be
    flattened (``$or``, ``$nor``, a custom field's second predicate, the same
    operator twice) stays under ``"$and"``. The meaning never changes.

    >>> scoped_query({"$and": [{"channel": {"$eq": "web"}},
    ...                        {"$and": [{"created_at": {"$gte": 1}},
    ...                                  {"created_at": {"$lt": 5}}]}]}, "b")
    {'bot_id': 'b', 'channel': 'web', 'created_at': {'$gte': 1, '$lt': 5}}
    """
    if not isinstance(bot_id, str):
        raise TypeError(f"bot_id must be text, got {type(bot_id).__name__}")
    by_field: dict[str, list[Any]] = {}
    others: list[dict[str, Any]] = []
    _conjuncts(query, by_field, others)
    scoped: dict[str, Any] = {"bot_id": bot_id}
    kept: list[dict[str, Any]] = []
    for field, predicates in by_field.items():
        if field == "bot_id":
            # Taken by the scope itself; a query never names it, but keep its meaning.
            kept.extend({field: predicate} for predicate in predicates)
        elif len(predicates) == 1:
            scoped[field] = predicates[0]
        elif field in _SCALAR_FIELDS:
            merged: dict[str, Any] = {}
            for predicate in predicates:
                if _is_operator_document(predicate) and not merged.keys() & predicate.keys():
                    merged.update(predicate)
                else:
                    kept.append({field: predicate})
            if merged:
                scoped[field] = merged
        else:
            kept.extend({field: predicate} for predicate in predicates)
    for field, predicate in scoped.items():
        scoped[field] = _literal(predicate)
    if kept or others:
        scoped["$and"] = kept + others
    return scoped


def _literal(predicate: Any) -> Any:
    """``{"$eq": v}`` as the bare value ``v`` where that means the same.

    SecantusDB plans ``{"bot_id": b, "channel": "web", "created_at": {...}}``
    on an index (bot_id, channel, created_at) but not the same query with
    ``{"$eq": "web"}``. Only plain scalars: a bare document or regular
    expression would mean something else.
    """
    if (
        isinstance(predicate, dict)
        and len(predicate) == 1
        and "$eq" in predicate
        and isinstance(predicate["$eq"], _LITERALS)
    ):
        return predicate["$eq"]
    return predicate


_LITERALS = (str, int, float, bool, datetime)


def _conjuncts(
    query: dict[str, Any], by_field: dict[str, list[Any]], others: list[dict[str, Any]]
) -> None:
    """Split ``query`` into the predicates it ANDs together: per field, and the rest."""
    for key, value in query.items():
        if (
            key == "$and"
            and isinstance(value, list)
            and value
            and all(isinstance(part, dict) for part in value)
        ):
            for part in value:
                _conjuncts(part, by_field, others)
        elif key.startswith("$"):
            others.append({key: value})
        else:
            by_field.setdefault(key, []).append(value)


def _is_operator_document(predicate: Any) -> bool:
    return (
        isinstance(predicate, dict)
        and bool(predicate)
        and all(isinstance(key, str) and key.startswith("$") for key in predicate)
    )
