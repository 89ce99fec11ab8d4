"""One numbered condition: its operators per property type, its validation into
a :class:`Condition`, and the MongoDB sub-query it compiles to.

Pure: imports no I/O library. Field paths come only from
:attr:`PropertyDef.field`, operators only from this module's allow-list; user
values are only ever operands (scalars, datetimes, or ``re.escape``-d text
inside a ``$regex``), never documents, so ``{"$where": …}`` or ``{"$ne": null}``
given as a value is rejected as the wrong type.

Semantics (``plugin.audience.filters.evaluate`` implements the same in Python):

* Text (text, email, phone, choice) matching is case-insensitive: equals,
  starts_with, ends_with, in and list contains compare whole values ignoring
  case; contains looks for a substring ignoring case. Two exceptions, both
  compiled to plain ``$eq``/``$in`` so that an index can answer them:

  - Identifier properties (:attr:`PropertyDef.exact`: user_id, channel,
    source, assigned_to, current_module, current_campaign): equals,
    not_equals, in and not_in compare exactly (case-sensitive).
  - Email and phone compare by their normalised form; stored values are
    normalised when written. The values of equals/not_equals/in/not_in are
    normalised like stored values (email stripped and lowercased, phone
    separators stripped), must be valid, and are compared exactly with the
    stored value (a stored "BOB@X.COM" left by a dirty import does not
    equal "bob@x.com").

  contains, starts_with and ends_with stay case-insensitive for every text
  property and take the raw text. Choice values are plain text (a value no
  longer among the choices can still be searched for).
* "Set" means present, not null, and not empty: an empty string (any type but
  list) and an empty list (list) count as not set.
* Dates are compared in UTC. A bare date ("2024-05-01") means that whole UTC
  day: before = before the day starts, after = after the day ends, on = during
  it, and as the end of between it includes the whole day. A date with a time
  is an instant (on = the UTC day holding it). within_last covers
  [now - amount, now]; more_than_ago is strictly before now - amount.
* List contains means one item equals the value (text ignoring case; a
  number value matches numeric items).
* Every negative operator (not_equals, not_contains, not_in, ne, is_not_set)
  is the exact complement of its positive, so it matches profiles that lack
  the property.
* A stored value of another shape than its property's type (dirty imports)
  follows MongoDB's rules: an operator never matches a value of another type,
  and a scalar operator matches a list if any item matches.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from plugin.core.errors import FilterError
from plugin.core.properties import InvalidValue, PropertyDef, PropertyType, validate_value

__all__ = [
    "MAX_TEXT_VALUE_LENGTH",
    "MAX_VALUES",
    "MAX_PERIOD",
    "TEXT_TYPES",
    "Predicate",
    "Range",
    "Condition",
    "operators_for",
    "check_condition",
    "condition_query",
    "text_pattern",
]

# Escaping can double a value's length and SecantusDB caps a regex pattern at
# 1,000 characters; 400 leaves room for anchors.
MAX_TEXT_VALUE_LENGTH = 400
MAX_VALUES = 100
MAX_PERIOD = timedelta(days=36_500)
TEXT_TYPES = frozenset(
    {PropertyType.TEXT, PropertyType.EMAIL, PropertyType.PHONE, PropertyType.CHOICE}
)
_NORMALISED_TYPES = frozenset({PropertyType.EMAIL, PropertyType.PHONE})
_INT64 = 2**63
_BARE_DATE = re.compile(r"^\d{4}-?\d{2}-?\d{2}$")
_UNITS = {"minutes": timedelta(minutes=1), "hours": timedelta(hours=1), "days": timedelta(days=1)}
_PRESENCE = ("is_set", "is_not_set")
_TEXT_OPERATORS = (
    "equals",
    "not_equals",
    "contains",
    "not_contains",
    "starts_with",
    "ends_with",
    "in",
    "not_in",
)
_OPERATORS: dict[PropertyType, tuple[str, ...]] = {
    **{type_: (*_TEXT_OPERATORS, *_PRESENCE) for type_ in TEXT_TYPES},
    PropertyType.NUMBER: ("eq", "ne", "gt", "gte", "lt", "lte", "between", *_PRESENCE),
    PropertyType.DATE: (
        "before",
        "after",
        "on",
        "between",
        "within_last",
        "more_than_ago",
        *_PRESENCE,
    ),
    PropertyType.BOOLEAN: ("is_true", "is_false", *_PRESENCE),
    PropertyType.LIST: ("contains", "not_contains", *_PRESENCE),
}
# Negative operator -> the positive it complements.
_NEGATIVES = {
    "not_equals": "equals",
    "not_contains": "contains",
    "not_in": "in",
    "ne": "eq",
    "is_not_set": "is_set",
}
_NO_VALUE = frozenset({"is_set", "is_not_set", "is_true", "is_false"})
_CONDITION_KEYS = frozenset({"property", "operator", "value"})


class Predicate(StrEnum):
    """The positive test a condition reduces to (its operand's type in brackets)."""

    TEXT_EQUALS = "text_equals"  # (str)
    TEXT_CONTAINS = "text_contains"  # (str)
    TEXT_STARTS = "text_starts"  # (str)
    TEXT_ENDS = "text_ends"  # (str)
    TEXT_IN = "text_in"  # (tuple of str)
    EXACT_EQUALS = "exact_equals"  # (str), case-sensitive
    EXACT_IN = "exact_in"  # (tuple of str), case-sensitive
    NUMBER_EQUALS = "number_equals"  # (int or float)
    RANGE = "range"  # (Range)
    BOOL_EQUALS = "bool_equals"  # (bool)
    LIST_CONTAINS = "list_contains"  # (str, int or float)
    IS_SET = "is_set"  # (None)
    # A dynamic segment: its own filter, nested (a ParsedFilter). Compiled and
    # evaluated by plugin.audience.filters.compile / evaluate, which own whole filters.
    SEGMENT_FILTER = "segment_filter"  # (ParsedFilter)


_TEXT_TESTS = {
    "equals": Predicate.TEXT_EQUALS,
    "contains": Predicate.TEXT_CONTAINS,
    "starts_with": Predicate.TEXT_STARTS,
    "ends_with": Predicate.TEXT_ENDS,
}


def operators_for(type_: PropertyType | str) -> list[str]:
    """The operators valid for a property of ``type_``, in display order."""
    return list(_OPERATORS[PropertyType(type_)])


@dataclass(frozen=True, slots=True)
class Range:
    """Bounds on a number or a UTC datetime; ``None`` means unbounded."""

    low: int | float | datetime | None = None
    low_inclusive: bool = True
    high: int | float | datetime | None = None
    high_inclusive: bool = True


@dataclass(frozen=True, slots=True)
class Condition:
    """A validated condition, reduced to a positive :class:`Predicate` on a
    normalised ``operand`` and a flag that turns it into its complement.
    ``operator`` is what the user wrote, for messages.
    """

    number: int
    prop: PropertyDef
    operator: str
    predicate: Predicate
    operand: Any
    negated: bool = False


def check_condition(
    raw: object, number: int, properties: Mapping[str, PropertyDef], now: datetime
) -> Condition:
    """Validate condition ``number`` (1-based) of a filter.

    ``now`` must be an aware UTC datetime; it anchors within_last and
    more_than_ago.

    Raises:
        FilterError: with ``condition=number`` in its details.
    """
    if not isinstance(raw, Mapping):
        raise _fail(number, "must be an object with 'property', 'operator' and 'value'")
    for key in raw:
        if key not in _CONDITION_KEYS:
            raise _fail(number, f"unknown key {key!r}: use 'property', 'operator' and 'value'")
    name = raw.get("property")
    if not isinstance(name, str) or not name:
        raise _fail(number, "'property' must name a property")
    prop = properties.get(name)
    if prop is None:
        close = difflib.get_close_matches(name, list(properties), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise _fail(number, f"unknown property {name!r}{hint}")
    operator = raw.get("operator")
    valid = _OPERATORS[prop.type]
    if not isinstance(operator, str) or operator not in valid:
        shown = repr(operator) if isinstance(operator, str) else "missing or not text"
        raise _fail(
            number,
            f"operator {shown} is not valid for {prop.type} property {name!r}; "
            f"use one of: {', '.join(valid)}",
        )
    value = raw.get("value")
    if operator in _NO_VALUE:
        if value is not None:
            raise _fail(number, f"operator {operator!r} takes no value")
    elif value is None:
        raise _fail(number, f"operator {operator!r} needs a value")
    predicate, operand = _reduce(prop, operator, value, number, now)
    return Condition(number, prop, operator, predicate, operand, negated=operator in _NEGATIVES)


def _reduce(
    prop: PropertyDef, written: str, value: Any, number: int, now: datetime
) -> tuple[Predicate, Any]:
    operator = _NEGATIVES.get(written, written)
    if operator == "is_set":
        return Predicate.IS_SET, None
    if prop.type in TEXT_TYPES:
        return _reduce_text(prop, operator, written, value, number)
    if prop.type is PropertyType.NUMBER:
        if operator == "eq":
            return Predicate.NUMBER_EQUALS, _number(value, number)
        if operator == "between":
            low, high = _pair(value, number, _number)
            if low > high:
                raise _fail(number, f"between needs the lower bound first, got [{low}, {high}]")
            return Predicate.RANGE, Range(low, True, high, True)
        bound = _number(value, number)
        return Predicate.RANGE, {
            "gt": Range(low=bound, low_inclusive=False),
            "gte": Range(low=bound),
            "lt": Range(high=bound, high_inclusive=False),
            "lte": Range(high=bound),
        }[operator]
    if prop.type is PropertyType.DATE:
        return Predicate.RANGE, _reduce_date(operator, value, number, now)
    if prop.type is PropertyType.BOOLEAN:
        return Predicate.BOOL_EQUALS, operator == "is_true"
    # List: contains.
    if isinstance(value, str):
        return Predicate.LIST_CONTAINS, _text(value, number)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return Predicate.LIST_CONTAINS, _number(value, number)
    raise _fail(number, f"'{written}' needs text or a number, got {_kind(value)}")


def _reduce_text(
    prop: PropertyDef, operator: str, written: str, value: Any, number: int
) -> tuple[Predicate, Any]:
    if operator == "in":
        if not isinstance(value, list | tuple):
            raise _fail(number, f"'{written}' needs a list of text values, got {_kind(value)}")
        if not 1 <= len(value) <= MAX_VALUES:
            raise _fail(number, f"'{written}' needs 1 to {MAX_VALUES} values, got {len(value)}")
        items = tuple(
            _whole_text(prop, item, number, f"value {position + 1}: ")
            for position, item in enumerate(value)
        )
        return (Predicate.EXACT_IN if _is_exact(prop) else Predicate.TEXT_IN), items
    if operator == "equals":
        predicate = Predicate.EXACT_EQUALS if _is_exact(prop) else Predicate.TEXT_EQUALS
        return predicate, _whole_text(prop, value, number)
    text = _text(value, number)
    if not text:
        raise _fail(number, f"'{written}' needs non-empty text")
    return _TEXT_TESTS[operator], text


def _is_exact(prop: PropertyDef) -> bool:
    """Whether equals/in compare exactly rather than ignoring case."""
    return prop.exact or prop.type in _NORMALISED_TYPES


def _whole_text(prop: PropertyDef, value: Any, number: int, where: str = "") -> str:
    text = _text(value, number, where)
    if prop.type in _NORMALISED_TYPES:
        try:
            text = validate_value(prop, text)
        except InvalidValue as exc:
            raise _fail(number, f"{where}{exc.reason}") from None
    return text


def _text(value: Any, number: int, where: str = "") -> str:
    if not isinstance(value, str):
        raise _fail(number, f"{where}expected text, got {_kind(value)}")
    if len(value) > MAX_TEXT_VALUE_LENGTH:
        raise _fail(
            number, f"{where}text longer than {MAX_TEXT_VALUE_LENGTH} characters ({len(value)})"
        )
    if "\x00" in value:
        raise _fail(number, f"{where}text must not contain NUL characters")
    return value


def _number(value: Any, number: int) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(number, f"expected a number, got {_kind(value)}")
    if isinstance(value, int) and not -_INT64 <= value < _INT64:
        raise _fail(number, f"{value} is out of range for a stored number")
    if isinstance(value, float) and not math.isfinite(value):
        raise _fail(number, "a number must be finite")
    return value


def _pair(value: Any, number: int, item: Any) -> tuple[Any, Any]:
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise _fail(number, f"between needs a list of two values [from, to], got {_kind(value)}")
    return item(value[0], number), item(value[1], number)


def _reduce_date(operator: str, value: Any, number: int, now: datetime) -> Range:
    try:
        if operator in ("within_last", "more_than_ago"):
            start = now - _period(value, number)
            if operator == "within_last":
                return Range(start, True, now, True)
            return Range(high=start, high_inclusive=False)
        if operator == "between":
            (low, _), (high, high_day) = _pair(value, number, _date)
            # A bare end date includes its whole day.
            end, inclusive = (high + timedelta(days=1), False) if high_day else (high, True)
            if low > end or (low == end and not inclusive):
                raise _fail(number, "between needs the earlier date first")
            return Range(low, True, end, inclusive)
        moment, whole_day = _date(value, number)
        if operator == "before":
            return Range(high=moment, high_inclusive=False)
        if operator == "after":
            if whole_day:
                return Range(low=moment + timedelta(days=1))
            return Range(low=moment, low_inclusive=False)
        # on: the whole UTC day.
        start = moment.replace(hour=0, minute=0, second=0, microsecond=0)
        return Range(start, True, start + timedelta(days=1), False)
    except OverflowError:
        raise _fail(number, "the date is out of range") from None


def _date(value: Any, number: int) -> tuple[datetime, bool]:
    """The UTC instant of ``value`` and whether it names a whole day."""
    if isinstance(value, str):
        whole_day = bool(_BARE_DATE.match(value.strip()))
    elif isinstance(value, date):
        whole_day = not isinstance(value, datetime)
    else:
        raise _fail(number, f"expected a date, got {_kind(value)}")
    if isinstance(value, str) and len(value) > 64:
        raise _fail(number, "a date is at most 64 characters")
    try:
        moment = validate_value(_DATE, value)
    except InvalidValue as exc:
        raise _fail(number, f"{exc.reason} (use e.g. 2024-05-01 or 2024-05-01T13:00:00Z)") from None
    return moment, whole_day


_DATE = PropertyDef(name="date", type=PropertyType.DATE)


def _period(value: Any, number: int) -> timedelta:
    if not isinstance(value, Mapping) or set(value) != {"amount", "unit"}:
        raise _fail(
            number,
            'needs a period like {"amount": 7, "unit": "days"}, got ' + _kind(value),
        )
    amount, unit = value["amount"], value["unit"]
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 1:
        raise _fail(number, "the period's amount must be a positive whole number")
    if unit not in _UNITS:
        raise _fail(number, f"the period's unit must be one of: {', '.join(_UNITS)}")
    if amount > MAX_PERIOD // _UNITS[unit]:
        raise _fail(number, f"the period is longer than {MAX_PERIOD.days} days")
    return amount * _UNITS[unit]


def _kind(value: object) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list | tuple):
        return f"a list of {len(value)}"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


def _fail(number: int, reason: str) -> FilterError:
    return FilterError(f"condition {number}: {reason}", condition=number)


# --- MongoDB ---------------------------------------------------------------


def text_pattern(predicate: Predicate, text: str) -> str:
    """The anchored, escaped regular expression for a text test.

    ``\\z`` is the absolute end of the string in PCRE (mongod) and in
    SecantusDB; ``$`` would also match before a trailing newline.
    """
    escaped = re.escape(text)
    return {
        Predicate.TEXT_EQUALS: f"^{escaped}\\z",
        Predicate.TEXT_CONTAINS: escaped,
        Predicate.TEXT_STARTS: f"^{escaped}",
        Predicate.TEXT_ENDS: f"{escaped}\\z",
    }[predicate]


def _regex(predicate: Predicate, text: str) -> dict[str, str]:
    return {"$regex": text_pattern(predicate, text), "$options": "i"}


def condition_query(condition: Condition) -> dict[str, Any]:
    """The MongoDB sub-query for ``condition``."""
    field = condition.prop.field
    predicate, operand = condition.predicate, condition.operand
    alternatives: list[dict[str, Any]]
    if predicate is Predicate.TEXT_IN:
        # One regex per value: SecantusDB answers regexes inside $in wrongly
        # when the field is indexed.
        alternatives = [{field: _regex(Predicate.TEXT_EQUALS, item)} for item in operand]
    elif predicate is Predicate.EXACT_IN:
        # Plain values (no regex), so SecantusDB's $in bug does not apply.
        alternatives = [{field: {"$in": list(operand)}}]
    elif predicate is Predicate.EXACT_EQUALS:
        alternatives = [{field: {"$eq": operand}}]
    elif predicate in _TEXT_TESTS.values():
        alternatives = [{field: _regex(predicate, operand)}]
    elif predicate is Predicate.NUMBER_EQUALS or predicate is Predicate.BOOL_EQUALS:
        alternatives = [{field: {"$eq": operand}}]
    elif predicate is Predicate.RANGE:
        alternatives = [_range(field, operand)]
    elif predicate is Predicate.LIST_CONTAINS:
        item = (
            _regex(Predicate.TEXT_EQUALS, operand) if isinstance(operand, str) else {"$eq": operand}
        )
        alternatives = [{field: {"$elemMatch": item}}]
    elif condition.prop.type is PropertyType.LIST:
        alternatives = [{field: {"$exists": True, "$ne": None, "$not": {"$size": 0}}}]
    else:
        alternatives = [{field: {"$exists": True, "$nin": [None, ""]}}]
    if condition.negated:
        return {"$nor": alternatives}
    if len(alternatives) == 1:
        return alternatives[0]
    return {"$or": alternatives}


def _range(field: str, bounds: Range) -> dict[str, Any]:
    parts: list[dict[str, Any]] = []
    if bounds.low is not None:
        parts.append({field: {"$gte" if bounds.low_inclusive else "$gt": bounds.low}})
    if bounds.high is not None:
        parts.append({field: {"$lte" if bounds.high_inclusive else "$lt": bounds.high}})
    # Two bounds stay two predicates: SecantusDB intersects them on an indexed
    # list ({a: {$gte: 2, $lte: 9}} misses a = [1, 10]); MongoDB's meaning is
    # the same either way. scoped_query merges them only on system fields,
    # which are never lists.
    return parts[0] if len(parts) == 1 else {"$and": parts}
