"""The filter a command takes, read the same way by every command that takes one
(``query``, ``segments create``, ``export``): numbered ``--where`` conditions
joined by ``--expr``, or a ``--filter`` JSON file.

    --where 'email is_set' --where 'age gt 17' --expr '1 or 2'
    → {"conditions": [{"property": "email", "operator": "is_set"},
                      {"property": "age", "operator": "gt", "value": 17}],
       "expression": "1 or 2"}

A condition's value is read as JSON when it parses (numbers, lists,
``{"amount": 7, "unit": "days"}``), as text otherwise. A segment condition
(``--where 'segment in vip'``) may name the segment or give its id:
:func:`with_segment_ids` looks names up before the filter reaches a service.

Imported for ``audience --help`` (see :mod:`plugin.core.commands`): the
segment lookup imports its services when it runs.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from plugin.core.commands import arg
from plugin.core.errors import InvalidRequest

if TYPE_CHECKING:
    from plugin.db.database import Database

__all__ = ["FILTER_ARGUMENTS", "filter_from_args", "with_segment_ids"]

FILTER_ARGUMENTS = (
    arg("--where", action="append", default=[], metavar="'PROPERTY OPERATOR [VALUE]'",
        help="a condition; repeatable, numbered 1, 2, … in the order given"),
    arg("--expr", default=None,
        help="how the conditions join, e.g. '1 or 2', '(A and B) or C' (default: all hold)"),
    arg("--filter", default=None, metavar="FILE",
        help="a JSON file holding {conditions, expression} instead of --where/--expr"),
)


def filter_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The filter given by ``--where``/``--expr`` or ``--filter``.

    Raises:
        InvalidRequest: both kinds given, a ``--where`` without an operator, or a
            ``--filter`` file that cannot be read or holds no JSON object.
    """
    if args.filter is not None:
        if args.where or args.expr:
            raise InvalidRequest("give either --filter or --where/--expr, not both")
        return _read_filter(Path(args.filter))
    return {"conditions": [_condition(text, n) for n, text in enumerate(args.where, 1)],
            "expression": args.expr}


def _read_filter(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise InvalidRequest(f"cannot read --filter {path}: {reason}") from None
    try:
        loaded = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidRequest(f"{path} is not JSON: {exc}") from None
    if not isinstance(loaded, dict):
        raise InvalidRequest(f"{path} must hold a JSON object")
    return loaded


def _condition(text: str, number: int) -> dict[str, Any]:
    parts = text.split(None, 2)
    if len(parts) < 2:
        raise InvalidRequest(f"--where {number} ({text!r}) needs a property and an operator")
    condition: dict[str, Any] = {"property": parts[0], "operator": parts[1]}
    if len(parts) == 3:
        try:
            condition["value"] = json.loads(parts[2])
        except json.JSONDecodeError:
            condition["value"] = parts[2]
    return condition


async def with_segment_ids(db: Database, bot_id: str, filter_: dict[str, Any]) -> dict[str, Any]:
    """``filter_`` with each segment condition's value, a segment's name or id, made its id.

    Raises:
        NotFound: the bot has no segment of that name or id.
    """
    # Imported here, not at the top: see the module docstring.
    from plugin.audience.filters import SEGMENT_PROPERTY
    from plugin.audience.spec import find_segment

    conditions = filter_.get("conditions")
    if not isinstance(conditions, list):
        return filter_  # the service reports the shape
    resolved: list[Any] = []
    for condition in conditions:
        if (isinstance(condition, dict) and condition.get("property") == SEGMENT_PROPERTY
                and isinstance(condition.get("value"), str) and condition["value"]):
            segment = await find_segment(db, bot_id, condition["value"])
            condition = {**condition, "value": segment["_id"]}
        resolved.append(condition)
    return {**filter_, "conditions": resolved}
