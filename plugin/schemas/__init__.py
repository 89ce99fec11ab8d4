"""JSON Schema documents for every request and response body and file format.

Loaded once; :func:`validator` gives one compiled validator per schema, and
:func:`errors` turns a document's schema failures into sorted
``{"path", "message"}`` records.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match
from referencing import Registry, Resource

from plugin.core.errors import InvalidRequest

__all__ = ["names", "load", "validator", "errors", "check"]

_SUFFIX = ".schema.json"


@functools.cache
def names() -> tuple[str, ...]:
    files = resources.files(__name__).iterdir()
    return tuple(sorted(f.name[: -len(_SUFFIX)] for f in files if f.name.endswith(_SUFFIX)))


@functools.cache
def load(name: str) -> dict[str, Any]:
    text = resources.files(__name__).joinpath(name + _SUFFIX).read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@functools.cache
def _registry() -> Registry:
    return Registry().with_resources((n, Resource.from_contents(load(n))) for n in names())


@functools.cache
def validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(load(name), registry=_registry())


def errors(name: str, document: object) -> list[dict[str, str]]:
    """Every way ``document`` fails schema ``name``, as path + message, sorted."""
    found = []
    for error in validator(name).iter_errors(document):
        # For if/then and anyOf failures the useful message is in the sub-errors.
        leaf = best_match(error.context) if error.context else error
        path = "/".join(str(p) for p in leaf.absolute_path) or "(body)"
        found.append({"path": path, "message": leaf.message})
    unique = {(e["path"], e["message"]): e for e in found}
    return sorted(unique.values(), key=lambda e: (_path_key(e["path"]), e["message"]))


def check(name: str, document: object, what: str = "the request body") -> None:
    """Raises:
        InvalidRequest: ``document`` fails schema ``name``; ``details`` lists
            every failure with its path.
    """
    problems = errors(name, document)
    if problems:
        listed = "; ".join(f"{p['path']}: {p['message']}" for p in problems[:5])
        raise InvalidRequest(f"{what} is invalid: {listed}", errors=problems)


def _path_key(path: str) -> tuple[tuple[int, object], ...]:
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in path.split("/"))
