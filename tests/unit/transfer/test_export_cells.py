"""Profile values as spreadsheet cells: one cell each, never a formula."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest

from plugin.transfer.cells import flatten, neutralise


@pytest.mark.parametrize("text", ["=1+1", "+1", "-1+2", "@SUM(A1)", "\tx", "\rx"])
def test_text_a_spreadsheet_would_evaluate_is_neutralised(text: str) -> None:
    assert neutralise(text) == "'" + text
    assert flatten(text) == "'" + text


@pytest.mark.parametrize(("value", "csv", "xlsx"), [
    (None, None, None),
    (True, "true", "true"),
    (3, 3, 3),
    (2.5, 2.5, 2.5),
    ("ok", "ok", "ok"),
    (["a", None, "b"], "a; b", "a; b"),
    (["=x"], "'=x", "'=x"),
    ({"plan": "pro", "seats": 3}, "plan: pro; seats: 3", "plan: pro; seats: 3"),
    (date(2026, 3, 1), "2026-03-01", date(2026, 3, 1)),
    (datetime(2026, 3, 1, 12, 0, 5, 999, tzinfo=UTC), "2026-03-01T12:00:05Z",
     datetime(2026, 3, 1, 12, 0, 5, 999)),
    (datetime(2026, 3, 1, 13, 0, tzinfo=timezone(timedelta(hours=1))), "2026-03-01T12:00:00Z",
     datetime(2026, 3, 1, 12, 0)),
    (datetime(2026, 3, 1, 12, 0), "2026-03-01T12:00:00Z", datetime(2026, 3, 1, 12, 0)),
])
def test_each_value_is_one_cell_in_utc(value: Any, csv: Any, xlsx: Any) -> None:
    assert flatten(value) == csv
    assert flatten(value, for_xlsx=True) == xlsx
