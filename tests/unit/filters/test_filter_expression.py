"""The expression parser: valid trees, every error path with its exact
position and token, and property tests over random expressions."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from plugin.audience.filters.ast import And, Node, Or, Ref, format_expression
from plugin.audience.filters.expression import (
    MAX_EXPRESSION_LENGTH,
    MAX_NESTING_DEPTH,
    parse_expression,
)
from plugin.core.errors import FilterError

R1, R2, R3, R4 = Ref(0), Ref(1), Ref(2), Ref(3)


@pytest.mark.parametrize(
    ("text", "count", "expected"),
    [
        ("1", 1, R1),
        ("A", 1, R1),
        ("a", 1, R1),
        ("1 and 2", 2, And((R1, R2))),
        ("1 AND 2", 2, And((R1, R2))),
        ("1 And b", 2, And((R1, R2))),
        ("1 or 2", 2, Or((R1, R2))),
        ("1 OR 2 oR 3", 3, Or((R1, R2, R3))),
        # AND binds tighter than OR, on either side.
        ("1 and 2 or 3", 3, Or((And((R1, R2)), R3))),
        ("1 or 2 and 3", 3, Or((R1, And((R2, R3))))),
        ("(1 or 2) and 3", 3, And((Or((R1, R2)), R3))),
        ("1 and (2 or 3)", 3, And((R1, Or((R2, R3))))),
        ("a AND (2 or C)", 3, And((R1, Or((R2, R3))))),
        # Redundant parentheses and same-kind nesting flatten away.
        ("((1))", 1, R1),
        ("(1 and 2) and 3", 3, And((R1, R2, R3))),
        ("1 or (2 or (3 or 4))", 4, Or((R1, R2, R3, R4))),
        ("(1 or 2) and (3 or 4)", 4, And((Or((R1, R2)), Or((R3, R4))))),
        # Whitespace is optional between tokens and may be any space.
        ("1and2", 2, And((R1, R2))),
        ("(1)or(2)", 2, Or((R1, R2))),
        ("\t1\nand  2 ", 2, And((R1, R2))),
        # A label may appear twice.
        ("1 or 1 and 2", 2, Or((R1, And((R1, R2))))),
        ("01", 1, R1),
    ],
)
def test_parses(text: str, count: int, expected: Node) -> None:
    assert parse_expression(text, count) == expected


def test_letters_reach_z_and_numbers_go_further() -> None:
    text = " and ".join("ABCDEFGHIJKLMNOPQRSTUVWXYz") + " and 27"
    assert parse_expression(text, 27) == And(tuple(Ref(index) for index in range(27)))


def test_ref_positions_point_at_labels() -> None:
    tree = parse_expression(" 1 and (b or 3)", 3)
    assert isinstance(tree, And)
    first, group = tree.items
    assert isinstance(first, Ref) and first.position == 1
    assert isinstance(group, Or)
    assert [ref.position for ref in group.items if isinstance(ref, Ref)] == [8, 13]


@pytest.mark.parametrize(
    ("count", "expected"),
    [(0, And(())), (1, R1), (3, And((R1, R2, R3)))],
)
def test_no_expression_joins_all_with_and(count: int, expected: Node) -> None:
    assert parse_expression(None, count) == expected


@pytest.mark.parametrize("text", ["", "   "])
def test_empty_expression_without_conditions_matches_everything(text: str) -> None:
    assert parse_expression(text, 0) == And(())


# (expression, condition count, position, token, words the message must hold)
ERRORS = [
    ("", 2, 0, "", "the expression is empty"),
    ("  \n", 2, 0, "", "the expression is empty"),
    ("NOT 1", 1, 0, "NOT", "NOT is not supported"),
    ("1 and not 2", 2, 6, "not", "NOT is not supported"),
    ("1 xor 2", 2, 2, "xor", "'xor' at position 2 is not a condition label or operator"),
    ("AB", 2, 0, "AB", "is not a condition label or operator"),
    ("4", 3, 0, "4", "condition 4 at position 0 does not exist: the filter has 3 conditions"),
    ("1 or D", 3, 5, "D", "condition D (4) at position 5 does not exist"),
    ("1 or d", 3, 5, "d", "condition d (4) at position 5 does not exist"),
    ("0", 1, 0, "0", "conditions are numbered from 1"),
    ("2", 1, 0, "2", "the filter has 1 condition"),
    ("1", 0, 0, "1", "the filter has no conditions"),
    ("99999999999999999999", 3, 0, "99999999999999999999", "does not exist"),
    ("1 and", 2, 5, "", "expected a condition label or '(' after 'and', but the expression ends"),
    ("1 OR ", 2, 5, "", "after 'OR', but the expression ends"),
    ("and 1", 1, 0, "and", "expected a condition label or '(' at the start, found 'and'"),
    ("1 and or 2", 2, 6, "or", "after 'and', found 'or' at position 6"),
    ("1 2", 2, 2, "2", "expected AND or OR before '2' at position 2"),
    ("1 (2)", 2, 2, "(", "expected AND or OR before '('"),
    ("(1) 2", 2, 4, "2", "expected AND or OR before '2'"),
    ("(1 2)", 2, 3, "2", "expected AND or OR before '2'"),
    ("(1", 1, 0, "(", "'(' at position 0 is never closed"),
    ("1 and (2 or (1)", 2, 6, "(", "'(' at position 6 is never closed"),
    ("(", 1, 1, "", "after '(', but the expression ends"),
    ("1)", 1, 1, ")", "')' at position 1 has no matching '('"),
    (")1", 1, 0, ")", "')' at position 0 has no matching '('"),
    ("(1))", 1, 3, ")", "')' at position 3 has no matching '('"),
    ("()", 1, 1, ")", "empty parentheses"),
    (
        "1 and ( )",
        1,
        8,
        ")",
        "empty parentheses: expected a condition label before ')' at position 8",
    ),
    ("1 and )", 1, 6, ")", "')' at position 6 has no matching '('"),
    ("(1 and )", 1, 7, ")", "after 'and', found ')' at position 7"),
    ("1 && 2", 2, 2, "&", "write AND instead of '&'"),
    ("1 || 2", 2, 2, "|", "write OR instead of '|'"),
    ("!1", 1, 0, "!", "NOT is not supported"),
    ("1 and 2;", 2, 7, ";", "unexpected character ';' at position 7"),
    ("1_", 1, 1, "_", "unexpected character '_'"),
    ("1 and é", 1, 6, "é", "is not a condition label or operator"),
    ("1 or 2", 3, None, None, "condition 3 is not used in the expression"),
    ("2", 3, None, None, "conditions 1 and 3 are not used in the expression"),
    ("1", 4, None, None, "conditions 2, 3 and 4 are not used"),
    # The leftmost problem wins, even when a later one is found by the tokenizer.
    ("1 2 &", 2, 2, "2", "expected AND or OR"),
    ("5 and 1 2", 2, 0, "5", "condition 5"),
]


@pytest.mark.parametrize(("text", "count", "position", "token", "words"), ERRORS)
def test_errors_name_position_and_token(
    text: str, count: int, position: int | None, token: str | None, words: str
) -> None:
    with pytest.raises(FilterError) as caught:
        parse_expression(text, count)
    error = caught.value
    assert words in error.message
    assert error.code == "invalid_filter"
    if position is None:
        assert "position" not in error.details
        assert "condition" in error.details
    else:
        assert error.details == {"position": position, "token": token}
        assert 0 <= position <= len(text)


def test_unused_conditions_are_listed() -> None:
    with pytest.raises(FilterError) as caught:
        parse_expression("2", 4)
    assert caught.value.details == {"condition": 1, "conditions": [1, 3, 4]}
    assert caught.value.message.endswith("add them to the expression or remove them")


def test_expression_length_is_bounded() -> None:
    long = " or ".join(["1"] * 300)
    assert len(long) > MAX_EXPRESSION_LENGTH
    with pytest.raises(FilterError) as caught:
        parse_expression(long, 1)
    assert caught.value.details == {"position": MAX_EXPRESSION_LENGTH, "token": ""}
    assert f"longer than {MAX_EXPRESSION_LENGTH} characters" in caught.value.message
    just_fits = ("1 or " * 200)[: MAX_EXPRESSION_LENGTH - 1] + "1"
    assert len(just_fits) == MAX_EXPRESSION_LENGTH
    assert parse_expression(just_fits.replace("or 1or", "or 1 or"), 1) is not None


def test_nesting_depth_is_bounded() -> None:
    deepest = "(" * MAX_NESTING_DEPTH + "1" + ")" * MAX_NESTING_DEPTH
    assert parse_expression(deepest, 1) == R1
    too_deep = "(" * (MAX_NESTING_DEPTH + 1) + "1" + ")" * (MAX_NESTING_DEPTH + 1)
    with pytest.raises(FilterError) as caught:
        parse_expression(too_deep, 1)
    assert caught.value.details == {"position": MAX_NESTING_DEPTH, "token": "("}
    assert f"nested deeper than {MAX_NESTING_DEPTH} levels" in caught.value.message


def test_sibling_groups_do_not_add_up_to_depth() -> None:
    text = " and ".join(["((((1))))"] * 20)
    assert parse_expression(text, 1) == And((R1,) * 20)


@pytest.mark.parametrize(
    ("tree", "text"),
    [
        (R1, "1"),
        (And(()), ""),
        (And((R1, Or((R2, R3)))), "1 and (2 or 3)"),
        (Or((And((R1, R2)), R3)), "1 and 2 or 3"),
    ],
)
def test_format_expression(tree: Node, text: str) -> None:
    assert format_expression(tree) == text


# --- property tests -----------------------------------------------------------

COUNT = 6


def _canonical(tree: Node) -> Node:
    """Merge children into a parent of the same kind, as the parser does."""
    if isinstance(tree, Ref):
        return tree
    items: list[Node] = []
    for child in map(_canonical, tree.items):
        items.extend(child.items if type(child) is type(tree) else (child,))
    return type(tree)(tuple(items))


TREES = st.recursive(
    st.builds(Ref, st.integers(0, COUNT - 1)),
    lambda children: (
        st.builds(And, st.lists(children, min_size=2, max_size=4).map(tuple))
        | st.builds(Or, st.lists(children, min_size=2, max_size=4).map(tuple))
    ),
    max_leaves=12,
).map(_canonical)


def _refs(tree: Node) -> set[int]:
    if isinstance(tree, Ref):
        return {tree.index}
    return set().union(*(_refs(item) for item in tree.items))


def _renumber(tree: Node, numbers: dict[int, int]) -> Node:
    if isinstance(tree, Ref):
        return Ref(numbers[tree.index])
    return type(tree)(tuple(_renumber(item, numbers) for item in tree.items))


@given(TREES)
def test_printed_tree_parses_back_to_itself(tree: Node) -> None:
    # Every condition must be used: number the used ones 0..n-1.
    used = sorted(_refs(tree))
    tree = _renumber(tree, {old: new for new, old in enumerate(used)})
    assert parse_expression(format_expression(tree), len(used)) == tree


@st.composite
def _expressions(draw: st.DrawFn, depth: int = 3) -> str:
    """Random well-formed expression text with random case, spacing, labels
    and redundant parentheses."""
    space = draw(st.sampled_from([" ", "  ", "\t"]))
    if depth == 0 or draw(st.booleans()):
        index = draw(st.integers(0, COUNT - 1))
        label = draw(st.sampled_from([str(index + 1), "ABCDEF"[index], "abcdef"[index]]))
        return f"({label})" if draw(st.integers(0, 5)) == 0 else label
    parts = draw(st.lists(_expressions(depth - 1), min_size=2, max_size=3))
    words = [draw(st.sampled_from(["and", "AND", "And", "or", "OR", "oR"])) for _ in parts[1:]]
    text = parts[0]
    for word, part in zip(words, parts[1:], strict=True):
        text += f"{space}{word}{space}{part}"
    return f"({text})" if draw(st.booleans()) else text


def _python_value(text: str, values: list[bool]) -> bool:
    """The same expression evaluated by Python's own and/or precedence."""

    def label(match: re.Match[str]) -> str:
        word = match.group()
        if word.lower() in ("and", "or"):
            return word.lower()
        index = int(word) - 1 if word.isdigit() else "ABCDEF".index(word.upper())
        return str(values[index])

    # Only True, False, and, or and parentheses remain in the text by now.
    return bool(eval(re.sub(r"[A-Za-z]+|\d+", label, text), {"__builtins__": {}}))


