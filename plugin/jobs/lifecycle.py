"""The job lifecycle, the same for every kind: create, claim, renew the
lease while reporting progress, then finish, fail — or be cancelled.

* **create** — :func:`create_job` snapshots a chunked job's audience into
  ``job_targets`` then queues the job; a runner kind's job is built with
  :func:`~plugin.jobs.model.new_job` and queued with :func:`queue_job` once
  what it needs is stored (an import's file).
* **claim** — a worker takes a queued job, or a running one whose lease ran
  out (:meth:`JobStore.claim_job`), and holds it as a :class:`JobRun`.
* **progress** — :meth:`JobRun.advance` records progress and renews the
  lease in one conditional update; when that finds the job no longer
  running under this owner (cancelled, or taken over after the lease ran
  out) the run is *lost* and stops.
* **finish / fail** — :meth:`JobRun.finish`, :meth:`JobRun.fail`.
* **pause** — a runner waiting for time to pass (a rate limit) calls
  :meth:`JobRun.pause`: the run gives its worker slot up meanwhile, renews
  the lease, and wakes at once when the worker shuts down.
* **release** — a worker shutting down hands an unfinished job back
  (:meth:`JobRun.release`): its lease runs out now and any worker resumes it.
* **cancel** — :func:`cancel_job`, by anyone, at any time.

A service over :class:`~plugin.jobs.store.JobStore`; it knows no HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import TracebackType
from typing import Any

from plugin.audience.profile_store import ProfileStore
from plugin.core import constants as c
from plugin.core.background import sleep_unless
from plugin.core.errors import AudienceError, NotFound
from plugin.core.events import utc_now
from plugin.db.database import Database
from plugin.jobs.model import Failure, Job, JobKind, JobStatus, lease_end, new_job
from plugin.jobs.store import JobStore

__all__ = ["JobRun", "JobRunner", "cancel_job", "create_job", "get_job", "list_jobs",
           "queue_job", "target_id"]


def target_id(job_id: str, chunk_no: int) -> str:
    """The id of a chunked job's ``chunk_no``-th chunk of users."""
    return f"{job_id}:{chunk_no:06d}"


async def create_job(db: Database, bot_id: str, kind: JobKind, spec: Mapping[str, Any],
                     audience: Mapping[str, Any], query: dict[str, Any], *,
                     chunk_users: int = c.JOB_CHUNK_USERS,
                     claimed_by: str | None = None,
                     started_by: Mapping[str, str] | None = None) -> Job:
    """Snapshot the users matching ``query`` and queue a chunked job over them
    (``started_by`` whom: see :class:`~plugin.jobs.model.Starter`).

    ``claimed_by`` creates the job already running under that worker (a
    worker that means to run it at once, and tests). Returns the job document.
    """
    user_ids = await ProfileStore.of(db).snapshot_user_ids(query)
    chunks = [user_ids[i:i + chunk_users] for i in range(0, len(user_ids), chunk_users)]
    job = new_job(bot_id, kind, spec, total=len(user_ids), now=utc_now(), audience=audience,
                  chunks=len(chunks), chunk_users=chunk_users, claimed_by=claimed_by,
                  started_by=started_by)
    targets = [{"_id": target_id(job["_id"], n), "job_id": job["_id"], "user_ids": chunk}
               for n, chunk in enumerate(chunks)]
    await JobStore.of(db).insert_job(job, targets)
    return job


async def queue_job(db: Database, job: Job) -> Job:
    """Queue a runner kind's job (one built by :func:`~plugin.jobs.model.new_job`)."""
    await JobStore.of(db).insert_job(job, [])
    return job


async def get_job(db: Database, job_id: str, kind: JobKind | None = None) -> Job:
    """The job document (of that ``kind``, if given).

    Raises:
        NotFound: no such job (of that kind).
    """
    job = await JobStore.of(db).get_job(job_id)
    if job is None or (kind is not None and job["kind"] != kind):
        raise NotFound(f"no {kind or 'job'} {job_id!r}", job=job_id)
    return job


async def list_jobs(db: Database, bot_id: str, limit: int = c.JOBS_LISTED) -> list[Job]:
    """The bot's latest jobs (``limit`` of them), newest first."""
    return await JobStore.of(db).list_jobs(bot_id, limit)


async def cancel_job(db: Database, job_id: str) -> Job:
    """Stop a queued or running job (a running one stops at its next progress
    report); a finished job is returned unchanged.

    Raises:
        NotFound: no such job.
    """
    job = await JobStore.of(db).cancel_job(job_id, utc_now())
    if job is None:
        raise NotFound(f"no job {job_id!r}", job=job_id)
    return job


