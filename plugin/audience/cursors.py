"""Paging cursors: where the next page of an audience starts, signed and bound.

A cursor carries the sort value and the profile id of the last user shown;
:func:`plugin.audience.query.query_audience` turns them into a keyset
condition. A cursor comes back from the client, so nothing in it reaches a
query unchecked::

    cursor  = base64url(payload) "." base64url(HMAC-SHA256(key, payload))
    payload = JSON [1, bot id, sort, filter digest, kind, value, profile id]

* The HMAC, keyed with ``Settings.cursor_key()``, means only cursors this
  server made are read: a forged or altered one is refused before its payload
  is looked at.
* The bot, the sort and a digest of the filter are inside, so a cursor taken
  to another bot, sort order or filter (another segment's members) is refused
  with a message that says which.
* The value is a tagged scalar — ``null``, ``str``, ``num``, ``bool`` or
  ``date`` — whose kind must fit the sort property's type: never a document,
  a list or an operator.

>>> key, scope = b"k" * 32, CursorScope.of("shop", "-visits", None)
>>> prop = PropertyDef("visits", PropertyType.NUMBER)
>>> decode_cursor(key, scope, prop, encode_cursor(key, scope, prop, 7, "4:shop:3:ann"))
(7, '4:shop:3:ann')

Everything refused is an :class:`~plugin.core.errors.InvalidRequest` naming
the field ``cursor``. Pure: no I/O.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from plugin.core.errors import InvalidRequest
from plugin.core.events import to_utc
from plugin.core.properties import PropertyDef, PropertyType

__all__ = ["CursorScope", "decode_cursor", "encode_cursor", "sortable"]

_VERSION = 1
_TOKEN = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
_KIND_OF_TYPE: Mapping[PropertyType, str] = {
    PropertyType.TEXT: "str",
    PropertyType.EMAIL: "str",
    PropertyType.PHONE: "str",
    PropertyType.CHOICE: "str",
    PropertyType.NUMBER: "num",
    PropertyType.BOOLEAN: "bool",
    PropertyType.DATE: "date",
}
_KIND_NAMES = {"str": "text", "num": "a number", "bool": "a boolean", "date": "a date",
               "null": "nothing"}
_START_AGAIN = "; start again without it"


@dataclass(frozen=True, slots=True)
class CursorScope:
    """What a cursor is bound to: the bot, the sort and the filter it pages."""

    bot_id: str
    sort: str
    filter_digest: str

    @classmethod
    def of(cls, bot_id: str, sort: str, filter_: Mapping[str, Any] | None) -> CursorScope:
        """The scope of paging ``filter_`` (``None``: everyone) by ``sort``."""
        canonical = json.dumps(filter_ or {"conditions": []}, sort_keys=True,
                               separators=(",", ":"), default=str)
        return cls(bot_id, sort, hashlib.sha256(canonical.encode()).hexdigest()[:32])


def sortable(prop: PropertyDef) -> bool:
    """Whether pages can be keyed on ``prop``: a list has no one value to order by."""
    return prop.type in _KIND_OF_TYPE


def encode_cursor(key: bytes, scope: CursorScope, prop: PropertyDef, value: Any,
                  profile_id: str) -> str:
    """The cursor to the page after the user with ``profile_id`` and sort value ``value``.

    Raises:
        InvalidRequest: the stored value is not of the sort property's type (the
            property's type was changed after the value was stored), so no page
            after it can be keyed on it.
    """
    kind, shown = _tagged(value)
    if kind not in ("null", _KIND_OF_TYPE[prop.type]):
        raise InvalidRequest(
            f"cannot page on {prop.name!r} past a user whose {prop.name!r} holds "
            f"{_KIND_NAMES.get(kind, 'a ' + kind)}, not {_KIND_NAMES[_KIND_OF_TYPE[prop.type]]}: "
            "sort by another property", field="sort")
    payload = json.dumps([_VERSION, scope.bot_id, scope.sort, scope.filter_digest, kind, shown,
                          profile_id], separators=(",", ":"), ensure_ascii=False).encode()
    return f"{_b64(payload)}.{_b64(_mac(key, payload))}"


def decode_cursor(key: bytes, scope: CursorScope, prop: PropertyDef,
                  cursor: str) -> tuple[Any, str]:
    """The (sort value, profile id) a cursor made by :func:`encode_cursor` carries.

    Raises:
        InvalidRequest: the cursor was not made by this server with this key, was
            altered, belongs to another bot, sort or filter, or holds a value
            that does not fit the sort property.
    """
    if not _TOKEN.fullmatch(cursor):
        raise _not_ours()
    encoded_payload, encoded_mac = cursor.split(".")
    try:
        payload, mac = _unb64(encoded_payload), _unb64(encoded_mac)
    except (binascii.Error, ValueError):
        raise _not_ours() from None
    if not hmac.compare_digest(mac, _mac(key, payload)):
        raise _not_ours()
    # Signed by us: the payload is one encode_cursor wrote, but it is checked
    # all the same (a key shared by mistake must not open the query).
    try:
        fields = json.loads(payload)
        version, bot_id, sort, digest, kind, shown, profile_id = fields
    except (UnicodeDecodeError, ValueError, TypeError):
        raise _not_ours() from None
    if version != _VERSION or not isinstance(profile_id, str):
        raise _not_ours()
    if bot_id != scope.bot_id:
        raise InvalidRequest("'cursor' belongs to another bot" + _START_AGAIN, field="cursor")
    if sort != scope.sort:
        raise InvalidRequest("'cursor' belongs to another sort order" + _START_AGAIN,
                             field="cursor")
    if digest != scope.filter_digest:
        raise InvalidRequest("'cursor' belongs to another filter or segment" + _START_AGAIN,
                             field="cursor")
    return _untagged(kind, shown, prop), profile_id


def _tagged(value: Any) -> tuple[str, Any]:
    if value is None:
        return "null", None
    if isinstance(value, bool):  # before int: a bool is an int to Python
        return "bool", value
    if isinstance(value, int | float):
        return "num", value
    if isinstance(value, str):
        return "str", value
    if isinstance(value, datetime):
        return "date", to_utc(value).isoformat()
    return type(value).__name__, None


def _untagged(kind: object, shown: object, prop: PropertyDef) -> Any:
    expected = _KIND_OF_TYPE.get(prop.type)
    if kind == "null" and shown is None:
        return None
    if kind != expected:
        raise InvalidRequest(f"'cursor' holds a value that does not fit {prop.name!r}"
                             + _START_AGAIN, field="cursor")
    if kind == "str" and isinstance(shown, str):
        return shown
    if kind == "num" and isinstance(shown, int | float) and not isinstance(shown, bool):
        return shown
    if kind == "bool" and isinstance(shown, bool):
        return shown
    if kind == "date" and isinstance(shown, str):
        try:
            return to_utc(datetime.fromisoformat(shown))
        except ValueError:
            pass
    raise InvalidRequest(f"'cursor' holds a value that does not fit {prop.name!r}"
                         + _START_AGAIN, field="cursor")


def _not_ours() -> InvalidRequest:
    return InvalidRequest("'cursor' is not a cursor this API returned (it is malformed, "
                          "altered or signed with another key)" + _START_AGAIN, field="cursor")


def _mac(key: bytes, payload: bytes) -> bytes:
    return hmac.new(key, payload, hashlib.sha256).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
