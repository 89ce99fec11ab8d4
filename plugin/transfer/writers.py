"""Rows written to a CSV or XLSX file, one loop for both.

:func:`write_rows` streams rows from an async iterator into a binary file
through a :class:`SheetWriter` — nothing piles up in memory: ``csv`` writes
line by line, openpyxl's write-only workbook spools rows to disk and zips
them when :meth:`SheetWriter.close` is called. Cells are expected already
flattened (:mod:`plugin.transfer.cells`); the XLSX writer drops the characters
XML cannot hold.
"""

from __future__ import annotations

import asyncio
import csv
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import IO, Any, Protocol

from plugin.core import constants as c
from plugin.transfer.cells import xml_text

__all__ = ["FORMATS", "CsvWriter", "Progress", "SheetWriter", "XlsxWriter", "open_writer",
           "write_rows"]

FORMATS = {"csv": "text/csv; charset=utf-8",
           "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}

# Rows written so far → False to stop (an awaitable is awaited; None goes on).
Progress = Callable[[int], "bool | Awaitable[bool | None] | None"]


class SheetWriter(Protocol):
    def append(self, row: Sequence[Any]) -> None: ...

    async def close(self) -> None: ...


class _TextOut:
    """A minimal text sink over a binary file, for ``csv.writer``."""

    def __init__(self, out: IO[bytes]) -> None:
        self._out = out

    def write(self, text: str) -> int:
        return self._out.write(text.encode("utf-8"))


class CsvWriter:
    """UTF-8 with a BOM (spreadsheet programs then read accents right), CRLF lines."""

    def __init__(self, out: IO[bytes], columns: Sequence[str]) -> None:
        out.write(b"\xef\xbb\xbf")
        self._writer = csv.writer(_TextOut(out), lineterminator="\r\n")
        self._writer.writerow(columns)

    def append(self, row: Sequence[Any]) -> None:
        self._writer.writerow(row)

    async def close(self) -> None:
        return None


class XlsxWriter:
    """One sheet, "Audience", in a write-only workbook saved on close."""

    def __init__(self, out: IO[bytes], columns: Sequence[str]) -> None:
        from openpyxl import Workbook  # imported here: only XLSX exports pay for it

        self._out = out
        self._workbook = Workbook(write_only=True)
        self._sheet = self._workbook.create_sheet("Audience")
        self._sheet.append(list(columns))

    def append(self, row: Sequence[Any]) -> None:
        # XML cannot hold every character a profile can (a control character
        # in a name): drop those, or openpyxl refuses the whole file.
        self._sheet.append([xml_text(v) if isinstance(v, str) else v for v in row])

    async def close(self) -> None:
        # Zips the spooled sheet: off the event loop.
        await asyncio.to_thread(self._workbook.save, self._out)


def open_writer(fmt: str, out: IO[bytes], columns: Sequence[str]) -> SheetWriter:
    """A writer of ``fmt`` (one of :data:`FORMATS`) that has written the header."""
    writers: dict[str, Callable[[IO[bytes], Sequence[str]], SheetWriter]] = {
        "csv": CsvWriter, "xlsx": XlsxWriter}
    return writers[fmt](out, columns)


async def write_rows(fmt: str, out: IO[bytes], columns: Sequence[str],
                     rows: AsyncIterator[Sequence[Any]], progress: Progress | None = None) -> int:
    """Write the header and ``rows`` to the binary file ``out``; rows written.

    ``progress(n)`` is called every ``EXPORT_PROGRESS_ROWS`` rows; when it
    returns False the writing stops (what is written is still closed properly).
    """
    writer = open_writer(fmt, out, columns)
    written = 0
    async for row in rows:
        writer.append(row)
        written += 1
        if progress is not None and not written % c.EXPORT_PROGRESS_ROWS:
            going_on = progress(written)
            if inspect.isawaitable(going_on):
                going_on = await going_on
            if going_on is False:
                break
    await writer.close()
    return written
