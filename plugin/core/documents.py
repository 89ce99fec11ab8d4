"""YAML and JSON Schema documents, for the plugin, the runtime and the simulator.

One YAML loader (:data:`YAML_LOADER`, a safe one); YAML text read together with
its node tree, so that a path in the document maps back to a line
(:class:`LineMap`); the ``*.schema.json`` files of a package folder as one
:class:`SchemaSet`, whose schemas ``$ref`` each other by name; and a
document's schema failures as :class:`Problem` records with path, line and a
suggestion for a misspelt key.

Every YAML text the product reads (bot files, scenario files) goes through
:func:`parse_yaml` or :func:`load_yaml`, which bound what aliases may expand
to (:data:`MAX_ALIAS_NODES`): a few hundred bytes of nested aliases (a
"billion laughs") would otherwise become gigabytes once validated or shown in
an error. What one error says is bounded too: a :class:`Problem`'s reason
and path are cut at :data:`MAX_REASON_CHARS` characters, and
:func:`first_problems` keeps the first :data:`MAX_PROBLEMS_SHOWN` of a list.

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
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from importlib.abc import Traversable
from typing import Any, TypeVar

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource

from plugin.core.errors import InvalidRequest

__all__ = [
    "MAX_ALIAS_NODES",
    "MAX_PROBLEMS_SHOWN",
    "MAX_REASON_CHARS",
    "YAML_LOADER",
    "AliasLimitError",
    "DocumentPath",
    "LineMap",
    "Problem",
    "SchemaSet",
    "UnreadableYaml",
    "YamlDocument",
    "did_you_mean",
    "first_problems",
    "leaf_errors",
    "load_yaml",
    "parse_yaml",
    "schema_problems",
    "shorten",
]

DocumentPath = tuple[str | int, ...]
_T = TypeVar("_T")
# libyaml's loader when PyYAML was built with it: same nodes and marks, faster.
# Every YAML file is read with this one loader: the pure-Python loader rejects
# some flow mappings libyaml accepts (``{prompt: How old are you?, retries: 3}``).
YAML_LOADER: type[yaml.CSafeLoader] | type[yaml.SafeLoader] = getattr(
    yaml, "CSafeLoader", yaml.SafeLoader
)
_SCHEMA_SUFFIX = ".schema.json"
# Aliases may repeat a node (``steps: *signup``), but all the aliases of one
# document together may add at most this many nodes, each alias counting every
# node of what it repeats. The bot and scenario files in this repository add
# a few dozen; nine levels of nine aliases would add 387 million.
MAX_ALIAS_NODES = 10_000
# One error shows at most this many problems, each reason and path at most
# this many characters (a schema message quotes the value it refuses).
MAX_PROBLEMS_SHOWN = 50
MAX_REASON_CHARS = 300


def shorten(text: str, limit: int = MAX_REASON_CHARS) -> str:
    """``text``, cut to ``limit`` characters with a note of how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit} more characters)"


def first_problems(items: Sequence[_T]) -> tuple[Sequence[_T], str]:
    """The first :data:`MAX_PROBLEMS_SHOWN` of ``items``, and ``"… and N more"``
    for the rest (``""`` when none is left out)."""
    more = len(items) - MAX_PROBLEMS_SHOWN
    if more <= 0:
        return items, ""
    return items[:MAX_PROBLEMS_SHOWN], f"… and {more} more"


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a document: where (path in the document, 1-based
    line) and why."""

    path: str
    line: int | None
    reason: str

    def __post_init__(self) -> None:
        # Bounded where it is made: a reason may quote a whole value.
        object.__setattr__(self, "path", shorten(self.path))
        object.__setattr__(self, "reason", shorten(self.reason))

    def describe(self, source: str) -> str:
        where = f"{source}:{self.line}" if self.line is not None else source
        return f"{where}: {self.path or '(document)'}: {self.reason}"

    def to_dict(self) -> dict[str, object]:
        return {"path": self.path, "line": self.line, "reason": self.reason}


class AliasLimitError(yaml.MarkedYAMLError):
    """YAML whose aliases would add more than :data:`MAX_ALIAS_NODES` nodes, or
    an alias inside the node it names; ``problem_mark`` is that alias."""


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
        if root is not None:
            _check_aliases(root, text)
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
        yaml.YAMLError: the text is not valid YAML, or is an alias bomb
            (:class:`AliasLimitError`).
    """
    loader = YAML_LOADER(text)  # a safe loader: plain data only
    try:
        root = loader.get_single_node()
        if root is None:
            return None
        _check_aliases(root, text)
        return loader.construct_document(root)
    finally:
        loader.dispose()


