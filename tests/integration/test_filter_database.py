"""The database answers every filter as the reference evaluator does.

Random profiles (clean and dirty values) are stored with the production
indexes in place, and random filters are compiled, scoped to a bot and run by
the real server; the ids it returns must be exactly those the evaluator
picks. DESIGN.md lists query shapes the embedded server answers wrongly with
an index; this is the test that shows the compiler avoids them.
"""

from __future__ import annotations

import uuid
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pymongo.collection import Collection

from plugin.audience.filters import compile_filter, matches, scoped_query
from plugin.core.profiles import profile_id
from tests.unit.filters.filter_schema import NOW, PROPERTIES, filters, profiles


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(filters(), st.lists(profiles(), min_size=1, max_size=8))
def test_database_and_evaluator_pick_the_same_users(
    profiles_collection: Collection[dict[str, Any]],
    filter_: dict[str, Any],
    documents: list[dict[str, Any]],
) -> None:
    bot_id = uuid.uuid4().hex[:12]
    stored = []
    for i, document in enumerate(documents):
        user_id = f"u{i}"
        stored.append({**document, "_id": profile_id(bot_id, user_id), "bot_id": bot_id,
                       "user_id": user_id})
    profiles_collection.insert_many(stored)
    # An unrelated bot's user who matches everything must never be returned.
    profiles_collection.insert_one({**documents[0], "_id": profile_id(bot_id + "x", "u0"),
                                    "bot_id": bot_id + "x", "user_id": "u0"})

    query = scoped_query(compile_filter(filter_, PROPERTIES, now=NOW), bot_id)
    expected = sorted(d["user_id"] for d in stored if matches(filter_, PROPERTIES, d, now=NOW))
    found = sorted(d["user_id"] for d in profiles_collection.find(query, {"user_id": 1}))
    assert found == expected, (filter_, query)
    assert profiles_collection.count_documents(query) == len(expected)
