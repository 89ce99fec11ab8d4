"""The one job document every kind is stored as."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from plugin.core import constants as c
from plugin.jobs.model import ACTIVE, FINISHED, JobKind, JobStatus, new_job

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def test_a_chunked_job_is_queued_with_its_chunks_and_no_row_count() -> None:
    job = new_job("bot", JobKind.BROADCAST, {"message": {"text": "hi"}}, total=120, now=NOW,
                  audience={"segment": "s1"}, chunks=3, chunk_users=50)
    assert (job["kind"], job["status"], job["total"], job["chunks"], job["chunk_users"],
            job["next_chunk"]) == ("broadcast", "queued", 120, 3, 50, 0)
    assert (job["done"], job["failed"], job["skipped"], job["failures"], job["attempts"]) == (
        0, 0, 0, [], 0)
    assert (job["owner"], job["lease_until"], job["started_at"], job["finished_at"]) == (
        None, None, None, None)
    assert "rows_written" not in job and job["audience"] == {"segment": "s1"}
    assert type(job["kind"]) is str and type(job["status"]) is str  # stored as plain strings


def test_a_runner_job_is_one_chunk_of_its_rows_and_counts_rows_written() -> None:
    job = new_job("bot", JobKind.EXPORT, {"format": "csv"}, total=7, now=NOW)
    assert (job["chunks"], job["chunk_users"], job["rows_written"], job["audience"]) == (
        1, 7, 0, {})
    assert job["_id"] != new_job("bot", JobKind.EXPORT, {}, total=7, now=NOW)["_id"]


def test_a_job_created_claimed_is_running_under_its_worker_with_a_lease() -> None:
    job = new_job("bot", JobKind.IMPORT, {}, total=1, now=NOW, claimed_by="w1")
    assert (job["status"], job["owner"], job["attempts"], job["started_at"]) == (
        "running", "w1", 1, NOW)
    assert job["lease_until"] == NOW + timedelta(seconds=c.JOB_LEASE_S)


def test_every_status_is_active_or_finished() -> None:
    assert ACTIVE | FINISHED == set(JobStatus) and not ACTIVE & FINISHED
