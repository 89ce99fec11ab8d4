"""What Audience can store and send: the one check a JSON value passes before
it is written to MongoDB or echoed back as JSON.

>>> check_storable({"name": "rated", "stars": [5, 2**63]}, "events/0/data")
Traceback (most recent call last):
...
plugin.core.errors.InvalidRequest: events/0/data/stars/1: an integer beyond MongoDB's 64-bit range

MongoDB holds integers of 64 bits and strings of UTF-8, refuses field names
with NUL, and reads ``$`` and ``.`` in field names as operators and paths.
JSON, for its part, has no NaN or Infinity. A value that breaks one of these
rules would be refused by the database writer (losing the whole batch it is
in) or would make a response that is not JSON; it is refused at the door
instead, with the path of the first offending place.

Every door that takes JSON from outside calls :func:`check_storable`: the
request body reader (``plugin.http.jsonio``, without the field-name rules,
since not every body is stored), the events API and the dummy channel (with
them, on what becomes a document). :class:`Unreadable` is what a JSON reader
puts where it met a number it would not read (NaN, Infinity, thousands of
digits), so that the walk can name the place.

Pure: imports only :mod:`plugin.core.errors`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NoReturn

from plugin.core.errors import InvalidRequest

__all__ = ["MAX_DEPTH", "INT64_MIN", "INT64_MAX", "Unreadable", "check_storable",
           "storable_form"]

# Levels of objects and arrays in one value. MongoDB stops at 100 for a whole
# document; a request body nests its payload three or four levels down.
MAX_DEPTH = 64
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


@dataclass(frozen=True, slots=True)
class Unreadable:
    """Stands where a JSON reader met a number it would not read; ``reason``
    says why (``check_storable`` reports it with its path)."""

    reason: str


def check_storable(value: object, path: str = "", *, field_names: bool = True) -> None:
    """Check that ``value`` can be stored in MongoDB and written as JSON.

    Refused, anywhere in ``value`` (objects and arrays at any depth, keys as
    well as values): nesting deeper than :data:`MAX_DEPTH`; an integer outside
    MongoDB's 64-bit range; NaN and Infinity; a string or key holding a lone
    surrogate (no UTF-8 can hold it); an :class:`Unreadable`; anything that is
    not a JSON value (a ``datetime`` is allowed: it is what timestamps are).
    With ``field_names``, the keys become MongoDB field names: a key must not
    be empty, hold NUL or a dot, or start with ``$``.

    The walk uses no recursion, so a value nested a thousand deep is refused
    like any other.

    Args:
        value: a decoded JSON value.
        path: where ``value`` sits (``events/3/data``); reported paths start
            with it, parts joined by ``/``.
        field_names: whether keys are checked as MongoDB field names (False for
            a request body whose keys are only read).

    Raises:
        InvalidRequest: the first offending place, in document order; the
            message is ``<path>: <reason>`` and ``details["errors"]`` holds
            ``{"path", "message"}`` as the schema checks report them.
    """
    # Each entry: the value, its depth, and a link (parent link, key) from
    # which its path is built only if it is refused. The common cases come
    # first: this runs over every request body.
    stack: list[tuple[object, int, _Link]] = [(value, 0, None)]
    pop, push = stack.pop, stack.append
    while stack:
        current, depth, link = pop()
        if isinstance(current, str):
            if not (current.isascii() or _encodable(current)):
                _refuse(path, link, _surrogate_reason(current))
        elif current is None or isinstance(current, bool):
            pass
        elif isinstance(current, int):
            if not INT64_MIN <= current <= INT64_MAX:
                _refuse(path, link, "an integer beyond MongoDB's 64-bit range")
        elif isinstance(current, float):
            if not math.isfinite(current):
                _refuse(path, link, _not_finite_reason(current))
        elif isinstance(current, dict | list | tuple):
            if depth >= MAX_DEPTH:
                _refuse(path, link, f"nested deeper than {MAX_DEPTH} levels")
            if isinstance(current, dict):
                for key in current:
                    if not _plain_key(key, field_names):
                        reason = _key_problem(key, field_names)
                        if reason is not None:
                            _refuse(path, (link, key), reason)
                for key in reversed(current):
                    push((current[key], depth + 1, (link, key)))
            else:
                for index in range(len(current) - 1, -1, -1):
                    push((current[index], depth + 1, (link, index)))
        elif isinstance(current, Unreadable):
            _refuse(path, link, current.reason)
        elif not isinstance(current, datetime):
            _refuse(path, link, f"a {type(current).__name__} is not a JSON value")


def storable_form(value: Any) -> Any:
    """``value`` if :func:`check_storable` passes it, otherwise its text (with
    lone surrogates escaped): for keeping what a bot tried, whatever it was."""
    try:
        check_storable(value)
    except InvalidRequest:
        return _printable(repr(value) if not isinstance(value, str) else value)
    return value


# A value's place: None for the root, else (its parent's link, its key or index).
_Link = tuple[Any, str | int] | None


def _not_finite_reason(value: float) -> str:
    if math.isnan(value):
        return "NaN is not a number JSON or Audience takes"
    return "Infinity (or a number too large to be finite) is not a number JSON takes"


def _plain_key(key: object, field_names: bool) -> bool:
    """The common case, decided fast: an ASCII key that breaks no rule."""
    if type(key) is not str or not key.isascii():
        return False
    if not field_names:
        return True
    return bool(key) and key[0] != "$" and "." not in key and "\x00" not in key


def _key_problem(key: object, field_names: bool) -> str | None:
    if not isinstance(key, str):
        return f"a key must be text, not a {type(key).__name__}"
    if not _encodable(key):
        return "the key " + _surrogate_reason(key)
    if not field_names:
        return None
    if not key:
        return "an empty key cannot be a field name"
    if "\x00" in key:
        return "a key cannot hold the NUL character"
    if key.startswith("$"):
        return "a key cannot start with '$' (MongoDB reads it as an operator)"
    if "." in key:
        return "a key cannot hold a dot (MongoDB reads it as a path)"
    return None


def _encodable(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _surrogate_reason(text: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return (f"holds a lone surrogate (U+{ord(text[exc.start]):04X} at character "
                f"{exc.start}), which is not Unicode text")
    return "is not Unicode text"


def _printable(text: str) -> str:
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _path(path: str, link: _Link) -> str:
    parts: list[str] = []
    while link is not None:
        link, key = link
        # A key that cannot be encoded must not make the error unencodable too.
        parts.append(_printable(str(key)))
    return "/".join([path] * bool(path) + parts[::-1])


def _refuse(path: str, link: _Link, reason: str) -> NoReturn:
    where = _path(path, link)
    raise InvalidRequest(f"{where}: {reason}" if where else reason,
                         errors=[{"path": where or "(body)", "message": reason}])
