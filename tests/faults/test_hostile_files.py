"""Hostile files at the import door (``POST /v1/bots/{bot}/imports``) and
hostile cells on the way out (exports, an import's rejected rows).

Every hostile workbook is built here, byte by byte where it has to be: a
tiny zip holding a sheet of 300 MB of whitespace, a sheet spanning
A1:XFD2000, a sheet that declares two cells and holds one in the last row
and column there is, shared strings that announce four billion entries. Each
is refused with a 400 that says why, while the server stays up and
answers; what reading costs is measured in a process of its own
(``ru_maxrss`` of the reader and of the reading process it starts). A big
valid file is read while ``/health`` keeps answering.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from plugin.audience.property_store import PropertyStore
from plugin.core import constants as c
from plugin.core.events import utc_now
from plugin.core.profiles import profile_id
from plugin.core.properties import custom_property
from plugin.db.database import Database
from tests.conftest import Api
from tests.integration.test_export import export, xlsx_rows
from tests.integration.test_import import post_import, run_import

MAIN = b'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
HEADER_ROW = b'<row r="1"><c r="A1" t="inlineStr"><is><t>User ID</t></is></c></row>'
MB = 1024 * 1024


def workbook(sheet_xml: bytes | None = None, *, shared_strings: bytes | None = None,
             sheet_chunks: int = 0) -> bytes:
    """An XLSX made by openpyxl with its first sheet (and shared strings) replaced.

    ``sheet_chunks`` appends that many MiB of whitespace to the sheet, streamed
    into the zip so the test never holds it.
    """
    base = openpyxl.Workbook()
    base.active.append(["User ID"])
    original = io.BytesIO()
    base.save(original)
    source = zipfile.ZipFile(original)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as target:
        for info in source.infolist():
            if info.filename != "xl/worksheets/sheet1.xml" or sheet_xml is None:
                target.writestr(info.filename, source.read(info.filename))
                continue
            with target.open("xl/worksheets/sheet1.xml", "w") as member:
                member.write(b'<?xml version="1.0" encoding="UTF-8"?><worksheet ' + MAIN + b">")
                for _ in range(sheet_chunks):
                    member.write(b" " * MB)
                member.write(sheet_xml + b"</worksheet>")
        if shared_strings is not None:
            target.writestr("xl/sharedStrings.xml", shared_strings)
    return out.getvalue()


def sheet_data(rows: bytes, dimension: bytes = b"A1") -> bytes:
    return b'<dimension ref="' + dimension + b'"/><sheetData>' + rows + b"</sheetData>"


def inline_rows(rows: list[list[str]]) -> bytes:
    """Rows of inline strings, each cell with its reference (as Excel writes them)."""
    parts = []
    for number, row in enumerate(rows, start=1):
        cells = "".join(f'<c r="{chr(65 + n)}{number}" t="inlineStr"><is><t>{value}</t></is></c>'
                        for n, value in enumerate(row))
        parts.append(f'<row r="{number}">{cells}</row>')
    return "".join(parts).encode()


READER = """
import asyncio, json, resource, sys
from plugin.core.errors import AudienceError
from plugin.transfer.reading import read_upload

data = open(sys.argv[1], "rb").read()
try:
    outcome = {"rows": len(asyncio.run(read_upload(data, sys.argv[1])).rows)}
except AudienceError as exc:
    outcome = {"error": exc.message}
