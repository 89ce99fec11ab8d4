"""The job model: its kinds, its states and the one document every job is.

A job is stored as one document (:class:`Job`) whatever its kind, and goes
through the same states::

    queued ──claim──▶ running ──finish──▶ done
                        │  └────fail────▶ failed
    queued or running ──cancel──────────▶ cancelled
    running, lease run out ──claim──▶ running (another owner; attempts + 1)

A *chunked* kind (broadcast, workflow, bulk update) walks a snapshot of its
audience chunk by chunk (``chunks``, ``next_chunk``) and counts users
``done``/``failed``/``skipped``; a *runner* kind (export, import) is done
whole by a runner that reports ``rows_written`` as it goes. The transitions
are :mod:`plugin.jobs.lifecycle`'s; this module is pure (no I/O).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, NotRequired, TypedDict

from plugin.core import constants as c

__all__ = ["ACTING", "ACTIVE", "CLAIMED", "FINISHED", "Failure", "Job", "JobKind", "JobStatus",
           "Starter", "lease_end", "new_job"]


class JobKind(StrEnum):
    BROADCAST = "broadcast"
    WORKFLOW = "workflow"
    BULK_UPDATE = "bulk_update"
    EXPORT = "export"
    IMPORT = "import"


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


# A job that may still change; one that never will again.
ACTIVE = frozenset({JobStatus.QUEUED, JobStatus.RUNNING})
FINISHED = frozenset({JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED})


# A per-user job marker's states from when a worker takes the user (with
# the rest of the chunk) until it acts for the user, and while it acts, until
# it settles what it did (see plugin.jobs.worker).
CLAIMED = "claimed"
ACTING = "acting"


class Failure(TypedDict):
    user_id: str
    reason: str | None


class Starter(TypedDict):
    """Who started a job: the API key's id and label, and its role."""

    key_id: str
    label: str
    role: str


class Job(TypedDict):
    _id: str
    bot_id: str
    kind: str  # a JobKind
    status: str  # a JobStatus
    spec: dict[str, Any]  # what to do, by kind: the message, the module, the columns…
    audience: dict[str, Any]  # an audience spec (plugin.audience.spec), or {}
    total: int  # users (or rows) to handle
    chunks: int
    chunk_users: int
    next_chunk: int
    done: int
    failed: int
    skipped: int
    failures: list[Failure]  # the first JOB_MAX_FAILURES_KEPT
    attempts: int  # claims so far
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    owner: str | None  # the worker holding it while running
    lease_until: datetime | None  # after this, another worker may take it over
    started_by: NotRequired[Starter | None]  # None: not recorded
    rows_written: NotRequired[int]  # a runner kind's progress
    error: NotRequired[str]  # why it failed
    # An export's results: its file (None once removed) and the mailed link.
    file_id: NotRequired[str | None]
    file_removed_at: NotRequired[datetime]
    email_sent: NotRequired[bool | None]
    email_error: NotRequired[str | None]


def lease_end(now: datetime, lease_s: float = c.JOB_LEASE_S) -> datetime:
    """When a lease taken or renewed at ``now`` runs out."""
    return now + timedelta(seconds=lease_s)


def new_job(bot_id: str, kind: JobKind, spec: Mapping[str, Any], *, total: int, now: datetime,
            audience: Mapping[str, Any] | None = None, chunks: int | None = None,
            chunk_users: int | None = None, claimed_by: str | None = None,
            started_by: Mapping[str, str] | None = None) -> Job:
    """A queued job (a runner kind's, without ``chunks``), started by ``started_by``.

    A runner kind has one chunk of ``total`` and counts ``rows_written``.
    ``claimed_by`` makes it running under that worker already (a worker that
    means to run it at once, and tests).
    """
    job: Job = {
        "_id": uuid.uuid4().hex, "bot_id": bot_id, "kind": str(kind),
        "status": str(JobStatus.QUEUED), "spec": dict(spec), "audience": dict(audience or {}),
        "total": total, "chunks": 1 if chunks is None else chunks,
        "chunk_users": total if chunk_users is None else chunk_users, "next_chunk": 0,
        "done": 0, "failed": 0, "skipped": 0, "failures": [], "attempts": 0,
        "created_at": now, "started_at": None, "finished_at": None,
        "owner": None, "lease_until": None,
        "started_by": Starter(key_id=started_by.get("key_id", ""),
                              label=started_by.get("label", ""),
                              role=started_by.get("role", "")) if started_by else None,
    }
    if chunks is None:
        job["rows_written"] = 0
    if claimed_by is not None:
        job["status"], job["owner"], job["attempts"] = str(JobStatus.RUNNING), claimed_by, 1
        job["started_at"], job["lease_until"] = now, lease_end(now)
    return job
