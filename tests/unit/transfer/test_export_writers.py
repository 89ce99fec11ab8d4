"""CSV and XLSX written by the same loop: header, rows, progress and stopping."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Sequence
from typing import Any

import openpyxl
import pytest

from plugin.core import constants as c
from plugin.transfer.writers import FORMATS, write_rows

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
