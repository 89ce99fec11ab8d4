"""A whole filter: its top-level shape, its checked form, and the MongoDB query
it compiles to.

Pure: no I/O; ``plugin.store`` runs the query this module returns. The query
holds only the operators in :data:`ALLOWED_OPERATORS`, field paths from
:attr:`PropertyDef.field`, and user values as operands.

>>> from plugin.properties import SYSTEM_PROPERTIES
>>> compile_filter(
...     {"conditions": [{"property": "channel", "operator": "equals", "value": "web"},
...                     {"property": "message_count", "operator": "gt", "value": 3}],
...      "expression": "1 or 2"},
...     SYSTEM_PROPERTIES,
... )
{'$or': [{'channel': {'$regex': '^web\\\\z', '$options': 'i'}}, {'message_count': {'$gt': 3}}]}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from plugin.errors import FilterError
from plugin.filters.ast import And, Node, Ref
from plugin.filters.conditions import Condition, check_condition, condition_query, operators_for
from plugin.filters.expression import parse_expression
from plugin.properties import PropertyDef

__all__ = [
    "MAX_CONDITIONS",
    "ALLOWED_OPERATORS",
    "ParsedFilter",
    "parse_filter",
    "compile_filter",
    "compile_parsed",
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
        "$nin",
        "$size",
        "$elemMatch",
    }
)
_FILTER_KEYS = ("conditions", "expression")


@dataclass(frozen=True, slots=True)
class ParsedFilter:
    """A filter checked against a property schema, with ``now`` already applied."""

    conditions: tuple[Condition, ...]
    tree: Node


def utc_now() -> datetime:
    """The current UTC time at MongoDB's precision (milliseconds)."""
    return _to_millis(datetime.now(UTC))


def _to_millis(now: datetime) -> datetime:
    # Naive means UTC, as MongoDB returns it. Bounds are cut to milliseconds
    # because stored dates have no more; otherwise the database (which drops the
    # microseconds) and the evaluator would disagree at the boundary.
    now = now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def parse_filter(
    filter: object, properties: Mapping[str, PropertyDef], *, now: datetime | None = None
) -> ParsedFilter:
    """Check ``filter`` (``{"conditions": [...], "expression": str | None}``).

    ``properties`` maps every property name (system and custom) to its
    definition. ``now`` (default: the current UTC time) anchors relative date
    operators.

    Raises:
        FilterError: the shape, a condition or the expression is invalid.
    """
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
    moment = utc_now() if now is None else _to_millis(now)
    conditions = tuple(
        check_condition(raw, number, properties, moment)
        for number, raw in enumerate(raw_conditions, start=1)
    )
    return ParsedFilter(conditions, parse_expression(expression, len(conditions)))


def compile_parsed(parsed: ParsedFilter) -> dict[str, Any]:
    """The MongoDB query for an already checked filter."""
    return _query(parsed.tree, parsed.conditions)


def compile_filter(
    filter: object, properties: Mapping[str, PropertyDef], *, now: datetime | None = None
) -> dict[str, Any]:
    """Check ``filter`` and return its MongoDB query (``{}`` matches everything).

    Raises:
        FilterError: as :func:`parse_filter`.
    """
    return compile_parsed(parse_filter(filter, properties, now=now))


def _query(node: Node, conditions: tuple[Condition, ...]) -> dict[str, Any]:
    if isinstance(node, Ref):
        return condition_query(conditions[node.index])
    if not node.items:
        return {}
    operator = "$and" if isinstance(node, And) else "$or"
    return {operator: [_query(item, conditions) for item in node.items]}
