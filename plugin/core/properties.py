"""Property schema: the types a profile property can have, the system
properties every bot has, and validation of a value against its type.

Pure: no I/O. ``PropertyStore`` persists custom definitions; the filter engine
and the capture pipeline read them through :class:`PropertyDef`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from enum import StrEnum
from typing import Any

from plugin.core.events import to_utc
from plugin.core.storable import INT64_MAX, INT64_MIN

__all__ = [
    "PropertyType",
    "PropertyDef",
    "InvalidValue",
    "SYSTEM_PROPERTIES",
    "PROPERTY_NAME_PATTERN",
    "MAX_TEXT_LENGTH",
    "MAX_LIST_ITEMS",
    "check_property_name",
    "custom_property",
    "infer_type",
    "validate_value",
]

MAX_TEXT_LENGTH = 4096
MAX_LIST_ITEMS = 200
# Names become document paths (attributes.<name>): no dots, no dollar signs.
PROPERTY_NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE_SEPARATORS = re.compile(r"[\s().\-]")
_PHONE = re.compile(r"^\+?[0-9]{7,15}$")
_TRUE_WORDS = frozenset({"true", "yes", "y", "1", "on"})
_FALSE_WORDS = frozenset({"false", "no", "n", "0", "off"})


class PropertyType(StrEnum):
    TEXT = "text"
    NUMBER = "number"
    EMAIL = "email"
    PHONE = "phone"
    DATE = "date"
    BOOLEAN = "boolean"
    CHOICE = "choice"
    LIST = "list"


class InvalidValue(ValueError):
    """A value does not fit its property's type; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class PropertyDef:
    name: str
    type: PropertyType
    label: str = ""
    system: bool = False
    choices: tuple[str, ...] = field(default=())
    # An identifier (channel, module, ...) rather than prose: text equality is
    # exact (case-sensitive) so that it can use an index.
    exact: bool = False

    @property
    def field(self) -> str:
        """The profile document path holding this property's value."""
        return self.name if self.system else f"attributes.{self.name}"

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": self.name,
            "type": str(self.type),
            "label": self.label or self.name,
            "system": self.system,
        }
        if self.choices:
            body["choices"] = list(self.choices)
        return body


def _system(name: str, type_: PropertyType, label: str, *, exact: bool = False) -> PropertyDef:
    return PropertyDef(name=name, type=type_, label=label, system=True, exact=exact)


SYSTEM_PROPERTIES: Mapping[str, PropertyDef] = {
    p.name: p
    for p in (
        _system("user_id", PropertyType.TEXT, "User ID", exact=True),
        _system("created_at", PropertyType.DATE, "Created"),
        _system("updated_at", PropertyType.DATE, "Updated"),
        _system("last_message_at", PropertyType.DATE, "Last message time"),
        _system("last_user_message", PropertyType.TEXT, "Last user message"),
        _system("last_user_message_at", PropertyType.DATE, "Last user message time"),
        _system("current_message", PropertyType.TEXT, "Current message"),
        _system("current_module", PropertyType.TEXT, "Current module", exact=True),
        _system("current_campaign", PropertyType.TEXT, "Current campaign", exact=True),
        _system("channel", PropertyType.TEXT, "Channel", exact=True),
        _system("source", PropertyType.TEXT, "Source", exact=True),
        _system("message_count", PropertyType.NUMBER, "Message count"),
        _system("assigned_to", PropertyType.TEXT, "Assigned to", exact=True),
        # Set when the profile is made: true for simulated users and the
        # test-bot page's (plugin.capture.update).
        _system("test", PropertyType.BOOLEAN, "Test user"),
    )
}


def check_property_name(name: object) -> str:
    """``name`` if it can name a property (it becomes a field path).

    The whole name must match: ``$`` in the pattern also matches before a
    final newline, so ``re.match`` alone would let ``"age\\n"`` through.
    """
    if not isinstance(name, str) or not PROPERTY_NAME_PATTERN.fullmatch(name):
        raise InvalidValue(
            "a property name starts with a letter or underscore and holds only "
            "letters, digits and underscores (at most 64)"
        )
    return name


def custom_property(
    name: str, type_: PropertyType | str, label: str = "", choices: tuple[str, ...] = ()
) -> PropertyDef:
    check_property_name(name)
    if name in SYSTEM_PROPERTIES:
        raise InvalidValue(f"{name!r} is a system property")
    prop_type = PropertyType(type_)
    if prop_type is PropertyType.CHOICE and not choices:
        raise InvalidValue("a choice property needs at least one choice")
    return PropertyDef(name=name, type=prop_type, label=label, choices=tuple(choices))


# Custom properties so common that their name says their type.
_TYPE_BY_NAME = {"email": PropertyType.EMAIL, "phone": PropertyType.PHONE}


def infer_type(value: object, name: str = "") -> PropertyType:
    """The type given to a custom property first seen with ``value``."""
    if name.lower() in _TYPE_BY_NAME:
        return _TYPE_BY_NAME[name.lower()]
    if isinstance(value, bool):
        return PropertyType.BOOLEAN
    if isinstance(value, int | float):
        return PropertyType.NUMBER
    if isinstance(value, list):
        return PropertyType.LIST
    if isinstance(value, datetime):
        return PropertyType.DATE
    return PropertyType.TEXT


