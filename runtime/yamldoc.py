"""Reading YAML documents with their line numbers, for errors that point at
the file, the line and the path: shared by the bot loader and the scenario
loader."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from runtime.errors import Problem

__all__ = ["YAML_LOADER", "LineMap", "did_you_mean", "schema_problems"]

Path_ = tuple[str | int, ...]
# libyaml's loader when PyYAML was built with it: same nodes and marks, faster.
YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class LineMap:
    """Maps a path in the document to the line of YAML it comes from."""

    def __init__(self, root: yaml.Node) -> None:
        self._root = root

    def line(self, path: Path_) -> int:
        node = self._root
        line = node.start_mark.line + 1
        for part in path:
            if isinstance(node, yaml.MappingNode):
                for key, value in node.value:
                    if key.value == str(part):
                        line, node = key.start_mark.line + 1, value
                        break
                else:
                    break
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
                if part >= len(node.value):
                    break
                node = node.value[part]
                line = node.start_mark.line + 1
            else:
                break
        return line


def schema_problems(validator: Draft202012Validator, document: object,
                    lines: LineMap) -> list[Problem]:
    """Every way ``document`` fails ``validator``'s schema, with path and line."""
    found: dict[tuple[str, str], Problem] = {}
    for error in validator.iter_errors(document):
        # For oneOf/anyOf failures the useful message is in the sub-errors.
        leaf = best_match(error.context) if error.context else error
        path = tuple(leaf.absolute_path)
        reason = leaf.message
        if leaf.validator == "additionalProperties" and isinstance(leaf.instance, dict):
            # Point at the unknown key itself, and say what is allowed there.
            known = list(leaf.schema.get("properties", {}))
            extra = sorted(set(leaf.instance) - set(known))
            if extra and known:
                path = (*path, extra[0])
                hint = did_you_mean(extra[0], known)
                reason = f"unknown key {extra[0]!r}{hint}; use one of: " + ", ".join(known)
        text = "/".join(str(p) for p in path)
        found[(text, reason)] = Problem(text, lines.line(path), reason)
    return sorted(found.values(), key=lambda p: (p.line or 0, p.path, p.reason))


def did_you_mean(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
