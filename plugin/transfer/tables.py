"""Reading an uploaded file into a :class:`Table`, or refusing it whole.

``read_table`` reads the whole file or refuses it (wrong format, bad
encoding, no header, duplicate column names, too large) with
:class:`UnreadableFile`, so an import writes nothing from a file it cannot
read. CSV: UTF-8 (with or without BOM), UTF-16 with a BOM, else
Windows-1252/Latin-1; the delimiter (comma, semicolon, tab) is detected.
XLSX: the first sheet. Pure: bytes in, a table out.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import zipfile
from dataclasses import dataclass
from typing import Any

from plugin.core import constants as c
from plugin.core.errors import InvalidRequest

__all__ = ["Table", "UnreadableFile", "read_table"]

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


def read_table(data: bytes, filename: str = "") -> Table:
    """Raises:
        UnreadableFile: too large, not CSV/XLSX, bad encoding, no header.
    """
    if len(data) > c.IMPORT_MAX_BYTES:
        raise UnreadableFile(f"the file is larger than {c.IMPORT_MAX_BYTES} bytes; split it",
                             limit=c.IMPORT_MAX_BYTES)
    digest = hashlib.sha256(data).hexdigest()
    if data.startswith(b"PK\x03\x04"):
        columns, rows = _read_xlsx(data)
        table = Table("xlsx", columns, rows, digest=digest)
    elif filename.lower().endswith((".xlsx", ".xlsm", ".xls")):
        raise UnreadableFile(f"{filename!r} is not an XLSX workbook (old .xls files are not "
                             "supported: save as .xlsx or CSV)")
    else:
        text, encoding = _decode(data)
        delimiter = _delimiter(text)
        records = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
        if not records:
            raise UnreadableFile("the file is empty: it needs a header row")
        columns, rows = records[0], records[1:]
        table = Table("csv", columns, rows, encoding, delimiter, digest)
    columns = [str(col).strip() if col is not None else "" for col in table.columns]
    if not any(columns):
        raise UnreadableFile("the first row is empty: it must name the columns")
    if len(set(columns)) != len(columns):
        twice = sorted({col for col in columns if columns.count(col) > 1})
        raise UnreadableFile(f"columns named twice in the header: {twice}")
    width = len(columns)
    rows = [(list(r) + [None] * width)[:width] for r in table.rows
            if any(v not in (None, "") for v in r)]
    return Table(table.format, columns, rows, table.encoding, table.delimiter, digest)


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


def _read_xlsx(data: bytes) -> tuple[list[Any], list[list[Any]]]:
    from openpyxl import load_workbook  # only XLSX imports pay for it

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise UnreadableFile(f"the XLSX workbook cannot be read: {exc}") from None
    try:
        sheet = workbook.worksheets[0]
        rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    finally:
        workbook.close()
    if not rows:
        raise UnreadableFile("the first sheet is empty: it needs a header row")
    return rows[0], rows[1:]
