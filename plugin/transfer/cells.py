"""Profile values as spreadsheet cells, safe to open.

Spreadsheet programs evaluate a cell that starts with ``=``, ``+``, ``-``,
``@``, a tab or a carriage return: :func:`neutralise` prefixes such text
with ``'`` so it is shown as is, never run as a formula ("CSV injection").
:func:`flatten` turns any profile value into one cell. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

__all__ = ["flatten", "neutralise"]

# Spreadsheet programs evaluate a cell that starts with one of these.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(text: str) -> str:
    """Text a spreadsheet shows as is, never as a formula."""
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def flatten(value: Any, *, for_xlsx: bool = False) -> Any:
    """A profile value as one cell: lists joined by "; ", mappings as "k: v".

    Times are UTC: ISO 8601 text in CSV; naive datetimes (and dates) in XLSX,
    which has no time zones, so the sheet can compute with them.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return value
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        moment = moment.astimezone(UTC)
        return (moment.replace(tzinfo=None) if for_xlsx
                else moment.isoformat(timespec="seconds").replace("+00:00", "Z"))
    if isinstance(value, date):
        return value if for_xlsx else value.isoformat()
    if isinstance(value, list | tuple):
        return neutralise("; ".join(str(flatten(v)) for v in value if v is not None))
    if isinstance(value, Mapping):
        return neutralise("; ".join(f"{k}: {flatten(v)}" for k, v in value.items()))
    return neutralise(str(value))
