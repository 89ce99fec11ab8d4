"""YAML and JSON Schema documents, for the plugin, the runtime and the simulator.

One YAML loader (:data:`YAML_LOADER`, a safe one); YAML text read together with
its node tree, so that a path in the document maps back to a line
(:class:`LineMap`); the ``*.schema.json`` files of a package folder as one
:class:`SchemaSet`, whose schemas ``$ref`` each other by name; and a
document's schema failures as :class:`Problem` records with path, line and a
suggestion for a misspelt key.

>>> document = parse_yaml("bot:\\n  id: hello\\n")
>>> document.data, document.lines.line(("bot", "id"))
({'bot': {'id': 'hello'}}, 2)

Reads nothing but package resources and the text it is given. Imports only
the standard library, PyYAML, jsonschema, referencing and
:mod:`plugin.core.errors`.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib import resources
from importlib.abc import Traversable
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource

from plugin.core.errors import InvalidRequest

__all__ = [
    "YAML_LOADER",
    "DocumentPath",
    "LineMap",
    "Problem",
    "SchemaSet",
    "UnreadableYaml",
    "YamlDocument",
    "did_you_mean",
    "leaf_errors",
    "load_yaml",
    "parse_yaml",
    "schema_problems",
]

DocumentPath = tuple[str | int, ...]
# libyaml's loader when PyYAML was built with it: same nodes and marks, faster.
# Every YAML file is read with this one loader: the pure-Python loader rejects
# some flow mappings libyaml accepts (``{prompt: How old are you?, retries: 3}``).
YAML_LOADER: type[yaml.CSafeLoader] | type[yaml.SafeLoader] = getattr(
    yaml, "CSafeLoader", yaml.SafeLoader
)
_SCHEMA_SUFFIX = ".schema.json"


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a document: where (path in the document, 1-based
    line) and why."""

    path: str
    line: int | None
    reason: str

    def describe(self, source: str) -> str:
        where = f"{source}:{self.line}" if self.line is not None else source
        return f"{where}: {self.path or '(document)'}: {self.reason}"

    def to_dict(self) -> dict[str, object]:
        return {"path": self.path, "line": self.line, "reason": self.reason}


class UnreadableYaml(InvalidRequest):
    """Text that is not one YAML document: a syntax error, or nothing at all.
    ``problem`` says where and why, for the caller's own document error."""

    code = "invalid_yaml"

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.reason, line=problem.line)
        self.problem = problem


# --- YAML -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LineMap:
    """Maps a path in a YAML document to the line it comes from."""

    root: yaml.Node

    def line(self, path: DocumentPath) -> int:
        """The line of the deepest part of ``path`` that exists in the document."""
        node = self.root
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


@dataclass(frozen=True, slots=True)
class YamlDocument:
    """A YAML document's plain data, and the lines its paths come from."""

    data: Any
    lines: LineMap


def parse_yaml(text: str) -> YamlDocument:
    """Read one YAML document with :data:`YAML_LOADER`, keeping its node tree.

    Raises:
        UnreadableYaml: the text is not valid YAML, holds more than one
            document, or is empty.
    """
    loader = YAML_LOADER(text)
    try:
        # Composed once: the data is built from the same nodes the lines come from.
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as exc:
        raise UnreadableYaml(_syntax_problem(exc)) from None
    except yaml.YAMLError as exc:
        raise UnreadableYaml(Problem("", None, f"invalid YAML: {exc}")) from None
    finally:
        loader.dispose()
    if root is None:
        raise UnreadableYaml(Problem("", None, "the file is empty"))
    return YamlDocument(data, LineMap(root))


def load_yaml(text: str) -> Any:
    """The plain data of one YAML document, read with :data:`YAML_LOADER`
    (``None`` for an empty one).

    Raises:
        yaml.YAMLError: the text is not valid YAML.
    """
    return yaml.load(text, Loader=YAML_LOADER)  # a safe loader: plain data only


def _syntax_problem(exc: yaml.MarkedYAMLError) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark is not None else None
    reason = f"invalid YAML: {exc.problem or exc.context}"
    if exc.problem and exc.context and exc.context_mark is not None:
        reason += f" ({exc.context} started at line {exc.context_mark.line + 1})"
    return Problem("", line, reason)


# --- JSON Schema ------------------------------------------------------------


class SchemaSet:
    """The ``*.schema.json`` files of one package folder, each named by its
    file name without the suffix (``segment.create``) and able to ``$ref`` the
    others by that name. Read on first use; one validator per schema, built
    once.

    Args:
        package: the package holding the schemas (``"plugin.schemas"``).
        folder: the folder inside it, if not the package itself (``"schemas"``).
    """

    def __init__(self, package: str, folder: str = "") -> None:
        self.package = package
        self.folder = folder
        self._names: tuple[str, ...] | None = None
        self._schemas: dict[str, dict[str, Any]] = {}
        self._registry: Registry[Any] | None = None
        self._validators: dict[str, Draft202012Validator] = {}

    def names(self) -> tuple[str, ...]:
        """Every schema's name, sorted."""
        if self._names is None:
            files = self._folder().iterdir()
            self._names = tuple(
                sorted(f.name[: -len(_SCHEMA_SUFFIX)] for f in files
                       if f.name.endswith(_SCHEMA_SUFFIX))
            )
        return self._names

    def schema(self, name: str) -> dict[str, Any]:
        """The schema ``name`` as a dict (the same one on every call).

        Raises:
            FileNotFoundError: the folder has no such schema.
        """
        if name not in self._schemas:
            text = self._folder().joinpath(name + _SCHEMA_SUFFIX).read_text("utf-8")
            self._schemas[name] = json.loads(text)
        return self._schemas[name]

    def validator(self, name: str) -> Draft202012Validator:
        """The validator of schema ``name``, resolving references to the others.

        Raises:
            FileNotFoundError: the folder has no such schema.
        """
        if name not in self._validators:
            self._validators[name] = Draft202012Validator(
                self.schema(name), registry=self._all()
            )
        return self._validators[name]

    def _all(self) -> Registry[Any]:
        if self._registry is None:
            self._registry = Registry().with_resources(
                (name, Resource.from_contents(self.schema(name))) for name in self.names()
            )
        return self._registry

    def _folder(self) -> Traversable:
        root = resources.files(self.package)
        return root.joinpath(self.folder) if self.folder else root


def leaf_errors(validator: Draft202012Validator, document: object) -> Iterator[ValidationError]:
    """Every way ``document`` fails ``validator``'s schema, each as its most
    telling error."""
    for error in validator.iter_errors(document):
        # For oneOf/anyOf and if/then failures the useful message is in the sub-errors.
        yield best_match(error.context) if error.context else error


def schema_problems(validator: Draft202012Validator, document: object,
                    lines: LineMap) -> list[Problem]:
    """Every way ``document`` fails ``validator``'s schema, with path and line,
    sorted by line."""
    found: dict[tuple[str, str], Problem] = {}
    for leaf in leaf_errors(validator, document):
        path: DocumentPath = tuple(leaf.absolute_path)
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
    """`` (did you mean 'x'?)`` for the known name closest to ``name``, or ``""``."""
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
