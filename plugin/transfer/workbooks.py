"""The first sheet of an XLSX workbook as records, read within bounds.

A workbook is a zip of XML documents: what it costs to read is not what it
weighs. Before python-calamine (the reader: fast, and it builds the sheet's
whole grid at once) sees it, what the workbook declares is checked:

1. the unpacked sizes of its members, from the zip's directory, add up to at
   most ``IMPORT_MAX_UNPACKED_BYTES`` (a zip bomb of whitespace is refused
   here);
2. the span the first sheet declares (``<dimension ref="A1:XFD2000"/>``)
   holds at most ``IMPORT_MAX_ROWS`` rows besides the header and
   ``IMPORT_MAX_COLUMNS`` columns.

A workbook that lies about either is stopped by the memory bound of the
process reading it (:mod:`plugin.transfer.reading`); one whose cells span
more than it declared, and fit in memory, is refused on the span read. Cells
come out as Python values: integral numbers as ``int``, times to the
millisecond (what MongoDB keeps), empty cells as ``""``. Pure.
"""

from __future__ import annotations

import io
import posixpath
import re
import zipfile
from datetime import datetime, timedelta
from typing import Any
from xml.etree import ElementTree

from plugin.core import constants as c
from plugin.transfer.tables import UnreadableFile

__all__ = ["read_workbook"]

_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_OFFICE_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_PACKAGE_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}"
# The dimension element comes before the sheet's data, after a few small ones.
_HEAD_BYTES = 64 * 1024
_DIMENSION = re.compile(rb'<(?:[A-Za-z_][\w.-]*:)?dimension\s+ref="([A-Z]{1,3})([0-9]{1,7})'
                        rb'(?::([A-Z]{1,3})([0-9]{1,7}))?"')
_MIB = 1024 * 1024


def read_workbook(data: bytes) -> list[list[Any]]:
    """The rows of the first sheet, from A1, each as a list of cell values.

    Raises:
        UnreadableFile: not a workbook, or one bigger than an import takes.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError) as exc:
        raise UnreadableFile(f"the XLSX workbook cannot be read: {exc}") from None
    with archive:
        _check_unpacked_size(archive)
        _check_declared_span(archive)
    return _read_first_sheet(data)


def _check_unpacked_size(archive: zipfile.ZipFile) -> None:
    unpacked = sum(info.file_size for info in archive.infolist())
    if unpacked > c.IMPORT_MAX_UNPACKED_BYTES:
        raise UnreadableFile(
            f"the workbook unpacks to {unpacked / _MIB:,.1f} MiB; an import takes workbooks of "
            f"at most {c.IMPORT_MAX_UNPACKED_BYTES // _MIB:,} MiB unpacked (split it, or save "
            "it as CSV)", unpacked=unpacked, limit=c.IMPORT_MAX_UNPACKED_BYTES)


def _check_declared_span(archive: zipfile.ZipFile) -> None:
    path = _first_sheet_path(archive)
    if path is None:
        return  # not laid out as Excel lays it out: the reader decides
    try:
        with archive.open(path) as member:
            head = member.read(_HEAD_BYTES)
    except (KeyError, zipfile.BadZipFile, ValueError, OSError):
        return
    found = _DIMENSION.search(head)
    if found is None:
        return
    last_col, last_row = found.group(3) or found.group(1), found.group(4) or found.group(2)
    span = found.group(0).decode().split('"')[1]
    _check_span(span, int(last_row), _column_number(last_col.decode()))


def _check_span(span: str, rows: int, columns: int) -> None:
    if columns > c.IMPORT_MAX_COLUMNS:
        raise UnreadableFile(
            f"the first sheet spans {span}: {columns:,} columns; an import takes at most "
            f"{c.IMPORT_MAX_COLUMNS:,} (delete the columns beyond your data, or save the "
            "sheet as CSV)", span=span, limit=c.IMPORT_MAX_COLUMNS)
    if rows - 1 > c.IMPORT_MAX_ROWS:
        raise UnreadableFile(
            f"the first sheet spans {span}: {rows - 1:,} rows besides the header; an import "
            f"takes at most {c.IMPORT_MAX_ROWS:,} rows (split the file)", span=span,
            limit=c.IMPORT_MAX_ROWS)


def _first_sheet_path(archive: zipfile.ZipFile) -> str | None:
    """The member holding the workbook's first sheet, as the workbook and its
    relationships name it (what the reader reads first)."""
    try:
        book = ElementTree.fromstring(archive.read("xl/workbook.xml"))
        relations = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    except (KeyError, zipfile.BadZipFile, ValueError, OSError, ElementTree.ParseError):
        return None
    sheet = book.find(f"{_MAIN}sheets/{_MAIN}sheet")
    if sheet is None:
        return None
    rid = sheet.get(f"{_OFFICE_REL}id")
    for relation in relations.iter(f"{_PACKAGE_REL}Relationship"):
        if relation.get("Id") == rid:
            target = relation.get("Target") or ""
            return target[1:] if target.startswith("/") else posixpath.normpath(f"xl/{target}")
    return None


def _column_number(letters: str) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + ord(letter) - ord("A") + 1
    return number


def _column_letters(number: int) -> str:
    letters = ""
    while number:
        number, rest = divmod(number - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def _read_first_sheet(data: bytes) -> list[list[Any]]:
    from python_calamine import CalamineError, CalamineWorkbook

    try:
        workbook = CalamineWorkbook.from_filelike(io.BytesIO(data))
        sheet = workbook.get_sheet_by_index(0)
    except CalamineError as exc:
        raise UnreadableFile(f"the XLSX workbook cannot be read: {exc}") from None
    if sheet.end is None:
        raise UnreadableFile("the first sheet is empty: it needs a header row")
    last_row, last_col = sheet.end[0] + 1, sheet.end[1] + 1
    _check_span(f"A1:{_column_letters(last_col)}{last_row}", last_row, last_col)
    return [[_value(v) for v in row] for row in sheet.to_python(skip_empty_area=False)]


def _value(cell: Any) -> Any:
    if isinstance(cell, float) and cell.is_integer() and abs(cell) < 2**53:
        return int(cell)
    if isinstance(cell, datetime):
        # Excel keeps a time as a fraction of a day: round it to the millisecond.
        milliseconds = round(cell.microsecond / 1000)
        return cell.replace(microsecond=0) + timedelta(milliseconds=milliseconds)
    return cell
