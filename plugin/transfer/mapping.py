"""Mapping a file's columns onto profile properties.

Without a mapping, :func:`propose_mapping` matches the header with property
names and labels (case and punctuation ignored); a mapping given is checked
whole by :func:`check_mapping` before any row is read. Pure.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from plugin.core.errors import InvalidRequest
from plugin.core.properties import SYSTEM_PROPERTIES, PropertyDef

__all__ = ["IGNORE", "check_mapping", "propose_mapping"]

IGNORE = "ignore"  # a column mapped to nothing
_NOT_ALNUM = re.compile(r"[^0-9a-z]+")


def _squash(text: str) -> str:
    return _NOT_ALNUM.sub("", text.casefold())


def propose_mapping(columns: list[str], properties: Mapping[str, PropertyDef]) -> dict[str, str]:
    """Each column → the property whose name or label matches it, else "ignore"."""
    known = {"user_id": SYSTEM_PROPERTIES["user_id"], **properties}
    by_key: dict[str, str] = {}
    for name, prop in known.items():
        for text in (prop.label, name):
            if text:
                by_key.setdefault(_squash(text), name)
    return {col: by_key.get(_squash(col), IGNORE) for col in columns}


def check_mapping(mapping: Mapping[str, str], columns: list[str], key: str,
                  properties: Mapping[str, PropertyDef]) -> None:
    """Raises:
        InvalidRequest: a column not in the file, a property that cannot be
            imported, or no column for the key; ``details["errors"]`` lists them.
    """
    errors = []
    for col, target in mapping.items():
        if col not in columns:
            errors.append(f"column {col!r} is not in the file")
        elif target == IGNORE or target == "user_id":
            continue
        elif target in SYSTEM_PROPERTIES:
            errors.append(f"{col!r} → {target!r}: a system property cannot be imported")
        elif target not in properties:
            errors.append(f"{col!r} → {target!r}: unknown property; define it first")
    targets = [t for t in mapping.values() if t != IGNORE]
    errors += [f"property {t!r} is mapped from two columns"
               for t in sorted(set(targets)) if targets.count(t) > 1]
    if key not in targets:
        errors.append(f"no column is mapped to the key {key!r}")
    if key != "user_id" and key not in properties:
        errors.append(f"the key {key!r} is not a property of this bot")
    if errors:
        raise InvalidRequest("the mapping is invalid, nothing was changed: "
                             + "; ".join(errors[:5]), errors=errors)