def _tree_value(tree: Node, values: list[bool]) -> bool:
    if isinstance(tree, Ref):
        return values[tree.index]
    if isinstance(tree, And):
        return all(_tree_value(item, values) for item in tree.items)
    return any(_tree_value(item, values) for item in tree.items)


@given(_expressions(), st.lists(st.booleans(), min_size=COUNT, max_size=COUNT))
def test_precedence_matches_python_and_or(text: str, values: list[bool]) -> None:
    # Every condition must be used; this tail changes the value only when all are true.
    text += " or (1 and 2 and 3 and 4 and 5 and 6)"
    tree = parse_expression(text, COUNT)
    assert _tree_value(tree, values) == _python_value(text, values)
    # The canonical print means the same thing and is a fixed point.
    printed = format_expression(tree)
    assert parse_expression(printed, COUNT) == tree
    assert _python_value(printed, values) == _tree_value(tree, values)


@given(st.text(alphabet="12345abcAB ()&|!xnotNOTdr\t", max_size=40))
def test_garbage_raises_only_filter_errors_inside_the_text(text: str) -> None:
    try:
        tree = parse_expression(text, 5)
    except FilterError as error:
        position = error.details.get("position")
        if position is not None:
            assert isinstance(position, int) and 0 <= position <= len(text)
            token = error.details["token"]
            assert isinstance(token, str)
            assert text[position : position + len(token)] == token
        return
    assert _refs(tree) == set(range(5))
