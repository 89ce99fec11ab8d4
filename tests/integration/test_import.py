"""Imports through the real HTTP server: a proposed mapping changes nothing;
good, bad and mixed rows; each delimiter and encoding; XLSX; dry run;
idempotency; unreadable files refused with nothing written."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
from pathlib import Path
from typing import Any

import aiohttp
import openpyxl
import pytest

from plugin.audience.property_store import PropertyStore
from plugin.capture.store import CaptureStore
from plugin.core import constants as c
from plugin.core import events as ev
from plugin.core.profiles import profile_id
from plugin.core.properties import custom_property
from plugin.core.settings import Settings
from plugin.db.database import Database
from plugin.transfer.store import TransferStore
from tests.conftest import Api
from tests.integration.test_cli import AUDIENCE

HEADER = ["User ID", "E-mail", "Age", "Plan", "Notes"]
MAPPING = {"User ID": "user_id", "E-mail": "email", "Age": "age", "Plan": "plan",
           "Notes": "ignore"}
GOOD = [["u1", "Ann@Example.com", "31", "pro", "x"], ["u2", "bob@example.com", "45", "free", ""]]
BAD = [["u3", "not-an-email", "abc", "gold", ""]]


async def define(db: Database, bot_id: str) -> None:
    await PropertyStore.of(db).define_property(bot_id, custom_property("email", "email", "E-mail"))
    await PropertyStore.of(db).define_property(bot_id, custom_property("age", "number", "Age"))
    await PropertyStore.of(db).define_property(bot_id, custom_property("plan", "choice", "Plan",
                                                        ("free", "pro")))


def csv_bytes(rows: list[list[str]], delimiter: str = ",", encoding: str = "utf-8") -> bytes:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter).writerows([HEADER, *rows])
    return out.getvalue().encode(encoding)


async def post_import(api: Api, bot_id: str, data: bytes, filename: str = "users.csv",
                      **fields: Any) -> tuple[int, Any]:
    form = aiohttp.FormData()
    form.add_field("file", io.BytesIO(data), filename=filename)
    for name, value in fields.items():
        form.add_field(name, json.dumps(value) if name == "mapping" else str(value))
    async with api.session.post(f"{api.base_url}/v1/bots/{bot_id}/imports", data=form,
                                headers={"Authorization": f"Bearer {api.key}"}) as response:
        return response.status, await response.json()


async def run_import(api: Api, bot_id: str, data: bytes, filename: str = "users.csv",
                     **fields: Any) -> dict[str, Any]:
    """Post an import with a mapping, follow its job to the end; the report."""
    status, job = await post_import(api, bot_id, data, filename, **fields)
    assert status == 202, job
    assert job["status"] in ("queued", "running", "done") and job["report"] is None
    for _ in range(600):
        status, job = await api.get(f"/v1/imports/{job['id']}")
        assert status == 200, job
        if job["status"] not in ("queued", "running"):
            break
        await asyncio.sleep(0.05)
    assert job["status"] == "done", job
    report: dict[str, Any] = job["report"]
    return report


async def attributes(db: Database, bot_id: str, user_id: str) -> dict[str, Any] | None:
    doc = await db[c.PROFILES].find_one({"_id": profile_id(bot_id, user_id)})
    return None if doc is None else dict(doc.get("attributes", {}))


async def test_without_a_mapping_one_is_proposed_and_nothing_changes(
        api: Api, db: Database, bot_id: str) -> None:
    await define(db, bot_id)
    status, report = await post_import(api, bot_id, csv_bytes(GOOD))
    assert status == 200, report
    assert report["proposed_mapping"] == {"User ID": "user_id", "E-mail": "email",
                                          "Age": "age", "Plan": "plan", "Notes": "ignore"}
    assert await attributes(db, bot_id, "u1") is None


async def test_good_rows_are_imported_once_and_shown_on_the_timeline(
        api: Api, db: Database, bot_id: str) -> None:
    await define(db, bot_id)
    report = await run_import(api, bot_id, csv_bytes(GOOD), mapping=MAPPING)
    assert (report["created"], report["updated"], report["unchanged"],
            report["rejected"]) == (2, 0, 0, 0)
    assert await attributes(db, bot_id, "u1") == {"email": "ann@example.com", "age": 31,
                                                     "plan": "pro"}
    status, timeline = await api.get(f"/v1/bots/{bot_id}/users/u1/timeline")
    assert status == 200 and any(e["type"] == "property_set" for e in timeline["events"])
    again = await run_import(api, bot_id, csv_bytes(GOOD), mapping=MAPPING)
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 2)
    changed = [["u1", "ann@example.com", "32", "pro", ""]]
    third = await run_import(api, bot_id, csv_bytes(changed), mapping=MAPPING)
    assert (third["updated"], third["unchanged"]) == (1, 0)
    assert (await attributes(db, bot_id, "u1") or {})["age"] == 32


async def test_bad_and_mixed_rows_are_reported_and_downloadable(
        api: Api, db: Database, bot_id: str) -> None:
    await define(db, bot_id)
    report = await run_import(api, bot_id, csv_bytes(BAD), mapping=MAPPING)
    assert report["rejected"] == 1 and report["created"] == 0
    assert {(r["row"], r["column"]) for r in report["rejections"]} == {
        (2, "E-mail"), (2, "Age"), (2, "Plan")}
    assert await attributes(db, bot_id, "u3") is None
    mixed = await run_import(api, bot_id, csv_bytes([*GOOD, *BAD]), mapping=MAPPING)
    assert (mixed["created"], mixed["rejected"]) == (2, 1)
    status, text = await api.get(mixed["rejections_url"])
    assert status == 200
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0] == ["row", "column", "value", "reason"] and {r[0] for r in rows[1:]} == {"4"}


async def test_a_dry_run_writes_nothing(api: Api, db: Database, bot_id: str) -> None:
    await define(db, bot_id)
    report = await run_import(api, bot_id, csv_bytes(GOOD), mapping=MAPPING, dry_run="true")
    assert report["created"] == 2 and report["dry_run"] is True
    assert await attributes(db, bot_id, "u1") is None


@pytest.mark.parametrize(("delimiter", "encoding"), [
    (",", "utf-8"), (";", "utf-8-sig"), ("\t", "latin-1"), (";", "cp1252")])
async def test_each_delimiter_and_encoding(api: Api, db: Database, bot_id: str,
                                           delimiter: str, encoding: str) -> None:
    await define(db, bot_id)
    await PropertyStore.of(db).define_property(bot_id, custom_property("city", "text", "Ville"))
    rows = [["u1", "zoé@example.com", "30", "pro", "Hélène; €" if encoding != "latin-1"
             else "Hélène; ü"]]
    data = csv_bytes(rows, delimiter, encoding)
    mapping = {**MAPPING, "Notes": "city"}
    report = await run_import(api, bot_id, data, mapping=mapping, key="user_id")
    assert report["created"] == 1, report
    assert report["delimiter"] == delimiter
    assert (await attributes(db, bot_id, "u1") or {})["city"] == rows[0][4]


async def test_xlsx_by_email_key(api: Api, db: Database, bot_id: str) -> None:
    await define(db, bot_id)
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["Email", "Age"])
    sheet.append(["carol@example.com", 28])
    out = io.BytesIO()
    workbook.save(out)
    mapping = {"Email": "email", "Age": "age"}
    report = await run_import(api, bot_id, out.getvalue(), "u.xlsx", mapping=mapping,
                              key="email")
    assert report["format"] == "xlsx" and report["created"] == 1, report
    again = await run_import(api, bot_id, out.getvalue(), "u.xlsx", mapping=mapping,
                             key="email")
    assert again["unchanged"] == 1 and again["created"] == 0


@pytest.mark.parametrize(("data", "filename", "message"), [
    (b"", "u.csv", "empty"),
    (b"\n\n", "u.csv", "empty"),
    (b"not a workbook", "u.xlsx", "not an XLSX"),
    (b"\x00\x01\x02\xff\xfe\x00", "u.csv", "encoding"),
])
async def test_unreadable_files_are_refused(api: Api, db: Database, bot_id: str, data: bytes,
                                            filename: str, message: str) -> None:
    await define(db, bot_id)
    status, report = await post_import(api, bot_id, data, filename, mapping=MAPPING)
    assert status == 400 and message in report["message"], report


async def test_a_file_over_the_limit_is_refused(api: Api, db: Database, bot_id: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(c, "IMPORT_MAX_BYTES", 100)
    status, report = await post_import(api, bot_id, csv_bytes(GOOD * 10), mapping=MAPPING)
    assert status == 400 and "larger than 100 bytes" in report["message"]
    assert await attributes(db, bot_id, "u1") is None


async def test_a_bad_mapping_changes_nothing(api: Api, db: Database, bot_id: str) -> None:
    await define(db, bot_id)
    status, report = await post_import(api, bot_id, csv_bytes(GOOD),
                                       mapping={**MAPPING, "Notes": "nope"})
    assert status == 400 and "unknown property" in report["message"]
    assert await attributes(db, bot_id, "u1") is None


async def test_the_command_line_proposes_then_imports(tmp_path: Path) -> None:
    data_dir = str(tmp_path / "data")
    local = await Database.open(Settings(data_dir=data_dir))
    try:
        await define(local, "cli")
    finally:
        await local.close()
    source = tmp_path / "users.csv"
    source.write_bytes(csv_bytes([*GOOD, *BAD], ";"))
    env = {k: v for k, v in os.environ.items() if k != "MONGODB_URI"}
    common = (AUDIENCE, "import", str(source), "--bot", "cli", "--data-dir", data_dir)

    async def run(*extra: str) -> tuple[int, str]:
        process = await asyncio.create_subprocess_exec(
            *common, *extra, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL, env=env)
        out, _ = await asyncio.wait_for(process.communicate(), 120)
        assert process.returncode is not None
        return process.returncode, out.decode()

    code, out = await run()
    assert code == 0 and "E-mail = email" in out
    maps = [arg for col, prop in MAPPING.items() for arg in ("--map", f"{col}={prop}")]
    code, out = await run(*maps, "--dry-run")
    assert code == 1 and "dry run, nothing written: created 2" in out and "row 4, Age" in out
    code, out = await run(*maps)
    assert "created 2, updated 0, unchanged 0, rejected 1" in out
    code, out = await run(*maps)
    assert "created 0, updated 0, unchanged 2, rejected 1" in out


async def test_an_import_is_a_job_whose_file_is_removed_when_done(
        api: Api, db: Database, bot_id: str, make_key: Any) -> None:
    await define(db, bot_id)
    rows = [[f"u{n}", f"user{n}@example.com", str(20 + n % 50), "free", ""] for n in range(1200)]
    status, job = await post_import(api, bot_id, csv_bytes(rows), mapping=MAPPING)
    assert status == 202 and job["rows"] == 1200 and job["dry_run"] is False
    seen_written: set[int] = set()
    while job["status"] in ("queued", "running"):
        seen_written.add(job["rows_written"])
        await asyncio.sleep(0.02)
        status, job = await api.get(f"/v1/imports/{job['id']}")
    assert job["status"] == "done" and job["rows_written"] == 1200, job
    assert job["report"]["created"] == 1200
    assert job["report"]["rejections_url"] == f"/v1/imports/{job['id']}/rejections.csv"
    assert await TransferStore.of(db).open_file(c.IMPORT_BUCKET, job["id"]) is None
    # The same job read with a key of another bot is not there for it.
    other = api.as_key(await make_key("editor", f"other-{bot_id}"))
    assert (await other.get(f"/v1/imports/{job['id']}"))[0] == 404
    assert (await api.get("/v1/imports/no-such-import"))[0] == 404


async def share_an_email(db: Database, bot_id: str) -> None:
    """Two users with one address (as two demo users have), a third with its own."""
    await define(db, bot_id)
    users = (("d1", "shared@example.com"), ("d2", "shared@example.com"),
             ("d3", "own@example.com"))
    await CaptureStore.of(db).ingest([
        ev.property_set(bot_id, user_id, name, value, channel="web")
        for user_id, email in users for name, value in (("email", email), ("age", 20))])


SHARED = b"Email,Age\r\nShared@example.com,33\r\nown@example.com,34\r\n"


async def test_an_email_several_users_share_is_ambiguous_and_changes_none_of_them(
        api: Api, db: Database, bot_id: str) -> None:
    await share_an_email(db, bot_id)
    mapping = {"Email": "email", "Age": "age"}
    report = await run_import(api, bot_id, SHARED, mapping=mapping, key="email")
    assert (report["updated"], report["rejected"], report["ambiguous"]) == (1, 1, 1), report
    [rejection] = report["rejections"]
    assert (rejection["row"], rejection["column"]) == (2, "Email")
    assert rejection["user_ids"] == ["d1", "d2"] and "2 users" in rejection["reason"]
    ages = {u: (await attributes(db, bot_id, u) or {})["age"] for u in ("d1", "d2", "d3")}
    assert ages == {"d1": 20, "d2": 20, "d3": 34}
    status, text = await api.get(report["rejections_url"])
    assert status == 200 and "d1" in text and "d2" in text

    every = await run_import(api, bot_id, SHARED, mapping=mapping, key="email",
                             update_all_matches="true")
    assert (every["updated"], every["unchanged"], every["rejected"]) == (2, 1, 0), every
    ages = {u: (await attributes(db, bot_id, u) or {})["age"] for u in ("d1", "d2", "d3")}
    assert ages == {"d1": 33, "d2": 33, "d3": 34}


async def test_the_command_line_updates_every_match_only_when_told(tmp_path: Path) -> None:
    data_dir = str(tmp_path / "data")
    local = await Database.open(Settings(data_dir=data_dir))
    try:
        await share_an_email(local, "cli")
    finally:
        await local.close()
    source = tmp_path / "shared.csv"
    source.write_bytes(SHARED)
    env = {k: v for k, v in os.environ.items() if k != "MONGODB_URI"}
    common = (AUDIENCE, "import", str(source), "--bot", "cli", "--data-dir", data_dir,
              "--key", "email", "--map", "Email=email", "--map", "Age=age")

    async def run(*extra: str) -> tuple[int, str]:
        process = await asyncio.create_subprocess_exec(
            *common, *extra, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL, env=env)
        out, _ = await asyncio.wait_for(process.communicate(), 120)
        assert process.returncode is not None
        return process.returncode, out.decode()

    code, out = await run()
    assert code == 1 and "updated 1, unchanged 0, rejected 1 (1 ambiguous)" in out, out
    assert "row 2, Email: 2 users have this email" in out and "d1, d2" in out, out
    code, out = await run("--update-all-matches")
    assert code == 0 and "updated 2, unchanged 1, rejected 0" in out, out


async def test_a_bad_mapping_is_refused_before_any_job_is_queued(
        api: Api, db: Database, bot_id: str) -> None:
    await define(db, bot_id)
    rows = [["u1", "ann@example.com", "31", "pro", ""]]
    status, error = await post_import(api, bot_id, csv_bytes(rows),
                                      mapping={**MAPPING, "Notes": "nickname"})
    assert status == 400 and "nickname" in error["message"]
    assert await db[c.JOBS].count_documents({"bot_id": bot_id}) == 0
    assert await attributes(db, bot_id, "u1") is None


@pytest.mark.parametrize(("body", "content_type"), [
    (b"", "multipart/form-data"),
    (b"garbage", "multipart/form-data; boundary=xx"),
    (b"--xx\r\nContent-Disposition: form-data; name=file\r\n\r\nabc",
     "multipart/form-data; boundary=xx"),
])
async def test_a_malformed_form_is_a_400(api: Api, bot_id: str, body: bytes,
                                         content_type: str) -> None:
    status, error = await api.post(f"/v1/bots/{bot_id}/imports", raw=body,
                                   headers={"Content-Type": content_type})
    assert status == 400 and "multipart form cannot be read" in error["message"], error
