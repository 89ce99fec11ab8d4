"""Segment conditions in the pure filter engine: what they compile to, how the
evaluator answers them, and each way one can be wrong."""

from __future__ import annotations

from typing import Any

import pytest

from plugin.audience.filters import SegmentRef, compile_filter, matches
from plugin.core.errors import FilterError
from plugin.core.properties import SYSTEM_PROPERTIES

WEB = {"property": "channel", "operator": "equals", "value": "web"}
SEGMENTS = {
    "vip": SegmentRef("vip", "VIPs"),
    "web": SegmentRef("web", "Web users", {"conditions": [WEB]}),
    "loop-a": SegmentRef("loop-a", "A", {"conditions": [
        {"property": "segment", "operator": "in", "value": "loop-b"}]}),
    "loop-b": SegmentRef("loop-b", "B", {"conditions": [
        {"property": "segment", "operator": "not_in", "value": "loop-a"}]}),
    "broken": SegmentRef("broken", "Broken", {"conditions": [
        {"property": "nope", "operator": "is_set"}]}),
}


def seg(operator: str, value: Any) -> dict[str, Any]:
    return {"property": "segment", "operator": operator, "value": value}


def compiled(*conditions: dict[str, Any], expression: str | None = None) -> dict[str, Any]:
    return compile_filter({"conditions": list(conditions), "expression": expression},
                          SYSTEM_PROPERTIES, segments=SEGMENTS)


def test_static_segment_is_membership_of_the_segments_list() -> None:
    assert compiled(seg("in", "vip")) == {"segments": {"$eq": "vip"}}
    assert compiled(seg("not_in", "vip")) == {"$nor": [{"segments": {"$eq": "vip"}}]}


def test_dynamic_segment_nests_its_filter() -> None:
    assert compiled(seg("in", "web")) == {"channel": {"$eq": "web"}}
    assert compiled(seg("not_in", "web"), seg("in", "vip"), expression="1 or 2") == {
        "$or": [{"$nor": [{"channel": {"$eq": "web"}}]}, {"segments": {"$eq": "vip"}}]}


@pytest.mark.parametrize(("profile", "inside", "outside"), [
    ({"segments": ["vip"], "channel": "web"}, True, False),
    ({"segments": [], "channel": "web"}, False, False),
    ({"segments": ["vip"], "channel": "sms"}, False, False),
    ({"channel": "sms"}, False, True),
])
def test_evaluator_answers_segment_conditions(profile: dict[str, Any], inside: bool,
                                              outside: bool) -> None:
    both = {"conditions": [seg("in", "vip"), seg("in", "web")], "expression": "1 and 2"}
    either_not = {"conditions": [seg("not_in", "vip"), seg("not_in", "web")]}
    assert matches(both, SYSTEM_PROPERTIES, profile, segments=SEGMENTS) is inside
    assert matches(either_not, SYSTEM_PROPERTIES, profile, segments=SEGMENTS) is outside


@pytest.mark.parametrize(("condition", "message"), [
    (seg("in", "missing"), "condition 2: unknown segment 'missing'"),
    (seg("in", "vip") | {"value": 7}, "condition 2: 'value' must be the id of a segment"),
    (seg("equals", "vip"), "condition 2: operator 'equals' is not valid for a segment"),
    (seg("in", "vip") | {"extra": 1}, "condition 2: unknown key 'extra'"),
    (seg("in", "loop-a"), "condition 2: in segment 'A': condition 1: in segment 'B': "
                          "condition 1: segment 'A' refers back to itself"),
    (seg("in", "broken"), "condition 2: in segment 'Broken': condition 1: unknown property"),
])
def test_wrong_segment_conditions_name_the_condition(condition: dict[str, Any],
                                                     message: str) -> None:
    with pytest.raises(FilterError) as caught:
        compiled(WEB, condition)
    assert caught.value.message.startswith(message)
    assert caught.value.details["condition"] == 2


def test_a_filter_naming_its_own_segment_is_a_cycle() -> None:
    with pytest.raises(FilterError, match="segment 'Web users' refers back to itself"):
        compile_filter({"conditions": [seg("in", "web")]}, SYSTEM_PROPERTIES,
                       segments=SEGMENTS, inside="web")


def test_without_segments_a_segment_condition_is_unknown() -> None:
    with pytest.raises(FilterError, match="unknown segment 'vip'"):
        compile_filter({"conditions": [seg("in", "vip")]}, SYSTEM_PROPERTIES)