class JobRun:
    """One worker's hold on one running job, from its claim to its end.

    ``stopping`` tells the code doing the work to stop at the next step: the
    job is lost, the worker is shutting down (``shutdown`` is set), or
    (``stop_after``, for tests and fault drills) it has made that many steps
    and should stop as a worker that died would, leaving the job running and
    leased.

    ``async with run:`` holds one of the worker's ``slots`` (the jobs that may
    work at once) while the runner works; :meth:`pause` gives it up while
    the run only waits.
    """

    def __init__(self, db: Database, job: Job, owner: str, *, lease_s: float = c.JOB_LEASE_S,
                 shutdown: asyncio.Event | None = None,
                 slots: asyncio.Semaphore | None = None,
                 stop_after: int | None = None) -> None:
        self.db = db
        self.job = job
        self.owner = owner
        self.lease_s = lease_s
        self.steps = 0  # progress reports that renewed the lease
        self.lost = False  # cancelled, or taken over by another worker
        self.settled = False  # finished or failed by this run
        self.halted = False  # a progress report said to stop
        self._shutdown = shutdown or asyncio.Event()
        self._slots = slots
        self._holding = False  # one of the slots
        self._stop_after = stop_after

    async def __aenter__(self) -> JobRun:
        await self._occupy()
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        traceback: TracebackType | None) -> None:
        self._vacate()

    @property
    def job_id(self) -> str:
        return self.job["_id"]

    @property
    def shutting_down(self) -> bool:
        return self._shutdown.is_set()

    @property
    def stopping(self) -> bool:
        return (self.lost or self.shutting_down
                or (self._stop_after is not None and self.steps >= self._stop_after))

    async def advance(self, *, guard: Mapping[str, Any] | None = None,
                      fields: Mapping[str, Any] | None = None,
                      counts: Mapping[str, int] | None = None,
                      failures: Sequence[Failure] = ()) -> bool:
        """Record progress and renew the lease; False (and the run is lost) when
        the job is no longer this worker's."""
        updated = await JobStore.of(self.db).advance_job(
            self.job_id, self.owner, lease_end(utc_now(), self.lease_s), guard=guard,
            fields=fields, counts=counts, failures=failures)
        if updated is None:
            self.lost = True
            return False
        self.job, self.steps = updated, self.steps + 1
        return True

    async def report_rows(self, rows: int) -> bool:
        """A runner kind's progress: ``rows`` written so far. Whether to go on
        (once it says no, :attr:`halted` is set)."""
        going_on = await self.advance(fields={"rows_written": rows}) and not self.stopping
        self.halted = not going_on
        return going_on

    async def finish(self, **results: Any) -> None:
        """The job is done, with these ``results`` (counts, an export's file…)."""
        await self._settle(JobStatus.DONE, results)

    async def fail(self, error: str) -> None:
        await self._settle(JobStatus.FAILED, {"error": error[:500]})

    async def renew(self) -> bool:
        """Renew the lease without reporting progress; False (and the run is
        lost) when the job is no longer this worker's."""
        updated = await JobStore.of(self.db).advance_job(
            self.job_id, self.owner, lease_end(utc_now(), self.lease_s))
        if updated is None:
            self.lost = True
            return False
        self.job = updated
        return True

    async def pause(self, seconds: float) -> bool:
        """Let ``seconds`` pass (a rate limit's wait) without holding a worker
        slot, renewing the lease meanwhile; the wait ends at once when the
        worker shuts down. Whether to go on (False: stop now)."""
        deadline = time.monotonic() + seconds
        self._vacate()
        try:
            while not self.stopping and (left := deadline - time.monotonic()) > 0:
                # A third of the lease: a renewal may fail once and the lease still holds.
                await sleep_unless(self._shutdown, min(left, self.lease_s / 3))
                if not self.stopping and time.monotonic() < deadline:
                    await self.renew()
        finally:
            if not self.stopping:  # one stopping needs no slot to tidy up
                await self._occupy()
        return not self.stopping

    async def release(self) -> None:
        """Hand the unfinished job back: another worker may resume it at once.
        Best effort: a database that is away leaves the lease to run out."""
        if self.settled or self.lost:
            return
        with contextlib.suppress(AudienceError):
            await JobStore.of(self.db).release_job(self.job_id, self.owner, utc_now())

    async def _occupy(self) -> None:
        if self._slots is not None and not self._holding:
            await self._slots.acquire()
            self._holding = True

    def _vacate(self) -> None:
        if self._slots is not None and self._holding:
            self._slots.release()
            self._holding = False

    async def _settle(self, status: JobStatus, fields: Mapping[str, Any]) -> None:
        settled = await JobStore.of(self.db).settle_job(self.job_id, self.owner, status,
                                                        utc_now(), fields)
        if settled is None:  # cancelled or taken over meanwhile: theirs to settle
            self.lost = True
        else:
            self.job, self.settled = settled, True


# A job kind plugs in as a runner: it does the job's work through its JobRun,
# reports progress with run.advance() or run.report_rows(), waits with
# run.pause(), stops when run.stopping, and ends with run.finish(); an
# exception fails the job.
JobRunner = Callable[[JobRun], Awaitable[None]]
