"""JSON Schema documents for every request and response body and file format.

Loaded once (a :class:`~plugin.core.documents.SchemaSet` of this folder);
:func:`validator` gives one compiled validator per schema, and
:func:`errors` turns a document's schema failures into sorted
``{"path", "message"}`` records.
"""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator

from plugin.core.documents import SchemaSet, first_problems, leaf_errors, shorten
from plugin.core.errors import InvalidRequest

__all__ = ["names", "load", "validator", "errors", "check"]

_SCHEMAS = SchemaSet(__name__)


def names() -> tuple[str, ...]:
    return _SCHEMAS.names()


def load(name: str) -> dict[str, Any]:
    return _SCHEMAS.schema(name)


def validator(name: str) -> Draft202012Validator:
    return _SCHEMAS.validator(name)


def errors(name: str, document: object) -> list[dict[str, str]]:
    """Every way ``document`` fails schema ``name``, as path + message, sorted."""
    found = []
    for leaf in leaf_errors(validator(name), document):
        path = "/".join(str(p) for p in leaf.absolute_path) or "(body)"
        # A schema message quotes the value it refuses, which may be the whole body.
        found.append({"path": shorten(path), "message": shorten(leaf.message)})
    unique = {(e["path"], e["message"]): e for e in found}
    return sorted(unique.values(), key=lambda e: (_path_key(e["path"]), e["message"]))


def check(name: str, document: object, what: str = "the request body") -> None:
    """Raises:
        InvalidRequest: ``document`` fails schema ``name``; ``details`` lists
            the failures with their paths (the first
            :data:`~plugin.core.documents.MAX_PROBLEMS_SHOWN`, and in ``more``
            how many are left out).
    """
    problems = errors(name, document)
    if problems:
        listed = "; ".join(f"{p['path']}: {p['message']}" for p in problems[:5])
        if len(problems) > 5:
            listed += f"; … and {len(problems) - 5} more"
        shown, more = first_problems(problems)
        extra = {"more": len(problems) - len(shown)} if more else {}
        raise InvalidRequest(f"{what} is invalid: {listed}", errors=list(shown), **extra)


def _path_key(path: str) -> tuple[tuple[int, object], ...]:
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in path.split("/"))
