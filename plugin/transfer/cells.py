"""Profile values as spreadsheet cells, safe to open, and back.

Spreadsheet programs evaluate a cell that starts with ``=``, ``+``, ``-``,
``@``, a tab or a carriage return. A signed number (``+442079460007``,
``-5``) is only shown as a number, so it is written as it is; any other such
text is prefixed with ``'`` so it is shown as is, never run as a formula
("CSV injection"). :func:`restore` undoes :func:`neutralise` exactly, so an
import reads back what an export wrote: text that already starts with
apostrophes before a formula gets one more, which ``restore`` takes off.

:func:`flatten` turns any profile value into one cell (a list's items joined
by :data:`LIST_SEPARATOR`); :func:`xml_text` drops the characters an XLSX
cell cannot hold. Pure.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

__all__ = ["LIST_SEPARATOR", "flatten", "neutralise", "restore", "xml_text"]

LIST_SEPARATOR = "; "

# Spreadsheet programs evaluate a cell that starts with one of these.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# ... and show this as the number it is: nothing runs.
_SIGNED_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
# XML 1.0 has no place for C0 controls other than tab, LF and CR, nor for
# U+FFFE and U+FFFF; Excel refuses a file that holds one.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _runs(text: str) -> bool:
    """Whether a spreadsheet would evaluate ``text`` once its leading
    apostrophes (a neutralised cell's) are taken off."""
    text = text.lstrip("'")
    return text.startswith(_FORMULA_STARTS) and not _SIGNED_NUMBER.fullmatch(text)


def neutralise(text: str) -> str:
    """Text a spreadsheet shows as is, never as a formula."""
    return "'" + text if _runs(text) else text


def restore(cell: str) -> str:
    """The text :func:`neutralise` was given for ``cell`` (its inverse)."""
    return cell[1:] if cell.startswith("'") and _runs(cell) else cell


def xml_text(text: str) -> str:
    """``text`` without the characters an XLSX (XML 1.0) cell cannot hold."""
    return _NOT_XML.sub("", text)


def flatten(value: Any, *, for_xlsx: bool = False) -> Any:
    """A profile value as one cell: lists joined by "; ", mappings as "k: v".

    Times are UTC: ISO 8601 text in CSV (with milliseconds when there are
    some: MongoDB keeps them); naive datetimes (and dates) in XLSX, which
    has no time zones, so the sheet can compute with them.
    """
    if isinstance(value, list | tuple | Mapping):
        return neutralise(_text(value))
    if isinstance(value, datetime | date):
        return _moment(value, for_xlsx=for_xlsx)
    if value is None or isinstance(value, bool | int | float):
        return _text(value) if isinstance(value, bool) else value
    return neutralise(str(value))


def _moment(value: date, *, for_xlsx: bool) -> Any:
    if not isinstance(value, datetime):
        return value if for_xlsx else value.isoformat()
    moment = value if value.tzinfo else value.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    if for_xlsx:
        return moment.replace(tzinfo=None)
    spec = "milliseconds" if moment.microsecond // 1000 else "seconds"
    return moment.isoformat(timespec=spec).replace("+00:00", "Z")


def _text(value: Any) -> str:
    """A value as plain text, not yet neutralised (list items and mapping
    values are neutralised once, as the whole cell)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return LIST_SEPARATOR.join(_text(v) for v in value if v is not None)
    if isinstance(value, Mapping):
        return LIST_SEPARATOR.join(f"{k}: {_text(v)}" for k, v in value.items())
    if isinstance(value, datetime | date):
        return str(_moment(value, for_xlsx=False))
    return str(value)
