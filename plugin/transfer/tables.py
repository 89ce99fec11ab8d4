"""Tables read from uploaded files, the bounds every reader keeps, and CSV.

A :class:`Table` is a file's header and data rows; :class:`UnreadableFile`
refuses a file whole, so an import writes nothing from a file it cannot
read. :func:`bounded_rows` turns a reader's records into the header and the
rows within the bounds of an import (``IMPORT_MAX_ROWS`` data rows,
``IMPORT_MAX_COLUMNS`` columns, ``IMPORT_MAX_CELL_CHARS`` characters in a
cell), counting and measuring each record as it comes, before it is kept; a
refusal names the row and the column. :func:`csv_records` reads CSV: UTF-8
(with or without BOM), UTF-16 with a BOM, else Windows-1252/Latin-1; the
delimiter (comma, semicolon, tab) is detected. Pure. XLSX is read by
:mod:`plugin.transfer.workbooks`; :mod:`plugin.transfer.reading` picks the
reader and runs it in a process of its own.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from plugin.core import constants as c
from plugin.core.errors import InvalidRequest

__all__ = ["Table", "UnreadableFile", "bounded_rows", "csv_records", "too_large"]

_DELIMITERS = ",;\t"


class UnreadableFile(InvalidRequest):
    """The file cannot be read at all; nothing was written."""

    code = "unreadable_file"


@dataclass(frozen=True, slots=True)
class Table:
    format: str
    columns: list[str]
    rows: list[list[Any]]  # data rows, as long as ``columns``
    encoding: str | None = None
    delimiter: str | None = None
    digest: str = ""  # SHA-256 of the file: an import's event ids derive from it
    numbers: list[int] = field(default_factory=list)  # each row's number in the file


def too_large() -> UnreadableFile:
    return UnreadableFile(f"the file is larger than {c.IMPORT_MAX_BYTES} bytes; split it",
                          limit=c.IMPORT_MAX_BYTES)


def csv_records(data: bytes) -> tuple[Iterable[list[str]], str, str]:
    """The records of a CSV file (read one at a time), its encoding and delimiter.

    Raises:
        UnreadableFile: not text in a known encoding (the records raise it
            too, for a row csv cannot parse).
    """
    text, encoding = _decode(data)
    delimiter = _delimiter(text)
    return _records(text, delimiter), encoding, delimiter


def bounded_rows(records: Iterable[Sequence[Any]]) -> tuple[list[str], list[int], list[list[Any]]]:
    """The header, then each non-blank data row (with its number in the file,
    the header being row 1) cut or padded to the header's width.

    Raises:
        UnreadableFile: no header, a column named twice, more rows or columns
            than an import takes, a cell longer than ``IMPORT_MAX_CELL_CHARS``.
    """
    numbers: list[int] = []
    rows: list[list[Any]] = []
    columns: list[str] | None = None
    for number, record in enumerate(records, start=1):
        if len(record) > c.IMPORT_MAX_COLUMNS:
            where = "the header" if columns is None else f"row {number}"
            raise UnreadableFile(f"{where} has {len(record):,} columns; an import takes at "
                                 f"most {c.IMPORT_MAX_COLUMNS:,}", row=number,
                                 limit=c.IMPORT_MAX_COLUMNS)
        _check_cells(number, record, columns or [])
        if columns is None:
            columns = _header(record)
            continue
        if not any(v not in (None, "") for v in record):
            continue
        if len(rows) == c.IMPORT_MAX_ROWS:
            raise UnreadableFile(f"the file has more than {c.IMPORT_MAX_ROWS:,} rows besides "
                                 "the header; split it", limit=c.IMPORT_MAX_ROWS)
        rows.append((list(record) + [None] * len(columns))[:len(columns)])
        numbers.append(number)
    if columns is None:
        raise UnreadableFile("the file is empty: it needs a header row")
    return columns, numbers, rows


def _header(record: Sequence[Any]) -> list[str]:
    columns = [str(col).strip() if col is not None else "" for col in record]
    if not any(columns):
        raise UnreadableFile("the first row is empty: it must name the columns")
    if len(set(columns)) != len(columns):
        twice = sorted({col for col in columns if columns.count(col) > 1})
        raise UnreadableFile(f"columns named twice in the header: {twice}")
    return columns


def _check_cells(number: int, record: Sequence[Any], columns: list[str]) -> None:
    for position, cell in enumerate(record):
        if isinstance(cell, str) and len(cell) > c.IMPORT_MAX_CELL_CHARS:
            name = columns[position] if position < len(columns) else ""
            column: str | int = name or position + 1
            raise UnreadableFile(
                f"row {number}, column {column!r}: a cell of {len(cell):,} characters; a cell "
                f"holds at most {c.IMPORT_MAX_CELL_CHARS:,}", row=number, column=column,
                limit=c.IMPORT_MAX_CELL_CHARS)


def _records(text: str, delimiter: str) -> Iterable[list[str]]:
    """The records of a CSV text, one at a time.

    csv refuses a field over its process-wide ``field_size_limit`` (131,072
    characters unless raised, as the reading process does so that
    :func:`_check_cells` names the row and column first); that refusal is an
    :class:`UnreadableFile` too.
    """
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    number = 0
    try:
        for record in reader:
            number += 1
            yield record
    except csv.Error as exc:
        raise UnreadableFile(f"row {number + 1}: the file cannot be read as CSV: {exc}",
                             row=number + 1) from None


def _decode(data: bytes) -> tuple[str, str]:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        candidates = ["utf-16"]
    else:
        candidates = ["utf-8-sig", "cp1252", "latin-1"]
    for encoding in candidates:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if "\x00" in text:
            break
        return text, "utf-8" if encoding == "utf-8-sig" else encoding
    raise UnreadableFile("the file is not text in a known encoding (UTF-8, UTF-16, "
                         "Windows-1252/Latin-1) nor an XLSX workbook")


def _delimiter(text: str) -> str:
    header = text.split("\n", 1)[0]
    counts = {d: header.count(d) for d in _DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    if counts[best]:
        return best
    try:
        return csv.Sniffer().sniff(text[:8192], delimiters=_DELIMITERS).delimiter
    except csv.Error:
        return ","  # one column
