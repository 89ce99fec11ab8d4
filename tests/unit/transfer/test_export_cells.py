"""Profile values as spreadsheet cells: one cell each, never a formula."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest

from plugin.transfer.cells import flatten, neutralise, restore, xml_text


@pytest.mark.parametrize("text", ["=1+1", "+1+1", "-1+2", "@SUM(A1)", "\tx", "\rx", "+", "-",
                                  "+44 20 7946 0007", "'=1+1", "''@x"])
def test_text_a_spreadsheet_would_evaluate_is_neutralised(text: str) -> None:
    assert neutralise(text) == "'" + text
    assert flatten(text) == "'" + text
    assert restore(neutralise(text)) == text


@pytest.mark.parametrize("text", ["+442079460007", "-5", "+1", "1e5", "-2.5", "+1.5e-3", "ok",
                                  "'quoted", "''", "'", "a=b", ""])
def test_numbers_and_plain_text_are_written_as_they_are(text: str) -> None:
    """A spreadsheet shows a signed number as a number: nothing is run, so
    nothing is added (a phone number stays importable)."""
    assert neutralise(text) == text
    assert restore(text) == text


def test_list_items_are_joined_then_neutralised_once() -> None:
    assert flatten(["=x", "+y", "z"]) == "'=x; +y; z"
    assert flatten(["a", "=x"]) == "a; =x"


def test_characters_xml_cannot_hold_are_dropped_from_xlsx_text() -> None:
    assert xml_text("Ann\x00\x01\x08 Lee\x0b\x0c\x1b\x1f\ufffe\uffff") == "Ann Lee"
    assert xml_text("tab\tnew\nline\r") == "tab\tnew\nline\r"
    assert xml_text("Zoé \U0001f600") == "Zoé \U0001f600"


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
    (datetime(2026, 3, 1, 12, 0, 5, 123_000, tzinfo=UTC), "2026-03-01T12:00:05.123Z",
     datetime(2026, 3, 1, 12, 0, 5, 123_000)),
    (datetime(2026, 3, 1, 13, 0, tzinfo=timezone(timedelta(hours=1))), "2026-03-01T12:00:00Z",
     datetime(2026, 3, 1, 12, 0)),
    (datetime(2026, 3, 1, 12, 0), "2026-03-01T12:00:00Z", datetime(2026, 3, 1, 12, 0)),
])
def test_each_value_is_one_cell_in_utc(value: Any, csv: Any, xlsx: Any) -> None:
    assert flatten(value) == csv
    assert flatten(value, for_xlsx=True) == xlsx
