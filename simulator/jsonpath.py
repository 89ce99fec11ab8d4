"""The JSONPath subset the webhook target maps requests and replies with, and
Botium's ``JSON_PATH`` asserter reads: ``$``, ``.name``, ``['name']``, ``[0]``,
``[-1]`` (from the end), ``[*]`` / ``.*`` (every item or value) and ``..name``
(``name`` at any depth).

>>> find({"replies": [{"text": "a"}, {"text": "b"}]}, "$.replies[*].text")
['a', 'b']
>>> doc: dict = {}
>>> put(doc, "$.message.text", "hi"); doc
{'message': {'text': 'hi'}}
>>> find({"replies": [{"text": "a", "buttons": [{"payload": "X"}]}]}, "$..payload")
['X']

Pure: no I/O.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["JsonPathError", "parse", "find", "put"]

_TOKEN = re.compile(r"\.\.([A-Za-z_][\w-]*)|\.([A-Za-z_][\w-]*)|\[(-?\d+)\]|\[\*\]|\.\*"
                    r"|\['([^']*)'\]")
_ALL = "*"


class _Deep(str):
    """A name looked for at any depth (``..name``)."""

    __slots__ = ()


class JsonPathError(ValueError):
    pass


def parse(path: str) -> list[str | int]:
    """The steps of ``path``: names, indexes and ``"*"`` for every item.

    Raises:
        JsonPathError: ``path`` is not in the supported subset.
    """
    if not path.startswith("$"):
        raise JsonPathError(f"{path!r} must start with '$'")
    steps: list[str | int] = []
    position = 1
    while position < len(path):
        match = _TOKEN.match(path, position)
        if match is None:
            raise JsonPathError(f"{path!r}: cannot read from position {position}")
        deep, name, index, quoted = match.groups()
        if deep is not None:
            steps.append(_Deep(deep))
        elif name is not None or quoted is not None:
            steps.append(name if name is not None else quoted)
        elif index is not None:
            steps.append(int(index))
        else:
            steps.append(_ALL)
        position = match.end()
    return steps


def find(document: Any, path: str) -> list[Any]:
    """Every value ``path`` reaches in ``document`` (none when it reaches nothing)."""
    current = [document]
    for step in parse(path):
        following: list[Any] = []
        for value in current:
            if isinstance(step, _Deep):
                following += _descend(value, str(step))
            elif step == _ALL and isinstance(value, list):
                following += value
            elif step == _ALL and isinstance(value, dict):
                following += list(value.values())
            elif isinstance(step, int) and isinstance(value, list) and -len(value) <= step < len(
                    value):
                following.append(value[step])
            elif isinstance(step, str) and isinstance(value, dict) and step in value:
                following.append(value[step])
        current = following
    return current


def _descend(value: Any, name: str) -> list[Any]:
    """Every value under key ``name`` in ``value`` and below, in document order."""
    found: list[Any] = []
    if isinstance(value, dict):
        if name in value:
            found.append(value[name])
        for child in value.values():
            found += _descend(child, name)
    elif isinstance(value, list):
        for child in value:
            found += _descend(child, name)
    return found


def put(document: dict[str, Any], path: str, value: Any) -> None:
    """Set ``value`` at ``path`` (names only), creating objects on the way.

    Raises:
        JsonPathError: the path is empty or has indexes.
    """
    steps = parse(path)
    if not steps or not all(isinstance(s, str) and s != _ALL and not isinstance(s, _Deep)
                            for s in steps):
        raise JsonPathError(f"{path!r}: a request field is a path of names, like $.message.text")
    target = document
    for step in steps[:-1]:
        target = target.setdefault(str(step), {})
    target[str(steps[-1])] = value
