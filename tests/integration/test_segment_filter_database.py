"""The database answers filters with segment conditions as the reference
evaluator does: static segments (ids on the profile), dynamic segments (their
filters nested, one inside another), ``in`` and ``not_in``, mixed with other
conditions in expressions, with the production indexes in place."""

from __future__ import annotations

import uuid
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pymongo.collection import Collection

from plugin.audience.filters import (
    And,
    Or,
    Ref,
    SegmentRef,
    compile_filter,
    format_expression,
    matches,
    scoped_query,
)
from plugin.core.profiles import profile_id
from tests.unit.filters.filter_schema import NOW, PROPERTIES, conditions, filters, profiles

STATIC = ("s1", "s2")
DYNAMIC = ("d1", "d2")
MEMBERSHIPS: list[Any] = [[], ["s1"], ["s2"], ["s1", "s2"], ["other"], "s1", None]


def segment_condition(draw: st.DrawFn, choices: tuple[str, ...]) -> dict[str, Any]:
    return {"property": "segment", "operator": draw(st.sampled_from(["in", "not_in"])),
            "value": draw(st.sampled_from(choices))}


@st.composite
def any_segment(draw: st.DrawFn) -> dict[str, Any]:
    return segment_condition(draw, STATIC + DYNAMIC)


@st.composite
def segment_refs(draw: st.DrawFn) -> dict[str, SegmentRef]:
    # d2 uses d1 and a static segment, so dynamic segments nest.
    d2 = {"conditions": [segment_condition(draw, ("d1", "s1")), draw(conditions())],
          "expression": draw(st.sampled_from(["1 and 2", "1 or 2"]))}
    return {"s1": SegmentRef("s1", "S1"), "s2": SegmentRef("s2", "S2"),
            "d1": SegmentRef("d1", "D1", draw(filters())), "d2": SegmentRef("d2", "D2", d2)}


@st.composite
def segment_filters(draw: st.DrawFn) -> dict[str, Any]:
    chosen = [segment_condition(draw, STATIC + DYNAMIC)]
    chosen += draw(st.lists(st.one_of(conditions(), any_segment()), max_size=3))
    refs = [Ref(i) for i in range(len(chosen))]
    if len(refs) == 1:
        return {"conditions": chosen}
    tree = draw(st.sampled_from([And(tuple(refs)), Or(tuple(refs)),
                                 Or((refs[0], And(tuple(refs[1:]))))]))
    return {"conditions": chosen, "expression": format_expression(tree)}


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(segment_refs(), segment_filters(),
       st.lists(st.tuples(profiles(), st.sampled_from(MEMBERSHIPS)), min_size=1, max_size=8))
def test_database_and_evaluator_agree_on_segment_conditions(
    profiles_collection: Collection[dict[str, Any]],
    refs: dict[str, SegmentRef],
    filter_: dict[str, Any],
    documents: list[tuple[dict[str, Any], Any]],
) -> None:
    bot_id = uuid.uuid4().hex[:12]
    stored = []
    for i, (document, membership) in enumerate(documents):
        user_id = f"u{i}"
        doc = {**document, "_id": profile_id(bot_id, user_id), "bot_id": bot_id,
               "user_id": user_id}
        if membership is not None:
            doc["segments"] = membership
        stored.append(doc)
    profiles_collection.insert_many(stored)

    query = scoped_query(compile_filter(filter_, PROPERTIES, now=NOW, segments=refs), bot_id)
    expected = sorted(d["user_id"] for d in stored
                      if matches(filter_, PROPERTIES, d, now=NOW, segments=refs))
    found = sorted(d["user_id"] for d in profiles_collection.find(query, {"user_id": 1}))
    assert found == expected, (filter_, refs, query)


def test_not_in_a_segment_matches_users_without_the_segments_list(
    profiles_collection: Collection[dict[str, Any]],
) -> None:
    bot_id = uuid.uuid4().hex[:12]
    profiles_collection.insert_many([
        {"_id": profile_id(bot_id, "in"), "bot_id": bot_id, "user_id": "in", "segments": ["s1"]},
        {"_id": profile_id(bot_id, "out"), "bot_id": bot_id, "user_id": "out", "segments": []},
        {"_id": profile_id(bot_id, "bare"), "bot_id": bot_id, "user_id": "bare"},
    ])
    refs = {"s1": SegmentRef("s1", "S1")}
    filter_ = {"conditions": [{"property": "segment", "operator": "not_in", "value": "s1"}]}
    query = scoped_query(compile_filter(filter_, PROPERTIES, segments=refs), bot_id)
    found = sorted(d["user_id"] for d in profiles_collection.find(query))
    assert found == ["bare", "out"]
