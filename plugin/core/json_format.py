"""Audience's JSON text, wherever it is written (API responses, webhook
deliveries, the command line): datetimes as ISO 8601 UTC with milliseconds,
ObjectIds as their hex string, and never NaN or Infinity (they are not JSON:
a float that is not finite is written as null)."""

from __future__ import annotations

import json
import math
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


def dumps(value: object) -> str:
    try:
        return json.dumps(value, default=_default, ensure_ascii=False, allow_nan=False)
    except ValueError:
        # A float that is not finite: the doors refuse them, so only a value
        # stored before they did (or by another program) gets here. The copy
        # is made then, not on every call.
        return json.dumps(_finite(value), default=_default, ensure_ascii=False,
                          allow_nan=False)


def _finite(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value
