"""Jobs, exports, imports and API keys as the API shows them.

The services return job documents (:class:`~plugin.jobs.model.Job`), import
reports and keys; these functions make the response bodies the schemas
describe (``job``, ``export``, ``import``, ``key``). URLs are built by the routes and
handed in, so the shapes and the links cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from plugin.access.keys import ApiKey
from plugin.core.settings import Settings
from plugin.jobs.model import Job, JobStatus

__all__ = ["shown_export", "shown_import", "shown_job", "shown_key"]

# Kept by the import's stored report, not shown.
_INTERNAL_REPORT_FIELDS = ("_id", "bot_id", "at", "digest")


def shown_key(key: ApiKey) -> dict[str, Any]:
    """An API key as the API shows it (the ``key`` schema)."""
    return {"id": key.id, "prefix": key.prefix, "role": str(key.role), "bots": list(key.bots),
            "label": key.label, "created_at": key.created_at, "last_used_at": key.last_used_at,
            "revoked_at": key.revoked_at}


def shown_job(job: Job) -> dict[str, Any]:
    """A job (of a bulk action) as the API shows it."""
    return {"id": job["_id"], "bot_id": job["bot_id"], "kind": job["kind"],
            "status": job["status"], "total": job["total"], "done": job["done"],
            "failed": job["failed"], "skipped": job["skipped"],
            "failures": list(job.get("failures", [])), "audience": job["audience"],
            "spec": job["spec"], "attempts": job.get("attempts", 0),
            "created_at": job["created_at"], "started_at": job.get("started_at"),
            "finished_at": job.get("finished_at"), "started_by": job.get("started_by")}


def shown_export(job: Job, settings: Settings,
                 download_url: Callable[[str], str]) -> dict[str, Any]:
    """An export job as the API shows it; once done, ``download_url(job id)``,
    a fresh signed link to its file."""
    shown: dict[str, Any] = {
        "id": job["_id"], "bot_id": job["bot_id"], "status": job["status"],
        "format": job["spec"]["format"], "columns": job["spec"]["columns"],
        "total": job["total"], "rows_written": job.get("rows_written", 0),
        "email": job["spec"].get("email"), "email_sent": job.get("email_sent"),
        "created_at": job["created_at"], "finished_at": job.get("finished_at"),
        "download_url": None, "expires_in_s": None,
    }
    if job.get("error"):
        shown["error"] = job["error"]
    if job.get("file_removed_at"):
        shown["file_removed_at"] = job["file_removed_at"]
        shown["error"] = (f"the file was removed {settings.export_retention_s // 3600} h after "
                          "it was built; export again")
    if job["status"] == JobStatus.DONE and job.get("file_id"):
        shown["download_url"] = download_url(job["_id"])
        shown["expires_in_s"] = settings.link_ttl_s
    return shown


def shown_import(job: Job, report: Mapping[str, Any] | None,
                 rejections_url: Callable[[str], str]) -> dict[str, Any]:
    """An import job as the API shows it, with its report once there is one
    (and ``rejections_url(job id)``, where its rejected rows are)."""
    shown: dict[str, Any] = {
        "id": job["_id"], "bot_id": job["bot_id"], "status": job["status"],
        "dry_run": job["spec"]["dry_run"],
        "update_all_matches": job["spec"].get("update_all_matches", False), "rows": job["total"],
        "rows_written": job.get("rows_written", 0), "created_at": job["created_at"],
        "finished_at": job.get("finished_at"), "error": job.get("error"), "report": None}
    if report is not None:
        shown["report"] = {k: v for k, v in report.items() if k not in _INTERNAL_REPORT_FIELDS}
        shown["report"]["rejections_url"] = rejections_url(job["_id"])
    return shown
