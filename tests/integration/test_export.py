"""Exports through the real HTTP server: the file read back (CSV and XLSX)
matches the audience query, the 10,000 default, formula injection, signed
links (good, tampered, expired), and the link mailed to a real SMTP server."""

from __future__ import annotations

import asyncio
import csv
import email
import email.policy
import io
import os
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from aiohttp import web

from plugin.audience import query as audience
from plugin.audience.property_store import PropertyStore
from plugin.core import constants as c
from plugin.core.events import utc_now
from plugin.core.profiles import profile_id
from plugin.core.properties import custom_property
from plugin.core.settings import Settings
from plugin.db.database import Database
from plugin.handover.channels import ConnectorRegistry
from plugin.http.routes.export import download_path, export_links, mailed_links
from plugin.jobs.model import JobKind
from plugin.jobs.store import JobStore
from plugin.jobs.worker import JobWorker
from plugin.transfer import export as exporting
from plugin.transfer.cells import neutralise
from plugin.transfer.links import sign_link
from plugin.transfer.store import TransferStore
from tests.conftest import Api
from tests.integration.test_cli import AUDIENCE
from tests.loopback import smtp_server

FINISHED = ("done", "failed", "cancelled")
ADULTS = {"conditions": [{"property": "age", "operator": "gt", "value": 17}]}


def xlsx_rows(source: Any) -> list[tuple[Any, ...]]:
    """Every row of the first sheet; the workbook is closed (read-only mode holds the file)."""
    workbook = openpyxl.load_workbook(source, read_only=True)
    try:
        return list(workbook.active.iter_rows(values_only=True))
    finally:
        workbook.close()


async def seed(db: Database, bot_id: str, count: int, **attributes: Any) -> None:
    now = utc_now()
    await PropertyStore.of(db).define_property(bot_id, custom_property("age", "number"))
    await PropertyStore.of(db).define_property(bot_id, custom_property("tags", "list"))
    await PropertyStore.of(db).define_property(bot_id, custom_property("name", "text"))
    docs = [{"_id": profile_id(bot_id, f"u{i:05d}"), "bot_id": bot_id, "user_id": f"u{i:05d}",
             "channel": "web", "source": "api", "created_at": now, "updated_at": now,
             "last_message_at": now, "assigned_to": "bot", "segments": [], "message_count": 1,
             "attributes": {"age": i % 40, "name": f"Zoé {i}", "tags": ["a", "b"],
                            **attributes}}
            for i in range(count)]
    for start in range(0, len(docs), 5000):
        await db[c.PROFILES].insert_many(docs[start:start + 5000])


async def wait_export(api: Api, job_id: str, db: Database | None = None,
                      seconds: float = 60.0) -> dict[str, Any]:
    """The export once finished; after ``seconds``, an error naming the jobs
    the server was busy with (given ``db``)."""
    deadline = time.monotonic() + seconds
    while True:
        status, job = await api.get(f"/v1/exports/{job_id}")
        assert status == 200, job
        if job["status"] in FINISHED:
            return dict(job)
        if time.monotonic() > deadline:
            busy = [] if db is None else [
                {k: j.get(k) for k in ("_id", "kind", "bot_id", "status", "owner",
                                        "lease_until", "done", "total", "attempts")}
                async for j in db[c.JOBS].find({"status": {"$in": ["queued", "running"]}})]
            raise AssertionError(f"export {job_id} is still {job['status']}; unfinished "
                                 f"jobs: {busy}")
        await asyncio.sleep(0.05)


async def download(api: Api, url: str) -> tuple[int, bytes]:
    """Fetch a download link (relative to the server unless a public URL is set)."""
    if url.startswith("/"):
        url = api.base_url + url
    async with api.session.get(url) as response:  # no API key: the link is the credential
        return response.status, await response.read()


