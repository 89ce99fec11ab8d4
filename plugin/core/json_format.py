"""Audience's JSON text, wherever it is written (API responses, webhook
deliveries, the command line): datetimes as ISO 8601 UTC with milliseconds,
ObjectIds as their hex string."""

from __future__ import annotations

import functools
import json
from datetime import UTC, datetime

from bson import ObjectId

__all__ = ["isoformat", "dumps"]


def isoformat(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    text = moment.astimezone(UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def _default(value: object) -> object:
    if isinstance(value, datetime):
        return isoformat(value)
    if isinstance(value, ObjectId):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


dumps = functools.partial(json.dumps, default=_default, ensure_ascii=False)
