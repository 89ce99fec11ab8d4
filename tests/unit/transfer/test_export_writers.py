"""CSV and XLSX written by the same loop: header, rows, progress and stopping."""

from __future__ import annotations

import asyncio
import csv
import io
import threading
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

import openpyxl
import pytest

from plugin.core import constants as c
from plugin.transfer.writers import FORMATS, XLSX_CELL_CHARACTERS, write_rows

COLUMNS = ["user_id", "name"]


async def numbered(count: int) -> AsyncIterator[Sequence[Any]]:
    for n in range(count):
        yield [f"u{n}", f"Zoé {n}"]


def read_back(fmt: str, data: bytes) -> list[list[Any]]:
    if fmt == "csv":
        assert data.startswith(b"\xef\xbb\xbf") and b"\r\n" in data
        return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
    try:
        assert workbook.sheetnames == ["Audience"]
        return [list(r) for r in workbook.active.iter_rows(values_only=True)]
    finally:
        workbook.close()


@pytest.mark.parametrize("fmt", sorted(FORMATS))
async def test_the_header_then_every_row(fmt: str) -> None:
    out = io.BytesIO()
    assert await write_rows(fmt, out, COLUMNS, numbered(3)) == 3
    assert read_back(fmt, out.getvalue()) == [COLUMNS, ["u0", "Zoé 0"], ["u1", "Zoé 1"],
                                              ["u2", "Zoé 2"]]


@pytest.mark.parametrize("fmt", sorted(FORMATS))
async def test_progress_is_reported_and_false_stops_with_a_whole_file(
        fmt: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(c, "EXPORT_PROGRESS_ROWS", 2)
    seen: list[int] = []

    async def progress(rows: int) -> bool:
        seen.append(rows)
        return rows < 4

    out = io.BytesIO()
    assert await write_rows(fmt, out, COLUMNS, numbered(9), progress) == 4
    assert seen == [2, 4]
    assert len(read_back(fmt, out.getvalue())) == 5  # closed properly: header + 4 rows

    reported: list[int] = []
    assert await write_rows(fmt, io.BytesIO(), COLUMNS, numbered(5),
                            lambda n: reported.append(n)) == 5  # None goes on
    assert reported == [2, 4]


async def cells(*row: Any) -> AsyncIterator[Sequence[Any]]:
    yield list(row)


async def test_xlsx_cells_keep_their_kind_and_a_long_text_is_cut_at_excels_limit() -> None:
    """Text that looks like a formula or an address stays text; a time is a
    time; a text longer than a cell can hold is cut, and the rest of the row
    is still written."""
    moment = datetime(2026, 7, 14, 9, 30, 5)
    out = io.BytesIO()
    await write_rows("xlsx", out, ["a", "b", "c", "d", "e"],
                     cells("x" * 40_000, "=1+1", "https://example.com/p", moment, 42))
    _header, row = read_back("xlsx", out.getvalue())
    assert row == ["x" * XLSX_CELL_CHARACTERS, "=1+1", "https://example.com/p", moment, 42]
    sheet = openpyxl.load_workbook(io.BytesIO(out.getvalue()))["Audience"]
    assert [sheet.cell(2, n).data_type for n in (2, 3, 4)] == ["s", "s", "d"]  # no formula
    assert sheet.cell(3, 1).hyperlink is None and sheet.cell(2, 3).hyperlink is None

    out = io.BytesIO()
    await write_rows("csv", out, ["a"], cells("x" * 40_000))
    assert read_back("csv", out.getvalue())[1] == ["x" * 40_000]  # CSV keeps it whole


async def test_writing_does_not_wait_for_the_loops_shared_threads() -> None:
    """Found in CI: an export stalled while the loop's shared thread pool was
    busy (DNS lookups of webhook hosts that do not answer take seconds each).
    The writer has a thread of its own."""
    loop = asyncio.get_running_loop()
    release = threading.Event()
    busy = [loop.run_in_executor(None, release.wait) for _ in range(40)]  # more than it holds
    try:
        out = io.BytesIO()
        written = await asyncio.wait_for(write_rows("xlsx", out, COLUMNS, numbered(1_200)), 10)
        assert written == 1_200 and len(read_back("xlsx", out.getvalue())) == 1_201
    finally:
        release.set()
        await asyncio.gather(*busy)
