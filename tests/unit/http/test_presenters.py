"""The API shapes of jobs, exports and imports; their links come from the routes."""

from __future__ import annotations

from datetime import UTC, datetime

from plugin.core.settings import Settings
from plugin.http.presenters import shown_export, shown_import, shown_job
from plugin.http.routes.export import download_path, download_url, mailed_links
from plugin.http.routes.imports import rejections_url
from plugin.jobs.model import JobKind, new_job
from plugin.transfer.links import check_link, sign_link

NOW = datetime(2026, 3, 1, tzinfo=UTC)
SETTINGS = Settings(link_secret="s", link_ttl_s=7200, export_retention_s=86_400)


def test_a_job_shows_its_progress_and_not_its_lease() -> None:
    job = new_job("bot", JobKind.BROADCAST, {"message": {"text": "hi"}}, total=2, now=NOW,
                  audience={"filter": {"conditions": []}}, chunks=1, chunk_users=50,
                  claimed_by="w1")
    shown = shown_job(job)
    assert shown["id"] == job["_id"] and (shown["status"], shown["attempts"]) == ("running", 1)
    assert not {"owner", "lease_until", "_id", "next_chunk"} & set(shown)


def test_an_export_shows_a_fresh_link_once_done_and_why_it_has_none_once_removed() -> None:
    job = new_job("bot", JobKind.EXPORT, {"format": "csv", "columns": ["user_id"],
                                          "email": None}, total=3, now=NOW)
    asked: list[str] = []

    def link(job_id: str) -> str:
        asked.append(job_id)
        return f"https://example/{job_id}"

    assert shown_export(job, SETTINGS, link)["download_url"] is None and asked == []
    job.update({"status": "done", "file_id": job["_id"]})
    shown = shown_export(job, SETTINGS, link)
    assert (shown["download_url"], shown["expires_in_s"]) == (f"https://example/{job['_id']}",
                                                              7200)
    job.update({"file_id": None, "file_removed_at": NOW})
    shown = shown_export(job, SETTINGS, link)
    assert shown["download_url"] is None and "removed 24 h after" in shown["error"]


def test_an_import_shows_its_report_without_internal_fields() -> None:
    job = new_job("bot", JobKind.IMPORT, {"dry_run": False}, total=2, now=NOW)
    assert shown_import(job, None, rejections_url)["report"] is None
    report = {"_id": job["_id"], "bot_id": "bot", "at": NOW, "digest": "abc", "created": 2}
    shown = shown_import(job, report, rejections_url)
    assert shown["report"] == {"created": 2,
                               "rejections_url": f"/v1/imports/{job['_id']}/rejections.csv"}


def test_download_links_point_at_the_download_route_and_check_out() -> None:
    link = sign_link(SETTINGS, "job1", now=1_800_000_000)
    assert download_path(link) == (f"/v1/exports/job1/download?expires={link.expires}"
                                   f"&signature={link.signature}")
    url = download_url(SETTINGS, "http://host:1/", "job1")
    assert url.startswith("http://host:1/v1/exports/job1/download?expires=")
    expires, signature = (part.split("=")[1] for part in url.split("?")[1].split("&"))
    check_link(SETTINGS, "job1", expires, signature)
    mailed = Settings(link_secret="s", public_url="https://audience.example")
    assert mailed_links(mailed)("j").startswith("https://audience.example/v1/exports/j/")
    assert mailed_links(Settings(host="0.0.0.0", port=81))("j").startswith(
        "http://0.0.0.0:81/v1/exports/j/download?")
