"""The filter builder's form: URL fields to the engine's filter, rows added and
removed, the expression following the rows until the user writes their own."""

from __future__ import annotations

import pytest

from plugin.core.errors import FilterError
from plugin.core.properties import SYSTEM_PROPERTIES, PropertyDef, PropertyType
from plugin.web.filter_form import FilterForm

PROPS = {**SYSTEM_PROPERTIES, "email": PropertyDef("email", PropertyType.EMAIL),
         "plan": PropertyDef("plan", PropertyType.CHOICE, choices=("a", "b"))}


def form(**fields: str) -> FilterForm:
    return FilterForm.from_query(fields, PROPS)


def test_values_take_the_type_of_their_property() -> None:
    found = form(p1="message_count", o1="between", v1="2", w1="4.5",
                 p2="last_message_at", o2="within_last", v2="7", u2="hours",
                 p3="email", o3="in", v3="a@x.io, b@x.io,", p4="email", o4="is_set",
                 expr="1 and (2 or 3) and 4")
    assert found.to_filter(PROPS) == {"conditions": [
        {"property": "message_count", "operator": "between", "value": [2, 4.5]},
        {"property": "last_message_at", "operator": "within_last",
         "value": {"amount": 7, "unit": "hours"}},
        {"property": "email", "operator": "in", "value": ["a@x.io", "b@x.io"]},
        {"property": "email", "operator": "is_set"}], "expression": "1 and (2 or 3) and 4"}


@pytest.mark.parametrize(("fields", "message", "incomplete"), [
    ({"p1": "message_count", "o1": "gt", "v1": "many"}, "condition 1: 'many' is not a number",
     False),
    ({"p1": "email", "o1": "equals"}, "Condition 1: enter a value for 'equals'", True),
    ({"p1": "last_message_at", "o1": "within_last", "v1": "-3"},
     "condition 1: the period must be a whole number", False),
])
def test_a_value_that_does_not_fit_names_its_condition(fields: dict[str, str], message: str,
                                                       incomplete: bool) -> None:
    with pytest.raises(FilterError) as caught:
        form(**fields).to_filter(PROPS)
    assert caught.value.message.startswith(message)
    assert caught.value.details["condition"] == 1
    assert bool(caught.value.details.get("incomplete")) is incomplete


def test_rows_added_and_removed_keep_the_default_expression_in_step() -> None:
    two = form(p1="email", o1="is_set", p2="plan", o2="is_set", expr="1 and 2", add_row="1")
    assert [r.number for r in two.rows] == [1, 2, 3] and two.expression == "1 and 2 and 3"
    assert two.rows[2].operator == "is_set"  # a new row matches everyone: the total holds
    fewer = form(p1="email", o1="is_set", p2="plan", o2="is_set", p3="channel",
                 o3="is_set", expr="1 and 2 and 3", remove_row="1")
    assert [(r.number, r.property) for r in fewer.rows] == [(1, "plan"), (2, "channel")]
    assert fewer.expression == "1 and 2"
    written = form(p1="email", o1="is_set", p2="plan", o2="is_set", expr="1 or 2",
                   add_row="1")
    assert written.expression == "1 or 2"  # the engine will say condition 3 is unused


def test_an_operator_of_another_type_falls_back_to_is_set() -> None:
    # The property was changed from a number to text: "gt" does not apply any more.
    assert form(p1="email", o1="gt", v1="3").rows[0].operator == "is_set"


def test_the_url_holds_the_form() -> None:
    found = form(p1="last_message_at", o1="more_than_ago", v1="3", u1="days", expr="1")
    assert found.params() == [("p1", "last_message_at"), ("o1", "more_than_ago"),
                              ("v1", "3"), ("u1", "days"), ("expr", "1")]
    assert FilterForm.from_query(dict(found.params()), PROPS) == found
