"""The expression tree of a filter: references to numbered conditions joined
by AND and OR.

Owns only the node types and their canonical text form. Pure data: nothing
here knows about MongoDB or profiles.

Trees built by :func:`plugin.audience.filters.expression.parse_expression` are
canonical: an ``And`` or ``Or`` never has exactly one item and never directly
holds a node of its own kind (``1 and (2 and 3)`` is ``And(1, 2, 3)``). The
only empty node is ``And(())``, which stands for "no conditions" and matches
everything.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Ref", "And", "Or", "Node", "format_expression"]


@dataclass(frozen=True, slots=True)
class Ref:
    """A reference to a condition.

    ``index`` is 0-based into the filter's condition list (condition 1 is
    index 0); ``position`` is the character offset of the label in the
    expression, or -1 when the reference is implied by a missing expression.
    """

    index: int
    # Where a label was written says nothing about what it means: two trees that
    # differ only in positions are equal.
    position: int = field(default=-1, compare=False)


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[Node, ...]


Node = Ref | And | Or


def format_expression(node: Node) -> str:
    """The canonical text of ``node``: numeric labels, lowercase operators,
    parentheses only where an OR sits inside an AND.

    >>> format_expression(And((Ref(0), Or((Ref(1), Ref(2))))))
    '1 and (2 or 3)'
    """
    if isinstance(node, Ref):
        return str(node.index + 1)
    if isinstance(node, And):
        return " and ".join(
            f"({format_expression(item)})" if isinstance(item, Or) else format_expression(item)
            for item in node.items
        )
    return " or ".join(format_expression(item) for item in node.items)