def validate_value(prop: PropertyDef, value: object) -> Any:
    """Return ``value`` normalised for storage, or raise :class:`InvalidValue`."""
    if value is None:
        raise InvalidValue("a value is required")
    return _VALIDATORS[prop.type](prop, value)


def _text(prop: PropertyDef, value: object) -> str:
    if not isinstance(value, str):
        raise InvalidValue(f"expected text, got {_kind(value)}")
    if len(value) > MAX_TEXT_LENGTH:
        raise InvalidValue(f"text longer than {MAX_TEXT_LENGTH} characters")
    if not _is_unicode(value):
        raise InvalidValue("text holding a lone surrogate is not Unicode text")
    return value


def _is_unicode(text: str) -> bool:
    """False for a string no UTF-8 (so no MongoDB) can hold: one with a lone surrogate."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _number(prop: PropertyDef, value: object) -> int | float:
    if isinstance(value, bool):
        raise InvalidValue("expected a number, got a boolean")
    if isinstance(value, str):
        try:
            value = float(value.strip()) if value.strip() else None
        except ValueError:
            raise InvalidValue(f"{value!r} is not a number") from None
        if value is None:
            raise InvalidValue("expected a number, got empty text")
    if not isinstance(value, int | float):
        raise InvalidValue(f"expected a number, got {_kind(value)}")
    return _storable_number(value)


def _storable_number(value: int | float) -> int | float:
    """A number as MongoDB can hold it: an integer beyond 64 bits becomes the
    float it is close to (as its text ``1e30`` would), a float that is an
    integer below 2**53 becomes that integer."""
    if isinstance(value, int) and not INT64_MIN <= value <= INT64_MAX:
        try:
            value = float(value)
        except OverflowError:
            raise InvalidValue("a number too large to store") from None
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidValue("a number must be finite")
        if value.is_integer() and abs(value) < 2**53:
            return int(value)
    return value


def _email(prop: PropertyDef, value: object) -> str:
    text = _text(prop, value).strip()
    if not _EMAIL.match(text):
        raise InvalidValue(f"{text!r} is not an email address")
    return text.lower()


def _phone(prop: PropertyDef, value: object) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    text = _PHONE_SEPARATORS.sub("", _text(prop, value).strip())
    if not _PHONE.match(text):
        raise InvalidValue(f"{value!r} is not a phone number (7 to 15 digits, optional leading +)")
    return text


def _date(prop: PropertyDef, value: object) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime.combine(value, time())
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise InvalidValue(f"{value!r} is not an ISO 8601 date") from None
    else:
        raise InvalidValue(f"expected a date, got {_kind(value)}")
    # Naive means UTC; MongoDB stores milliseconds, so a stored value reads back equal.
    try:
        return to_utc(parsed)
    except ValueError as exc:
        raise InvalidValue(str(exc)) from None


def _boolean(prop: PropertyDef, value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE_WORDS:
            return True
        if word in _FALSE_WORDS:
            return False
        raise InvalidValue(f"{value!r} is not yes/no or true/false")
    raise InvalidValue(f"expected a boolean, got {_kind(value)}")


def _choice(prop: PropertyDef, value: object) -> str:
    text = _text(prop, value).strip()
    for choice in prop.choices:
        if choice.lower() == text.lower():
            return choice
    raise InvalidValue(f"{text!r} is not one of {', '.join(prop.choices)}")


def _list(prop: PropertyDef, value: object) -> list[Any]:
    if not isinstance(value, list):
        raise InvalidValue(f"expected a list, got {_kind(value)}")
    if len(value) > MAX_LIST_ITEMS:
        raise InvalidValue(f"a list holds at most {MAX_LIST_ITEMS} items")
    items: list[Any] = []
    for position, item in enumerate(value):
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            raise InvalidValue(f"list item {position} must be text or a number")
        if isinstance(item, str):
            if len(item) > MAX_TEXT_LENGTH:
                raise InvalidValue(
                    f"list item {position} is longer than {MAX_TEXT_LENGTH} characters")
            if not _is_unicode(item):
                raise InvalidValue(f"list item {position} holds a lone surrogate")
            items.append(item)
            continue
        try:
            items.append(_storable_number(item))
        except InvalidValue as exc:
            raise InvalidValue(f"list item {position}: {exc.reason}") from None
    return items


def _kind(value: object) -> str:
    return {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "text",
        list: "a list",
        dict: "an object",
    }.get(type(value), type(value).__name__)


_VALIDATORS = {
    PropertyType.TEXT: _text,
    PropertyType.NUMBER: _number,
    PropertyType.EMAIL: _email,
    PropertyType.PHONE: _phone,
    PropertyType.DATE: _date,
    PropertyType.BOOLEAN: _boolean,
    PropertyType.CHOICE: _choice,
    PropertyType.LIST: _list,
}