async def export(api: Api, bot_id: str, body: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
    status, created = await api.post(f"/v1/bots/{bot_id}/exports", body)
    assert status == 202, created
    job = await wait_export(api, created["job_id"])
    assert job["status"] == "done", job
    assert job["rows_written"] == created["total"]
    status, data = await download(api, job["download_url"])
    assert status == 200
    return job, data


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
async def test_round_trip_matches_the_query(api: Api, db: Database, bot_id: str,
                                            fmt: str) -> None:
    await seed(db, bot_id, 120)
    job, data = await export(api, bot_id, {"format": fmt, "audience": {"filter": ADULTS}})
    if fmt == "csv":
        assert data.startswith(b"\xef\xbb\xbf")
        rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    else:
        rows = [["" if v is None else v for v in r] for r in xlsx_rows(io.BytesIO(data))]
    header, body = rows[0], rows[1:]
    assert header[:7] == list(exporting.DEFAULT_COLUMNS) and "age" in header
    page = await audience.query_audience(db, bot_id, ADULTS, limit=500)
    expected = {u["user_id"]: u for u in page.users}
    assert {r[0] for r in body} == set(expected) and len(body) == page.total == job["total"]
    by_id = {r[0]: dict(zip(header, r, strict=True)) for r in body}
    sample = by_id["u00039"]
    assert sample["name"] == "Zoé 39" and sample["tags"] == "a; b"
    assert float(sample["age"]) == 39


async def test_the_default_limit_is_10000_and_the_maximum_is_enforced(
        api: Api, db: Database, bot_id: str) -> None:
    await seed(db, bot_id, 10_050)
    everyone = {"filter": {"conditions": []}}
    status, created = await api.post(f"/v1/bots/{bot_id}/exports", {"audience": everyone})
    assert status == 202 and created["total"] == 10_000
    job = await wait_export(api, created["job_id"], db)
    assert job["status"] == "done" and job["rows_written"] == 10_000
    stored = await JobStore.of(db).get_job(created["job_id"])
    assert stored is not None and stored["started_by"] == {  # the jobs page shows who
        "key_id": "admin", "label": "admin key", "role": "admin"}
    status, body = await api.post(f"/v1/bots/{bot_id}/exports",
                                  {"audience": everyone, "limit": 10_000_000})
    assert status == 400 and "at most" in body["message"]


async def test_formulas_are_neutralised_in_both_formats(api: Api, db: Database,
                                                        bot_id: str) -> None:
    await seed(db, bot_id, 1, name="=HYPERLINK(\"http://x\")", city="@SUM(A1)")
    await PropertyStore.of(db).define_property(bot_id, custom_property("city", "text"))
    for fmt in ("csv", "xlsx"):
        _, data = await export(api, bot_id, {"format": fmt,
                                             "audience": {"filter": {"conditions": []}}})
        if fmt == "csv":
            rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
        else:
            rows = [list(r) for r in xlsx_rows(io.BytesIO(data))]
        row = dict(zip(rows[0], rows[1], strict=True))
        assert row["name"] == "'=HYPERLINK(\"http://x\")" and row["city"] == "'@SUM(A1)"
    assert neutralise("-1+2") == "'-1+2"
    assert neutralise("\tx") == "'\tx" and neutralise("ok") == "ok"


async def test_links_are_signed_and_expire(api: Api, db: Database, bot_id: str,
                                           app_server: tuple[web.Application, str]) -> None:
    await seed(db, bot_id, 3)
    job, _ = await export(api, bot_id, {"audience": {"filter": {"conditions": []}}})
    good = job["download_url"]
    tampered = good.replace("expires=", "expires=9")
    status, data = await download(api, tampered)
    assert status == 403 and b"signature does not match" in data
    other = good.replace(job["id"], "0" * 32)
    assert (await download(api, other))[0] == 403
    settings = app_server[0][c_settings()]
    past = sign_link(settings, job["id"], now=time.time() - settings.link_ttl_s - 5)
    status, data = await download(api, app_server[1] + download_path(past))
    assert status == 403 and b"expired" in data
    status, data = await download(api, good.split("?")[0])
    assert status == 403
    # A signature no HMAC could be (non-ASCII) is refused like any other, not a 500.
    status, data = await download(api, good.split("signature=")[0] + "signature=%C3%B9%F0%9D%B5")
    assert status == 403 and b"signature does not match" in data


async def test_a_download_url_is_never_built_from_the_host_header(
        api: Api, db: Database, bot_id: str) -> None:
    await seed(db, bot_id, 2)
    job, _ = await export(api, bot_id, {"audience": {"filter": {"conditions": []}}})
    status, shown = await api.get(f"/v1/exports/{job['id']}",
                                  headers={"Host": "attacker.example",
                                           "X-Forwarded-Host": "attacker.example"})
    assert status == 200 and "attacker" not in shown["download_url"], shown
    # No public URL is configured on the test server: a path on this server.
    assert shown["download_url"].startswith(f"/v1/exports/{job['id']}/download?expires=")
    assert (await download(api, shown["download_url"]))[0] == 200
    public = Settings(public_url="https://audience.example/")
    assert export_links(public)("j1").startswith("https://audience.example/v1/exports/j1/")
    assert export_links(Settings())("j1").startswith("/v1/exports/j1/download?expires=")


def c_settings() -> Any:
    from plugin.http.appkeys import SETTINGS
    return SETTINGS


async def test_the_link_is_mailed_through_smtp(db: Database, bot_id: str) -> None:
    await seed(db, bot_id, 5)
    async with smtp_server() as (inbox, smtp_url):
        settings = replace(Settings(), smtp_url=smtp_url,
                           public_url="https://audience.example")
        owner = "test-mailer"
        job = await exporting.create_export(db, settings, bot_id, {
            "audience": {"filter": {"conditions": []}}, "email": "ops@example.com"},
            claimed_by=owner)
        worker = JobWorker(db, ConnectorRegistry(), owner=owner,
                           runners={JobKind.EXPORT: exporting.ExportRunner(
                               settings, mailed_links(settings))})
        await worker.run_job(job)
        done = await JobStore.of(db).get_job(job["_id"])
        assert done is not None and done["status"] == "done" and done["email_sent"] is True
        assert [m.rcpt_tos for m in inbox.messages] == [["ops@example.com"]]
        mail = email.message_from_bytes(inbox.messages[0].content, policy=email.policy.default)
        text = mail.get_content()
        assert f"https://audience.example/v1/exports/{job['_id']}/download?expires=" in text


async def test_without_smtp_the_job_records_the_mail_was_not_sent(
        api: Api, db: Database, bot_id: str) -> None:
    await seed(db, bot_id, 2)
    job, _ = await export(api, bot_id, {"audience": {"filter": {"conditions": []}},
                                        "email": "ops@example.com"})
    assert job["email_sent"] is False


async def test_the_command_line_writes_xlsx_with_a_progress_bar(tmp_path: Path) -> None:
    data_dir = str(tmp_path / "data")
    local = await Database.open(Settings(data_dir=data_dir))
    try:
        await seed(local, "cli", 1500)
    finally:
        await local.close()
    out = tmp_path / "adults.xlsx"
    env = {k: v for k, v in os.environ.items() if k != "MONGODB_URI"}
    process = await asyncio.create_subprocess_exec(
        AUDIENCE, "export", "--bot", "cli", "--data-dir", data_dir, "--where", "age gt 17",
        "--format", "xlsx", "-o", str(out), stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env=env)
    stdout, stderr = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, stderr.decode()
    assert "[##############################] 816/816 rows" in stderr.decode()
    rows = xlsx_rows(out)
    assert len(rows) == 817 and b"816 rows" in stdout


async def test_files_are_removed_after_the_retention_and_their_links_say_so(
        api: Api, db: Database, bot_id: str) -> None:
    await seed(db, bot_id, 3)
    job, _ = await export(api, bot_id, {"audience": {"filter": {"conditions": []}}})
    runner = exporting.ExportRunner(Settings(), mailed_links(Settings()))
    await runner.remove_expired_files(db)  # a fresh file is kept
    assert await TransferStore.of(db).open_file(c.EXPORT_BUCKET, job["id"]) is not None
    eight_days_ago = datetime.now(UTC) - timedelta(days=8)
    await JobStore.of(db).set_job_fields(job["id"], {"finished_at": eight_days_ago})
    assert await runner.remove_expired_files(db) == 1
    assert await TransferStore.of(db).open_file(c.EXPORT_BUCKET, job["id"]) is None
    status, shown = await api.get(f"/v1/exports/{job['id']}")
    assert status == 200 and shown["download_url"] is None and shown["file_removed_at"]
    assert "removed 168 h after" in shown["error"]
    status, data = await download(api, job["download_url"])
    assert status == 404 and b"retention" in data
