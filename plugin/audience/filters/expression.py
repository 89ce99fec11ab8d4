"""Tokenizer and recursive-descent parser for filter expressions.

Owns the expression language and its error messages; knows nothing about
conditions' contents, properties or MongoDB.

Grammar (AND binds tighter than OR; keywords are case-insensitive)::

    expression := or_expr END
    or_expr    := and_expr ("or" and_expr)*
    and_expr   := primary ("and" primary)*
    primary    := label | "(" or_expr ")"
    label      := 1 | 2 | 3 | … | A | B | … | Z     (letters in either case)

Worked example with three conditions: ``"a AND (2 or C)"`` tokenizes to
``a`` ``AND`` ``(`` ``2`` ``or`` ``C`` ``)``. ``or_expr`` reads one ``and_expr``;
that reads the primary ``a`` (condition 1), sees ``AND``, reads the primary
``( … )`` whose inner ``or_expr`` is ``2 or C``, and the result is
``And((Ref(0), Or((Ref(1), Ref(2)))))``, printed canonically as
``1 and (2 or 3)``. Without parentheses, ``1 and 2 or 3`` is
``(1 and 2) or 3``.

Every error is a :class:`~plugin.core.errors.FilterError` whose details hold the
0-based ``position`` of the offending character and the offending ``token``
("" when the expression ended too early). The leftmost problem is reported.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum

from plugin.audience.filters.ast import And, Node, Or, Ref
from plugin.core.errors import FilterError

__all__ = ["MAX_EXPRESSION_LENGTH", "MAX_NESTING_DEPTH", "parse_expression"]

MAX_EXPRESSION_LENGTH = 1000
MAX_NESTING_DEPTH = 32
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_TOKEN = re.compile(
    r"\s+|(?P<number>[0-9]+)|(?P<word>[^\W\d_]+)|(?P<paren>[()])|(?P<other>.)", re.S
)
_HINTS = {
    "&": "write AND instead of '&'",
    "|": "write OR instead of '|'",
    "!": "NOT is not supported; use a negative operator in the condition instead",
}
_NOT_HINT = (
    "NOT is not supported; use a negative operator in the condition instead "
    "(not_equals, not_contains, not_in, ne, is_not_set)"
)
_LANGUAGE = "use condition numbers (1, 2, …) or letters (A, B, …) with AND, OR and parentheses"


class _Kind(Enum):
    LABEL = "label"
    AND = "and"
    OR = "or"
    OPEN = "("
    CLOSE = ")"
    END = "end"


@dataclass(frozen=True, slots=True)
class _Token:
    kind: _Kind
    text: str
    position: int
    number: int = 0  # 1-based condition number, for labels only


def _tokens(text: str) -> Iterator[_Token]:
    # A generator, so the parser meets a bad character only when it gets there
    # and the leftmost error wins.
    for match in _TOKEN.finditer(text):
        position = match.start()
        token = match.group()
        if match.group("number") is not None:
            yield _Token(_Kind.LABEL, token, position, int(token))
        elif match.group("word") is not None:
            yield _word(token, position)
        elif match.group("paren") is not None:
            yield _Token(_Kind.OPEN if token == "(" else _Kind.CLOSE, token, position)
        elif match.group("other") is not None:
            hint = _HINTS.get(token, _LANGUAGE)
            raise FilterError(
                f"unexpected character {token!r} at position {position}: {hint}",
                position=position,
                token=token,
            )
    yield _Token(_Kind.END, "", len(text))


def _word(token: str, position: int) -> _Token:
    lowered = token.lower()
    if lowered == "and":
        return _Token(_Kind.AND, token, position)
    if lowered == "or":
        return _Token(_Kind.OR, token, position)
    if len(token) == 1 and token.upper() in _LETTERS:
        return _Token(_Kind.LABEL, token, position, _LETTERS.index(token.upper()) + 1)
    if lowered == "not":
        message = f"{token!r} at position {position}: {_NOT_HINT}"
    else:
        message = (
            f"{token!r} at position {position} is not a condition label or operator: {_LANGUAGE}"
        )
    raise FilterError(message, position=position, token=token)


class _Parser:
    def __init__(self, text: str, condition_count: int) -> None:
        self._tokens = _tokens(text)
        self._count = condition_count
        self._previous: _Token | None = None
        self._current = next(self._tokens)
        self._depth = 0

    def _advance(self) -> None:
        self._previous = self._current
        self._current = next(self._tokens)

    def parse(self) -> Node:
        node = self._or_expr()
        token = self._current
        if token.kind is _Kind.CLOSE:
            raise _error(f"')' at position {token.position} has no matching '('", token)
        if token.kind is not _Kind.END:
            self._missing_operator(token)
        return node

    def _or_expr(self) -> Node:
        items = [self._and_expr()]
        while self._current.kind is _Kind.OR:
            self._advance()
            items.append(self._and_expr())
        return _join(Or, items)

    def _and_expr(self) -> Node:
        items = [self._primary()]
        while self._current.kind is _Kind.AND:
            self._advance()
            items.append(self._primary())
        return _join(And, items)

    def _primary(self) -> Node:
        token = self._current
        if token.kind is _Kind.LABEL:
            self._check_label(token)
            self._advance()
            return Ref(token.number - 1, token.position)
        if token.kind is _Kind.OPEN:
            return self._group(token)
        previous = self._previous
        if token.kind is _Kind.END:
            after = f" after {previous.text!r}" if previous else ""
            raise _error(
                f"expected a condition label or '('{after}, but the expression ends", token
            )
        if token.kind is _Kind.CLOSE and previous is not None and previous.kind is _Kind.OPEN:
            raise _error(
                f"empty parentheses: expected a condition label before ')' "
                f"at position {token.position}",
                token,
            )
        if token.kind is _Kind.CLOSE and self._depth == 0:
            raise _error(f"')' at position {token.position} has no matching '('", token)
        where = f"after {previous.text!r}" if previous else "at the start"
        raise _error(
            f"expected a condition label or '(' {where}, found {token.text!r} "
            f"at position {token.position}",
            token,
        )

    def _group(self, opening: _Token) -> Node:
        self._depth += 1
        if self._depth > MAX_NESTING_DEPTH:
            raise _error(
                f"parentheses nested deeper than {MAX_NESTING_DEPTH} levels "
                f"at position {opening.position}",
                opening,
            )
        self._advance()
        node = self._or_expr()
        token = self._current
        if token.kind is _Kind.END:
            raise _error(f"'(' at position {opening.position} is never closed", opening)
        if token.kind is not _Kind.CLOSE:
            self._missing_operator(token)
        self._advance()
        self._depth -= 1
        return node

    def _check_label(self, token: _Token) -> None:
        if 1 <= token.number <= self._count:
            return
        name = token.text if token.text.isdigit() else f"{token.text} ({token.number})"
        if self._count == 0:
            has = "the filter has no conditions"
        elif self._count == 1:
            has = "the filter has 1 condition"
        else:
            has = f"the filter has {self._count} conditions"
        if token.number == 0:
            has = "conditions are numbered from 1"
        raise _error(f"condition {name} at position {token.position} does not exist: {has}", token)

    def _missing_operator(self, token: _Token) -> None:
        raise _error(
            f"expected AND or OR before {token.text!r} at position {token.position}", token
        )


def _join(kind: type[And] | type[Or], items: list[Node]) -> Node:
    if len(items) == 1:
        return items[0]
    flat: list[Node] = []
    for item in items:
        # A parenthesised group of the same kind adds nothing: (1 and 2) and 3.
        flat.extend(item.items if isinstance(item, kind) else (item,))
    return kind(tuple(flat))


def _error(message: str, token: _Token) -> FilterError:
    return FilterError(message, position=token.position, token=token.text)


def parse_expression(text: str | None, condition_count: int) -> Node:
    """Parse ``text`` into a canonical tree over ``condition_count`` conditions.

    ``None`` joins every condition with AND; with no conditions at all the
    result is ``And(())``, which matches everything.

    Raises:
        FilterError: the expression is malformed, too long, nested too deeply,
            names a condition that does not exist, or leaves a condition unused.
    """
    if text is None:
        refs = tuple(Ref(index) for index in range(condition_count))
        return refs[0] if len(refs) == 1 else And(refs)
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise FilterError(
            f"the expression is longer than {MAX_EXPRESSION_LENGTH} characters",
            position=MAX_EXPRESSION_LENGTH,
            token="",
        )
    if not text.strip():
        if condition_count == 0:
            return And(())
        raise FilterError(
            "the expression is empty: write one such as '1 and 2', "
            "or leave it out to join all conditions with AND",
            position=0,
            token="",
        )
    tree = _Parser(text, condition_count).parse()
    _check_all_used(tree, condition_count)
    return tree


def _check_all_used(tree: Node, condition_count: int) -> None:
    used: set[int] = set()
    stack: list[Node] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, Ref):
            used.add(node.index)
        else:
            stack.extend(node.items)
    unused = [index + 1 for index in range(condition_count) if index not in used]
    if not unused:
        return
    if len(unused) == 1:
        message = f"condition {unused[0]} is not used in the expression"
    else:
        names = ", ".join(str(number) for number in unused[:-1])
        message = f"conditions {names} and {unused[-1]} are not used in the expression"
    raise FilterError(
        f"{message}: add it to the expression or remove it"
        if len(unused) == 1
        else f"{message}: add them to the expression or remove them",
        condition=unused[0],
        conditions=unused,
    )
