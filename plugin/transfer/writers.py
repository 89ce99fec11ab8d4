"""Rows written to a CSV or XLSX file, one loop for both.

:func:`write_rows` streams rows from an async iterator into a binary file
through a :class:`SheetWriter` — nothing piles up in memory: ``csv`` writes
line by line, xlsxwriter in constant-memory mode writes each row's XML to a
temporary file as it comes and zips it when :meth:`SheetWriter.close` is
called. Cells are expected already
flattened (:mod:`plugin.transfer.cells`); the XLSX writer drops the characters
XML cannot hold.
"""

from __future__ import annotations

import asyncio
import csv
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import IO, Any, Protocol

from plugin.core import constants as c
from plugin.transfer.cells import xml_text

__all__ = ["FORMATS", "XLSX_CELL_CHARACTERS", "CsvWriter", "Progress", "SheetWriter",
           "XlsxWriter", "open_writer", "write_rows"]

FORMATS = {"csv": "text/csv; charset=utf-8",
           "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}

# The most characters an Excel cell holds.
XLSX_CELL_CHARACTERS = 32_767
# Rows written so far → False to stop (an awaitable is awaited; None goes on).
Progress = Callable[[int], "bool | Awaitable[bool | None] | None"]


class SheetWriter(Protocol):
    def append(self, row: Sequence[Any]) -> None: ...

    def finish(self) -> None:
        """Complete the file (blocking: zips an XLSX)."""


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

    def finish(self) -> None:
        return None


class XlsxWriter:
    """One sheet, "Audience", written by xlsxwriter in constant-memory mode.

    Text is always text: xlsxwriter would otherwise turn text that looks like
    a formula into one, and text that looks like an address into a link.
    Times get a date format, so the sheet shows them as times. A cell holds
    at most :data:`XLSX_CELL_CHARACTERS` characters, Excel's limit: longer
    text is cut there (a CSV export keeps it whole).
    """

    def __init__(self, out: IO[bytes], columns: Sequence[str]) -> None:
        import xlsxwriter  # imported here: only XLSX exports pay for it

        self._workbook = xlsxwriter.Workbook(out, {
            "constant_memory": True, "strings_to_formulas": False, "strings_to_urls": False,
            "strings_to_numbers": False, "nan_inf_to_errors": True,
            "default_date_format": "yyyy-mm-dd hh:mm:ss"})
        self._sheet = self._workbook.add_worksheet("Audience")
        self._row = 0
        self.append(columns)

    def append(self, row: Sequence[Any]) -> None:
        # XML cannot hold every character a profile can (a control character
        # in a name): drop those, or Excel refuses the whole file.
        self._sheet.write_row(self._row, 0, [
            xml_text(v)[:XLSX_CELL_CHARACTERS] if isinstance(v, str) else v for v in row])
        self._row += 1

    def finish(self) -> None:
        self._workbook.close()  # zips the sheet's temporary file


def open_writer(fmt: str, out: IO[bytes], columns: Sequence[str]) -> SheetWriter:
    """A writer of ``fmt`` (one of :data:`FORMATS`) that has written the header."""
    writers: dict[str, Callable[[IO[bytes], Sequence[str]], SheetWriter]] = {
        "csv": CsvWriter, "xlsx": XlsxWriter}
    return writers[fmt](out, columns)


async def write_rows(fmt: str, out: IO[bytes], columns: Sequence[str],
                     rows: AsyncIterator[Sequence[Any]], progress: Progress | None = None) -> int:
    """Write the header and ``rows`` to the binary file ``out``; rows written.

    Rows are written in batches on a thread of this export's own while the
    next batch is read: the file's formatting (XLSX's XML above all) neither
    adds to the time spent waiting for the database nor holds up the event
    loop. The thread is not the loop's shared pool, which other work (DNS
    lookups of webhook hosts, for one) can keep busy for seconds.
    ``progress(n)`` is called every ``EXPORT_PROGRESS_ROWS`` rows; when it
    returns False the writing stops (what is written is still closed properly).
    """
    loop = asyncio.get_running_loop()
    writer = open_writer(fmt, out, columns)
    writing: asyncio.Future[None] | None = None
    batch: list[Sequence[Any]] = []
    written = 0
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="audience-export") as own:

        async def hand_over() -> None:
            nonlocal writing, batch
            if writing is not None:
                await writing  # one batch at a time: the writer is not shared
            writing = loop.run_in_executor(own, _append_all, writer, batch)
            batch = []

        try:
            async for row in rows:
                batch.append(row)
                written += 1
                if len(batch) >= _WRITE_BATCH_ROWS:
                    await hand_over()
                if progress is not None and not written % c.EXPORT_PROGRESS_ROWS:
                    going_on = progress(written)
                    if inspect.isawaitable(going_on):
                        going_on = await going_on
                    if going_on is False:
                        break
            await hand_over()
        finally:
            if writing is not None:
                await writing
        await loop.run_in_executor(own, writer.finish)
    return written


# Rows handed to the writer's thread at a time.
_WRITE_BATCH_ROWS = 500


def _append_all(writer: SheetWriter, rows: Sequence[Sequence[Any]]) -> None:
    for row in rows:
        writer.append(row)
