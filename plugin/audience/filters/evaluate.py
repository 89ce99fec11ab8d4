"""The reference evaluator: whether one profile document matches a filter,
decided in Python with the same semantics as the compiled MongoDB query.

It interprets the checked conditions and the expression tree directly and
never looks at the compiled query, so tests can hold the database's answer
against it; the bot runtime uses it for branch conditions. Pure: no I/O.

Profiles are documents as stored: system fields at the top level, custom
properties under ``attributes``. Naive datetimes (what MongoDB returns unless
the client is tz-aware) are taken as UTC. MongoDB's comparison rules are
followed where they show: an operator never matches a value of another type
(``True`` is not the number 1), and a scalar test matches a list when one of
its items does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from plugin.audience.filters.ast import And, Node, Ref
from plugin.audience.filters.compile import ParsedFilter, SegmentRef, parse_filter
from plugin.audience.filters.conditions import Condition, Predicate, Range
from plugin.core.properties import PropertyDef, PropertyType

__all__ = ["matches", "evaluate", "condition_matches"]

_MISSING = object()


def matches(
    filter: object,
    properties: Mapping[str, PropertyDef],
    profile: Mapping[str, Any],
    *,
    now: datetime | None = None,
    segments: Mapping[str, SegmentRef] | None = None,
) -> bool:
    """Whether ``profile`` matches ``filter``; ``segments`` resolves segment
    conditions as for :func:`parse_filter`.

    Raises:
        FilterError: the filter is invalid (see :func:`parse_filter`).
    """
    return evaluate(parse_filter(filter, properties, now=now, segments=segments), profile)


def evaluate(parsed: ParsedFilter, profile: Mapping[str, Any]) -> bool:
    """Whether ``profile`` matches an already checked filter."""
    return _node(parsed.tree, parsed.conditions, profile)


def _node(node: Node, conditions: tuple[Condition, ...], profile: Mapping[str, Any]) -> bool:
    if isinstance(node, Ref):
        return condition_matches(conditions[node.index], profile)
    if isinstance(node, And):
        return all(_node(item, conditions, profile) for item in node.items)
    return any(_node(item, conditions, profile) for item in node.items)


def condition_matches(condition: Condition, profile: Mapping[str, Any]) -> bool:
    """Whether ``profile`` satisfies one checked condition."""
    if condition.predicate is Predicate.SEGMENT_FILTER:
        return evaluate(condition.operand, profile) != condition.negated
    value = _lookup(profile, condition.prop.field)
    found = value is not _MISSING and _positive(condition, value)
    return found != condition.negated


def _lookup(document: Mapping[str, Any], path: str) -> Any:
    current: Any = document
    for part in path.split("."):
        if not isinstance(current, Mapping) or part not in current:
            return _MISSING
        current = current[part]
    return current


def _positive(condition: Condition, value: Any) -> bool:
    predicate, operand = condition.predicate, condition.operand
    is_list = isinstance(value, list | tuple)
    # The values a scalar predicate is tried on: the items of a list, or the value.
    items = list(value) if is_list else [value]
    if predicate is Predicate.TEXT_IN:
        return any(
            _text_matches(Predicate.TEXT_EQUALS, text, item) for text in operand for item in items
        )
    if predicate is Predicate.EXACT_EQUALS:
        return any(isinstance(item, str) and item == operand for item in items)
    if predicate is Predicate.EXACT_IN:
        return any(isinstance(item, str) and item in operand for item in items)
    if predicate in _TEXT:
        return any(_text_matches(predicate, operand, item) for item in items)
    if predicate is Predicate.NUMBER_EQUALS:
        return any(_is_number(item) and item == operand for item in items)
    if predicate is Predicate.BOOL_EQUALS:
        return any(isinstance(item, bool) and item is operand for item in items)
    if predicate is Predicate.RANGE:
        return _in_range(operand, items)
    if predicate is Predicate.LIST_CONTAINS:
        return is_list and any(_list_item_equals(operand, item) for item in items)
    if condition.prop.type is PropertyType.LIST:
        return not (is_list and not items) and all(item is not None for item in items)
    return all(item is not None and item != "" for item in items)


_TEXT = frozenset(
    {Predicate.TEXT_EQUALS, Predicate.TEXT_CONTAINS, Predicate.TEXT_STARTS, Predicate.TEXT_ENDS}
)


def _text_matches(predicate: Predicate, text: str, item: Any) -> bool:
    if not isinstance(item, str):
        return False
    # Python's re.IGNORECASE rather than str.lower(): MongoDB's case-insensitive
    # regex folds case one character at a time, and so does re (str.casefold
    # would also equate "ß" with "ss").
    pattern = re.escape(text)
    if predicate is Predicate.TEXT_EQUALS:
        return re.fullmatch(pattern, item, re.IGNORECASE) is not None
    if predicate is Predicate.TEXT_STARTS:
        return re.match(pattern, item, re.IGNORECASE) is not None
    if predicate is Predicate.TEXT_ENDS:
        return re.search(pattern + r"\Z", item, re.IGNORECASE) is not None
    return re.search(pattern, item, re.IGNORECASE) is not None


def _list_item_equals(operand: str | int | float, item: Any) -> bool:
    if isinstance(operand, str):
        return _text_matches(Predicate.TEXT_EQUALS, operand, item)
    return _is_number(item) and item == operand


def _in_range(bounds: Range, items: list[Any]) -> bool:
    # Each bound is its own MongoDB operator, so on a list each may be met by
    # a different item.
    low_ok = bounds.low is None or any(
        _comparable(item, bounds.low)
        and (_utc(item) >= bounds.low if bounds.low_inclusive else _utc(item) > bounds.low)
        for item in items
    )
    high_ok = bounds.high is None or any(
        _comparable(item, bounds.high)
        and (_utc(item) <= bounds.high if bounds.high_inclusive else _utc(item) < bounds.high)
        for item in items
    )
    return low_ok and high_ok


def _comparable(item: Any, bound: Any) -> bool:
    if isinstance(bound, datetime):
        return isinstance(item, datetime)
    return _is_number(item)


def _utc(item: Any) -> Any:
    if isinstance(item, datetime) and item.tzinfo is None:
        return item.replace(tzinfo=UTC)
    return item


def _is_number(item: Any) -> bool:
    return isinstance(item, int | float) and not isinstance(item, bool)