def _check_aliases(root: yaml.Node, text: str) -> None:
    """Raise :class:`AliasLimitError` unless the aliases under ``root`` add at
    most :data:`MAX_ALIAS_NODES` nodes and none is inside what it names.

    The composed tree shares one node for an anchor and all its aliases, so its
    expanded size is counted once per distinct node; only a refused document
    is read again as events, to find the alias to point at.
    """
    sizes = _expanded_sizes(root)
    if sizes is not None and sizes[0] - sizes[1] <= MAX_ALIAS_NODES:
        return
    raise _alias_error(text)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _expanded_sizes(root: yaml.Node) -> tuple[int, int] | None:
    """(nodes once every alias is expanded, distinct nodes), or ``None`` when a
    node contains itself. Iterative: the tree may be as deep as libyaml allows."""
    size: dict[int, int] = {}
    open_: set[int] = set()  # nodes whose children are being counted: ancestors
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, counted = stack.pop()
        if counted:
            open_.discard(id(node))
            size[id(node)] = 1 + sum(size[id(child)] for child in _children(node))
            continue
        if id(node) in size:
            continue
        if id(node) in open_:
            return None
        open_.add(id(node))
        stack.append((node, True))
        for child in _children(node):
            if id(child) in open_:
                return None
            if id(child) not in size:
                stack.append((child, False))
    return size[id(root)], len(size)


def _alias_error(text: str) -> AliasLimitError:
    """The error for the first alias that goes over the limit or names a node it is in."""
    sizes: dict[str, int] = {}
    open_: list[list[Any]] = []  # [anchor, nodes so far] of each open collection
    added = 0
    for event in yaml.parse(text, Loader=YAML_LOADER):
        grown = 0
        if isinstance(event, yaml.AliasEvent):
            if any(anchor == event.anchor for anchor, _ in open_):
                return AliasLimitError(None, None, f"alias *{event.anchor} is inside the node "
                                       f"&{event.anchor} it names: it would repeat forever",
                                       _mark(event))
            grown = sizes.get(str(event.anchor), 1)
            added += grown
            if added > MAX_ALIAS_NODES:
                return AliasLimitError(
                    None, None, f"alias *{event.anchor} brings the nodes aliases add to "
                    f"{added:,}: a document's aliases may add at most {MAX_ALIAS_NODES:,} "
                    "(is this an alias bomb?)", _mark(event))
        elif isinstance(event, yaml.ScalarEvent):
            grown = 1
            if event.anchor:
                sizes[event.anchor] = 1
        elif isinstance(event, yaml.CollectionStartEvent):
            open_.append([event.anchor, 1])
        elif isinstance(event, yaml.CollectionEndEvent):
            anchor, grown = open_.pop()
            if anchor:
                sizes[anchor] = grown
        if grown and open_:
            open_[-1][1] += grown
    return AliasLimitError(None, None, "the document's aliases add more than "
                           f"{MAX_ALIAS_NODES:,} nodes", None)


def _mark(event: yaml.Event) -> yaml.Mark | None:
    # libyaml's events carry a mark of its own type: the same line and column.
    start = event.start_mark
    return yaml.Mark("<document>", 0, start.line, start.column, None, 0) if start else None


def _syntax_problem(exc: yaml.MarkedYAMLError) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark is not None else None
    if isinstance(exc, AliasLimitError):
        return Problem("", line, str(exc.problem))
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
    sorted by line.

    A misspelt key is reported as unknown with the key it resembles; the
    "'say' is a required property" the misspelling also causes in the same
    object is left out, since it only repeats the mistake less clearly."""
    found: dict[tuple[str, str], Problem] = {}
    misspelt: set[DocumentPath] = set()  # objects holding a key close to a known one
    missing: dict[tuple[str, str], DocumentPath] = {}  # required-key problems, by object
    for leaf in leaf_errors(validator, document):
        path: DocumentPath = tuple(leaf.absolute_path)
        reason = leaf.message
        if leaf.validator == "additionalProperties" and isinstance(leaf.instance, dict):
            # Point at the unknown key itself, and say what is allowed there.
            known = list(leaf.schema.get("properties", {}))
            extra = sorted(set(leaf.instance) - set(known))
            if extra and known:
                hint = did_you_mean(extra[0], known)
                if hint:
                    misspelt.add(path)
                path = (*path, extra[0])
                reason = f"unknown key {extra[0]!r}{hint}; use one of: " + ", ".join(known)
        text = "/".join(str(p) for p in path)
        found[(text, reason)] = Problem(text, lines.line(path), reason)
        if leaf.validator == "required":
            missing[(text, reason)] = path
    for key, path in missing.items():
        if path in misspelt:
            del found[key]
    return sorted(found.values(), key=lambda p: (p.line or 0, p.path, p.reason))


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the known name closest to ``name``, or ``""``."""
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
