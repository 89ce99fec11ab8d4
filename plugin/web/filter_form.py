"""The filter builder's form: numbered rows of fields in the URL, to and from
the filter the audience services take.

Condition N is the query parameters ``pN`` (property), ``oN`` (operator),
``vN`` (value), ``wN`` (the upper value of ``between``) and ``uN`` (the unit
of a period); the expression is ``expr``. So a filtered view is a URL that
can be bookmarked and shared::

    /bots/shop/audience?p1=email&o1=is_set&p2=phone&o2=is_set&expr=1+or+2

Two buttons of the form change the rows: ``add_row`` appends a row (property the
first of the catalogue, operator ``is_set``: valid for every type, so a new
row never breaks the filter) and ``remove_row=N`` drops row N and numbers the
rest again. The expression follows the rows while it is the default one
(``1 and 2 and …``); once the user has written their own it is left as
written, and the filter engine says what does not fit.

Values come as text and are turned into what the engine takes for the
property's type; a value that cannot be is a
:class:`~plugin.core.errors.FilterError` naming the condition, as the engine's
own are. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from plugin.audience.filters import operators_for
from plugin.core.errors import FilterError
from plugin.core.properties import PropertyDef, PropertyType

__all__ = ["MAX_ROWS", "Row", "FilterForm", "default_expression", "NO_VALUE", "PERIOD_UNITS"]

MAX_ROWS = 20
NO_VALUE = frozenset({"is_set", "is_not_set", "is_true", "is_false"})
PERIOD_OPERATORS = frozenset({"within_last", "more_than_ago"})
PERIOD_UNITS = ("days", "hours", "minutes")
LIST_OPERATORS = frozenset({"in", "not_in"})
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def default_expression(count: int) -> str:
    """``1 and 2 and … count``: every condition must hold."""
    return " and ".join(str(n) for n in range(1, count + 1))


@dataclass(frozen=True, slots=True)
class Row:
    number: int
    property: str
    operator: str
    value: str = ""
    value2: str = ""
    unit: str = "days"

    def input_kind(self, prop: PropertyDef | None) -> str:
        """The control the value needs: none, number, date, period, choice or text."""
        if prop is None or self.operator in NO_VALUE:
            return "none"
        if self.operator in PERIOD_OPERATORS:
            return "period"
        if prop.type is PropertyType.NUMBER:
            return "number"
        if prop.type is PropertyType.DATE:
            return "date"
        if prop.type is PropertyType.CHOICE and prop.choices and self.operator in (
                "equals", "not_equals"):
            return "choice"
        return "text"

    def condition(self, properties: Mapping[str, PropertyDef]) -> dict[str, Any]:
        """The row as the engine's condition.

        Raises:
            FilterError: a value missing or not of the property's type.
        """
        condition: dict[str, Any] = {"property": self.property, "operator": self.operator}
        prop = properties.get(self.property)
        if prop is None or self.operator in NO_VALUE:
            return condition  # the engine names an unknown property or operator
        if self.operator == "between":
            condition["value"] = [self._typed(prop, self.value), self._typed(prop, self.value2)]
        elif self.operator in PERIOD_OPERATORS:
            amount = self._needed(self.value)
            if not amount.isdigit():
                raise self._fail("the period must be a whole number of "
                                 f"{'/'.join(PERIOD_UNITS)}")
            condition["value"] = {"amount": int(amount), "unit": self.unit}
        elif self.operator in LIST_OPERATORS:
            items = [item.strip() for item in self._needed(self.value).split(",")]
            condition["value"] = [item for item in items if item]
        else:
            condition["value"] = self._typed(prop, self.value)
        return condition

    def _typed(self, prop: PropertyDef, text: str) -> Any:
        text = self._needed(text)
        if prop.type is PropertyType.NUMBER:
            if not _NUMBER.match(text):
                raise self._fail(f"{text!r} is not a number")
            number = float(text)
            return int(number) if number.is_integer() and abs(number) < 2**53 else number
        return text

    def _needed(self, text: str) -> str:
        text = text.strip()
        if not text:
            raise FilterError(f"Condition {self.number}: enter a value for "
                              f"'{self.operator.replace('_', ' ')}'",
                              condition=self.number, incomplete=True)
        return text

    def _fail(self, reason: str) -> FilterError:
        return FilterError(f"condition {self.number}: {reason}", condition=self.number)


@dataclass(frozen=True, slots=True)
class FilterForm:
    rows: tuple[Row, ...]
    expression: str

    @classmethod
    def from_query(cls, query: Mapping[str, str], properties: Mapping[str, PropertyDef],
                   ) -> FilterForm:
        """The form as submitted (or as a URL holds it), with ``add_row``/``remove_row``
        applied."""
        rows: list[Row] = []
        for number in range(1, MAX_ROWS + 1):
            name = query.get(f"p{number}")
            if name is None:
                break
            rows.append(_row(query, number, name, properties))
        submitted = len(rows)
        expression = _field(query.get("expr", "")).strip()
        # Not "remove": a form field of that name hides the form's remove() method.
        remove = query.get("remove_row", "")
        if remove.isdigit() and 1 <= int(remove) <= len(rows):
            del rows[int(remove) - 1]
            rows = [replace(row, number=n) for n, row in enumerate(rows, 1)]
        if query.get("add_row") is not None and len(rows) < MAX_ROWS and properties:
            rows.append(Row(len(rows) + 1, next(iter(properties)), "is_set"))
        if expression in ("", default_expression(submitted)):
            expression = default_expression(len(rows))
        return cls(tuple(rows), expression)

    def to_filter(self, properties: Mapping[str, PropertyDef]) -> dict[str, Any] | None:
        """The filter the services take; None with no row (everyone).

        Raises:
            FilterError: a row's value does not fit its property.
        """
        if not self.rows:
            return None
        return {"conditions": [row.condition(properties) for row in self.rows],
                "expression": self.expression}

    def params(self) -> list[tuple[str, str]]:
        """The form as query parameters (the URL of this filter)."""
        found: list[tuple[str, str]] = []
        for row in self.rows:
            n = row.number
            found += [(f"p{n}", row.property), (f"o{n}", row.operator)]
            found += [(key, value) for key, value in
                      ((f"v{n}", row.value), (f"w{n}", row.value2)) if value]
            if row.operator in PERIOD_OPERATORS:
                found.append((f"u{n}", row.unit))
        if self.rows:
            found.append(("expr", self.expression))
        return found

    def single(self, row: Row, properties: Mapping[str, PropertyDef]) -> dict[str, Any]:
        """Condition ``row`` alone, as a filter (its own match count).

        Raises:
            FilterError: the row's value does not fit its property.
        """
        return {"conditions": [row.condition(properties)]}


def _row(query: Mapping[str, str], number: int, name: str,
         properties: Mapping[str, PropertyDef]) -> Row:
    name = _field(name)
    prop = properties.get(name)
    operator = _field(query.get(f"o{number}", ""))
    if prop is not None and operator not in operators_for(prop.type):
        operator = "is_set"  # the property changed: keep the row valid
    unit = query.get(f"u{number}", "days")
    return Row(number, name, operator, _field(query.get(f"v{number}", "")),
               _field(query.get(f"w{number}", "")),
               unit if unit in PERIOD_UNITS else "days")


def _field(text: str) -> str:
    """A form field as typed (the engine bounds values; aiohttp bounds the URL)."""
    return text


def operator_labels(operators: Sequence[str]) -> list[tuple[str, str]]:
    return [(op, op.replace("_", " ")) for op in operators]