# VmHWM, not RUSAGE_SELF: Linux carries the peak of the process that forked
# this one across exec, and late in a test run that is pytest's own.
status = open("/proc/self/status").read()
outcome["rss_mb"] = int(status.split("VmHWM:")[1].split()[0]) / 1024
outcome["reader_rss_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(json.dumps(outcome))
"""


def read_in_a_process(tmp_path: Path, data: bytes, name: str = "hostile.xlsx") -> dict[str, Any]:
    """Read ``data`` as an upload in a fresh Python process; the outcome and the
    peak memory (MiB) of that process and of the reading process it started."""
    path = tmp_path / name
    path.write_bytes(data)
    done = subprocess.run([sys.executable, "-c", READER, str(path)], capture_output=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    outcome: dict[str, Any] = json.loads(done.stdout.decode().strip().splitlines()[-1])
    return outcome


async def still_healthy(api: Api) -> None:
    status, body = await api.get("/health")
    assert status == 200 and body["status"] == "ok", body


async def define(db: Database, bot_id: str) -> None:
    await PropertyStore.of(db).define_property(bot_id, custom_property("name", "text", "Name"))
    await PropertyStore.of(db).define_property(bot_id, custom_property("age", "number", "Age"))


# -- workbooks that cost more to read than they weigh ---------------------------------


async def test_a_tiny_workbook_unpacking_to_300_mb_is_refused_before_it_is_read(
        api: Api, db: Database, bot_id: str, tmp_path: Path) -> None:
    data = workbook(sheet_data(HEADER_ROW), sheet_chunks=300)
    assert len(data) < 2 * MB
    status, error = await post_import(api, bot_id, data, "bomb.xlsx")
    assert status == 400, error
    assert "unpacks to" in error["message"] and "MiB" in error["message"], error
    await still_healthy(api)
    outcome = read_in_a_process(tmp_path, data)
    assert "unpacks to" in outcome["error"]
    assert outcome["rss_mb"] < 150 and outcome["reader_rss_mb"] < 150, outcome


async def test_a_sheet_declaring_a1_to_xfd2000_is_refused_by_its_width(
        api: Api, db: Database, bot_id: str, tmp_path: Path) -> None:
    data = workbook(sheet_data(HEADER_ROW, b"A1:XFD2000"))
    assert len(data) < 10_000
    status, error = await post_import(api, bot_id, data, "wide.xlsx")
    assert status == 400, error
    assert "A1:XFD2000" in error["message"] and "16,384 columns" in error["message"], error
    await still_healthy(api)
    outcome = read_in_a_process(tmp_path, data)
    assert "16,384 columns" in outcome["error"]
    assert outcome["rss_mb"] < 150 and outcome["reader_rss_mb"] < 150, outcome


@pytest.mark.parametrize("far", ["XFD2000", "XFD1048576"])
async def test_a_sheet_lying_about_its_size_is_refused_within_the_memory_bound(
        api: Api, db: Database, bot_id: str, tmp_path: Path, far: str) -> None:
    """It declares A1:A2 and holds a cell far away: read whole, the sheet is a
    grid of 1 GB (XFD2000) or 550 GB (XFD1048576). The reading process cannot
    have that much; the server is untouched."""
    row = far.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ").encode()
    cell = b'<row r="' + row + b'"><c r="' + far.encode() + b'"><v>1</v></c></row>'
    data = workbook(sheet_data(HEADER_ROW + cell, b"A1:A2"))
    status, error = await post_import(api, bot_id, data, "liar.xlsx")
    assert status == 400, error
    assert "memory" in error["message"] or "16,384 columns" in error["message"], error
    await still_healthy(api)
    outcome = read_in_a_process(tmp_path, data)
    assert "error" in outcome and outcome["rss_mb"] < 150, outcome


async def test_shared_strings_announcing_four_billion_entries_are_refused(
        api: Api, db: Database, bot_id: str) -> None:
    strings = (b'<?xml version="1.0" encoding="UTF-8"?><sst ' + MAIN
               + b' count="4000000000" uniqueCount="4000000000"><si><t>User ID</t></si></sst>')
    header = b'<row r="1"><c r="A1" t="s"><v>0</v></c></row>'
    data = workbook(sheet_data(header), shared_strings=strings)
    status, error = await post_import(api, bot_id, data, "strings.xlsx")
    assert status == 400, error
    await still_healthy(api)


async def test_a_file_that_takes_too_long_to_read_is_refused_and_its_reader_stopped(
        api: Api, db: Database, bot_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(c, "IMPORT_READ_TIMEOUT_S", 0.001)
    rows = inline_rows([["User ID", "Name"], *([["u1", "Ann"]] * 1000)])
    status, error = await post_import(api, bot_id, workbook(sheet_data(rows)), "slow.xlsx")
    assert status == 400 and "takes more than 0.001 s to read" in error["message"], error
    monkeypatch.undo()
    status, report = await post_import(api, bot_id, workbook(sheet_data(rows)), "slow.xlsx")
    assert status == 200 and report["rows"] == 1000, report


# -- bounds on rows, columns and cells -------------------------------------------------


async def test_a_csv_field_over_131072_characters_is_a_400_naming_row_and_column(
        api: Api, db: Database, bot_id: str) -> None:
    await define(db, bot_id)
    text = "User ID,Name,Age\r\nu1,Ann,31\r\nu2," + "x" * 200_000 + ",40\r\n"
    status, error = await post_import(api, bot_id, text.encode(), "long.csv",
                                      mapping={"User ID": "user_id", "Name": "name",
                                               "Age": "age"})
    assert status == 400, error
    assert "row 3" in error["message"] and "'Name'" in error["message"], error
    assert error["details"]["row"] == 3 and error["details"]["column"] == "Name"
    assert await db[c.PROFILES].count_documents({"bot_id": bot_id}) == 0


async def test_an_xlsx_cell_over_32767_characters_is_a_400_naming_row_and_column(
        api: Api, db: Database, bot_id: str) -> None:
    rows = inline_rows([["User ID", "Name"], ["u1", "Ann"], ["u2", "y" * 40_000]])
    status, error = await post_import(api, bot_id, workbook(sheet_data(rows, b"A1:B3")),
                                      "long.xlsx")
    assert status == 400, error
    assert "row 3" in error["message"] and "'Name'" in error["message"], error
    assert "32,767" in error["message"]


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
async def test_more_rows_than_an_import_takes_are_refused(api: Api, db: Database,
                                                          bot_id: str, fmt: str) -> None:
    count = c.IMPORT_MAX_ROWS + 1
    if fmt == "csv":
        data = ("User ID\n" + "".join(f"u{n}\n" for n in range(count))).encode()
    else:
        cells = b"".join(b'<row r="%d"><c r="A%d"><v>%d</v></c></row>' % (n, n, n)
                         for n in range(2, count + 2))
        data = workbook(sheet_data(HEADER_ROW + cells, b"A1:A%d" % (count + 1)))
    status, error = await post_import(api, bot_id, data, f"rows.{fmt}")
    assert status == 400, error
    assert f"{c.IMPORT_MAX_ROWS:,} rows" in error["message"], error


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
async def test_more_columns_than_an_import_takes_are_refused(api: Api, db: Database,
                                                             bot_id: str, fmt: str) -> None:
    names = [f"c{n}" for n in range(c.IMPORT_MAX_COLUMNS + 1)]
    if fmt == "csv":
        data = (",".join(names) + "\n" + ",".join("1" for _ in names) + "\n").encode()
    else:
        wide = openpyxl.Workbook()
        wide.active.append(names)
        out = io.BytesIO()
        wide.save(out)
        data = out.getvalue()
    status, error = await post_import(api, bot_id, data, f"columns.{fmt}")
    assert status == 400, error
    assert f"{c.IMPORT_MAX_COLUMNS + 1:,} columns" in error["message"], error


# -- a big valid file is read off the event loop ----------------------------------------


async def test_health_answers_while_a_big_workbook_is_read(api: Api, db: Database,
                                                           bot_id: str) -> None:
    count = 100_000
    rows = [["User ID", "Name", "E-mail", "Age", "Notes"]] + [
        [f"u{n}", f"Name {n}", f"user{n}@example.com", str(n % 90), f"note {n}"]
        for n in range(count)]
    data = workbook(sheet_data(inline_rows(rows), b"A1:E%d" % (count + 1)))
    await define(db, bot_id)
    upload = asyncio.create_task(post_import(api, bot_id, data, "big.xlsx"))
    answered_during_upload = 0
    while not upload.done():
        await still_healthy(api)
        answered_during_upload += not upload.done()
    status, report = await upload
    assert status == 200 and report["rows"] == count, report
    assert report["proposed_mapping"]["Name"] == "name"
    # Each health request went out after the one before came back: had the file
    # been parsed on the event loop, they would have waited for it to finish.
    assert answered_during_upload >= 10, answered_during_upload


# -- hostile cells on the way out -------------------------------------------------------


async def test_rejections_csv_neutralises_formulas(api: Api, db: Database, bot_id: str) -> None:
    await define(db, bot_id)
    evil = "=cmd|' /C calc'!A0"
    text = f"User ID,\"{evil}\"\r\nu1,=1+2\r\n"
    report = await run_import(api, bot_id, text.encode(), "evil.csv",
                              mapping={"User ID": "user_id", evil: "age"})
    assert report["rejected"] == 1 and report["rejections"][0]["column"] == evil
    status, body = await api.get(report["rejections_url"])
    assert status == 200
    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))
    assert rows[1][:2] == ["2", "'" + evil], rows
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row), rows


async def test_an_xlsx_export_of_names_holding_control_characters_is_written(
        api: Api, db: Database, bot_id: str) -> None:
    await define(db, bot_id)
    now = utc_now()
    await db[c.PROFILES].insert_one({
        "_id": profile_id(bot_id, "ctl"), "bot_id": bot_id, "user_id": "ctl", "channel": "web",
        "created_at": now, "updated_at": now, "last_message_at": now,
        "attributes": {"name": "Ann\x01\x07 Lee\x1b[31m\ufffe", "age": 3}})
    job, data = await export(api, bot_id, {"format": "xlsx",
                                           "audience": {"filter": {"conditions": []}}})
    assert job["status"] == "done"
    header, row = xlsx_rows(io.BytesIO(data))
    assert dict(zip(header, row, strict=True))["name"] == "Ann Lee[31m"
