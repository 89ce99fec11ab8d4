"""Jobs: bulk actions (broadcasts, workflow runs, bulk property updates) that
run in the background, stored in MongoDB and claimed by any worker of the
deployment.

A job's audience is snapshotted when it is created: the matching user ids
go into ``job_targets`` in chunks of ``chunk_users``, so a resumed job works
on the same users whatever changed since. A worker claims a job atomically
(``queued``, or ``running`` with an expired lease) and takes it chunk by
chunk; after each chunk one conditional update adds the chunk's counts,
moves ``next_chunk`` on and renews the lease. If that update finds the job
no longer ``running`` under this owner (cancelled, or taken over after the
lease ran out) the worker stops.

Exactly once, per (job, user), for side effects (a broadcast message, a
workflow start):

1. before acting, the worker inserts a ``claimed`` marker with ``_id``
   ``<job>:<user>`` into ``job_markers`` (a unique key: two workers cannot
   both claim a user);
2. it acts (delivers through the user's connector), records the result —
   a broadcast's messages are ingested with deterministic event ids
   ``broadcast-<job>-<n>``, so a retried write is a duplicate — and then
   settles the marker to ``done``/``failed``/``skipped``;
3. a resumed chunk counts users with a settled marker as their marker says
   and never acts for them again. A ``claimed`` marker means a worker died
   between 1 and 2: for a broadcast, the stored event proves the message
   went out (``done``); without it the user is reported ``failed``
   ("interrupted") and is *not* sent the message again — at most once
   rather than maybe twice.

Bulk updates need no markers: setting the same values again is harmless.

A service over :class:`~plugin.db.store.Store` and the connector registry; it
knows no HTTP and imports no connector.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from plugin.core import constants as c
from plugin.core import events as ev
from plugin.core.errors import AudienceError, NotFound
from plugin.core.events import utc_now
from plugin.db.store import Store, event_key
from plugin.handover.channels import ChannelConnector, ConnectorRegistry

__all__ = [
    "JobKind",
    "JobStatus",
    "JobWorker",
    "JobRunner",
    "create_job",
    "runner_job",
    "get_job",
    "cancel_job",
    "shown_job",
    "marker_key",
    "broadcast_event_id",
    "BROADCAST_SOURCE",
]

log = logging.getLogger(__name__)
BROADCAST_SOURCE = "broadcast"
CLAIMED = "claimed"


class JobKind(StrEnum):
    BROADCAST = "broadcast"
    WORKFLOW = "workflow"
    BULK_UPDATE = "bulk_update"
    EXPORT = "export"
    IMPORT = "import"


# A job kind that is not a walk over user chunks (an export) is run whole by a
# runner the app hands the worker: runner(worker, job) settles the job itself.
JobRunner = Callable[["JobWorker", dict[str, Any]], Awaitable[None]]


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Outcome(StrEnum):
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class UserResult:
    outcome: Outcome
    reason: str | None = None


def marker_key(job_id: str, user_id: str) -> str:
    return f"{job_id}:{user_id}"


def broadcast_event_id(job_id: str, index: int) -> str:
    """The id of the ``index``-th message a broadcast delivered to one user."""
    return f"broadcast-{job_id}-{index}"


def _target_id(job_id: str, chunk_no: int) -> str:
    return f"{job_id}:{chunk_no:06d}"


async def create_job(store: Store, bot_id: str, kind: JobKind, spec: Mapping[str, Any],
                     audience: Mapping[str, Any], query: dict[str, Any], *,
                     chunk_users: int = c.JOB_CHUNK_USERS,
                     claimed_by: str | None = None) -> dict[str, Any]:
    """Snapshot the users matching ``query`` and queue a job over them.

    ``claimed_by`` creates the job already running under that worker (a
    worker that means to run it at once, and tests). Returns the job document.
    """
    user_ids = await store.snapshot_user_ids(query)
    job_id = uuid.uuid4().hex
    chunks = [user_ids[i:i + chunk_users] for i in range(0, len(user_ids), chunk_users)]
    targets = [{"_id": _target_id(job_id, n), "job_id": job_id, "user_ids": chunk}
               for n, chunk in enumerate(chunks)]
    now = utc_now()
    job: dict[str, Any] = {
        "_id": job_id, "bot_id": bot_id, "kind": str(kind), "status": str(JobStatus.QUEUED),
        "spec": dict(spec), "audience": dict(audience), "total": len(user_ids),
        "chunks": len(chunks), "chunk_users": chunk_users, "next_chunk": 0,
        "done": 0, "failed": 0, "skipped": 0, "failures": [], "attempts": 0,
        "created_at": now, "started_at": None, "finished_at": None,
        "owner": None, "lease_until": None,
    }
    if claimed_by is not None:
        job.update(status=str(JobStatus.RUNNING), owner=claimed_by, started_at=now,
                   attempts=1, lease_until=now + timedelta(seconds=c.JOB_LEASE_S))
    await store.insert_job(job, targets)
    return job


def runner_job(bot_id: str, kind: JobKind, spec: Mapping[str, Any], total: int, *,
               audience: Mapping[str, Any] | None = None,
               claimed_by: str | None = None) -> dict[str, Any]:
    """A new job of a kind a runner does whole (export, import): no user
    chunks; the runner reports ``rows_written`` as it goes."""
    now = utc_now()
    job: dict[str, Any] = {
        "_id": uuid.uuid4().hex, "bot_id": bot_id, "kind": str(kind),
        "status": str(JobStatus.QUEUED), "spec": dict(spec), "audience": dict(audience or {}),
        "total": total, "chunks": 1, "chunk_users": total, "next_chunk": 0,
        "done": 0, "failed": 0, "skipped": 0, "failures": [], "attempts": 0,
        "rows_written": 0, "created_at": now, "started_at": None, "finished_at": None,
        "owner": None, "lease_until": None,
    }
    if claimed_by is not None:
        job.update(status=str(JobStatus.RUNNING), owner=claimed_by, started_at=now,
                   attempts=1, lease_until=now + timedelta(seconds=c.JOB_LEASE_S))
    return job


def shown_job(job: Mapping[str, Any]) -> dict[str, Any]:
    """A job as the API shows it."""
    return {"id": job["_id"], "bot_id": job["bot_id"], "kind": job["kind"],
            "status": job["status"], "total": job["total"], "done": job["done"],
            "failed": job["failed"], "skipped": job["skipped"],
            "failures": list(job.get("failures", [])), "audience": job["audience"],
            "spec": job["spec"], "attempts": job.get("attempts", 0),
            "created_at": job["created_at"], "started_at": job.get("started_at"),
            "finished_at": job.get("finished_at")}


async def get_job(store: Store, job_id: str, kind: JobKind | None = None) -> dict[str, Any]:
    """The job document (of that ``kind``, if given).

    Raises:
        NotFound: no such job (of that kind).
    """
    job = await store.get_job(job_id)
    if job is None or (kind is not None and job["kind"] != kind):
        raise NotFound(f"no {kind or 'job'} {job_id!r}", job=job_id)
    return job


async def cancel_job(store: Store, job_id: str) -> dict[str, Any]:
    """Stop a queued or running job (a running one stops after its current chunk);
    a finished job is returned unchanged."""
    job = await store.cancel_job(job_id, utc_now())
    if job is None:
        raise NotFound(f"no job {job_id!r}", job=job_id)
    return job


class _Pacer:
    """Spaces actions ``1 / rate`` seconds apart (no limit when ``rate`` is None)."""

    def __init__(self, rate: float | None) -> None:
        self._interval = 1.0 / rate if rate else 0.0
        self._next = time.monotonic()

    async def wait(self) -> None:
        if not self._interval:
            return
        now = time.monotonic()
        if self._next > now:
            await asyncio.sleep(self._next - now)
        self._next = max(self._next, now) + self._interval


class JobWorker:
    """Claims jobs from the database and runs them, one at a time.

    ``start()`` begins polling; ``close()`` stops taking work, lets the
    current job finish its chunk for up to ``drain_s`` seconds, then cancels,
    and hands an unfinished job back (its lease expires now) so another
    worker resumes it at once.
    """

    def __init__(self, store: Store, connectors: ConnectorRegistry, *,
                 owner: str | None = None, lease_s: float = c.JOB_LEASE_S,
                 poll_s: float = c.JOB_POLL_INTERVAL_S,
                 runners: Mapping[str, JobRunner] | None = None,
                 housekeeping: Sequence[Callable[[Store], Awaitable[object]]] = ()) -> None:
        self.store = store
        self.runners = dict(runners or {})
        # Chores (removing expired export files) run when idle, now and then.
        self.housekeeping = tuple(housekeeping)
        self._next_housekeeping = 0.0
        self.connectors = connectors
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.lease_s = lease_s
        self.poll_s = poll_s
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._current: str | None = None

    async def start(self) -> JobWorker:
        self._task = asyncio.create_task(self._poll_forever(), name=f"job-worker {self.owner}")
        return self

    async def close(self, drain_s: float = c.JOB_DRAIN_S) -> None:
        self._stopping.set()
        task, self._task = self._task, None
        if task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), drain_s)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._current is not None:
            await self._release(self._current)

    async def run_once(self) -> bool:
        """Claim one job and run it; False when there was nothing to do."""
        now = utc_now()
        job = await self.store.claim_job(self.owner, self._lease_from(now), now)
        if job is None:
            return False
        log.info("job %s (%s, %d users): claimed by %s", job["_id"], job["kind"], job["total"],
                 self.owner)
        await self.run_job(job)
        return True

    async def run_job(self, job: dict[str, Any], *, stop_after_chunks: int | None = None) -> None:
        """Run a job this worker holds, from its ``next_chunk`` on.

        ``stop_after_chunks`` leaves it running (and leased) after that many
        chunks, as a worker that died would: for tests and fault drills.
        """
        job_id = job["_id"]
        self._current = job_id
        try:
            await self._run(job, stop_after_chunks)
        except Exception as exc:  # recorded on the job; the worker goes on
            log.exception("job %s failed", job_id)
            await self.store.update_owned_job(job_id, self.owner, {}, {"$set": {
                "status": str(JobStatus.FAILED), "finished_at": utc_now(), "owner": None,
                "error": f"{type(exc).__name__}: {exc}"[:500]}})
        self._current = None

    async def _run(self, job: dict[str, Any], stop_after_chunks: int | None) -> None:
        runner = self.runners.get(job["kind"])
        if runner is not None:
            await runner(self, job)
            return
        job_id, chunk_no, ran = job["_id"], job["next_chunk"], 0
        pacer = _Pacer(job["spec"].get("rate_per_second"))
        while chunk_no < job["chunks"]:
            if self._stopping.is_set() or (stop_after_chunks is not None
                                           and ran >= stop_after_chunks):
                return
            users = await self.store.job_target_chunk(_target_id(job_id, chunk_no))
            results = await self._process(job, users, pacer)
            counts = Counter(r.outcome for r in results.values())
            update: dict[str, Any] = {
                "$inc": {str(o): counts.get(o, 0) for o in Outcome},
                "$set": {"next_chunk": chunk_no + 1,
                         "lease_until": self._lease_from(utc_now())}}
            failures = [{"user_id": u, "reason": r.reason} for u, r in results.items()
                        if r.outcome is Outcome.FAILED]
            if failures:
                update["$push"] = {"failures": {"$each": failures,
                                                "$slice": c.JOB_MAX_FAILURES_KEPT}}
            updated = await self.store.update_owned_job(job_id, self.owner,
                                                        {"next_chunk": chunk_no}, update)
            if updated is None:
                log.info("job %s: cancelled or taken over; %s stops", job_id, self.owner)
                self._current = None
                return
            job, chunk_no, ran = updated, chunk_no + 1, ran + 1
        await self.store.update_owned_job(job_id, self.owner, {}, {"$set": {
            "status": str(JobStatus.DONE), "finished_at": utc_now(), "owner": None}})
        log.info("job %s done: %d done, %d failed, %d skipped", job_id, job["done"],
                 job["failed"], job["skipped"])

    async def _process(self, job: Mapping[str, Any], users: list[str],
                       pacer: _Pacer) -> dict[str, UserResult]:
        if job["kind"] == JobKind.BULK_UPDATE:
            return await self._bulk_update(job, users)
        return await self._act_once(job, users, pacer)

    async def _bulk_update(self, job: Mapping[str, Any], users: list[str]) -> dict[str, UserResult]:
        known = await self.store.known_users(job["bot_id"], users)
        spec = job["spec"]
        changed = [u for u in users if u in known]
        await self.store.update_attributes(job["bot_id"], changed,
                                           spec.get("set", {}), spec.get("unset", []))
        # On each timeline too; the id, fixed by job and user, makes a resumed chunk count once.
        change = {"job": job["_id"], "set": spec.get("set", {}), "unset": spec.get("unset", [])}
        await self.store.ingest([ev.custom(job["bot_id"], u, "bulk_update", change,
                                           event_id=f"bulk-{job['_id']}", source="bulk")
                                 for u in changed])
        return {u: UserResult(Outcome.DONE) if u in known
                else UserResult(Outcome.FAILED, "the user has no profile any more")
                for u in users}

    async def _act_once(self, job: Mapping[str, Any], users: list[str],
                        pacer: _Pacer) -> dict[str, UserResult]:
        """Deliver (or start the workflow) for each user of a chunk at most once."""
        job_id, bot_id = job["_id"], job["bot_id"]
        keys = {u: marker_key(job_id, u) for u in users}
        markers = await self.store.job_markers(list(keys.values()))
        results: dict[str, UserResult] = {}
        in_doubt: list[str] = []
        for user_id, key in keys.items():
            marker = markers.get(key)
            if marker is None:
                continue
            if marker["state"] == CLAIMED:
                in_doubt.append(user_id)
            else:
                results[user_id] = UserResult(Outcome(marker["state"]), marker.get("reason"))
        settled = await self._settle_in_doubt(job, in_doubt)
        results.update(settled)

        pending = [u for u in users if keys[u] not in markers]
        profiles = await self.store.profiles_by_user(bot_id, pending)
        decided: dict[str, UserResult] = {}
        to_act: list[tuple[str, Mapping[str, Any], ChannelConnector]] = []
        include_held = bool(job["spec"].get("include_human_held", False))
        for user_id in pending:
            profile = profiles.get(user_id)
            connector = self.connectors.get(profile.get("source")) if profile else None
            if profile is None:
                decided[user_id] = UserResult(Outcome.FAILED, "the user has no profile any more")
            elif (str(profile.get("assigned_to", "bot")).startswith("human:")
                  and not include_held):
                decided[user_id] = UserResult(Outcome.SKIPPED, "a human holds the conversation")
            elif connector is None:
                decided[user_id] = UserResult(
                    Outcome.FAILED, f"no connector for source {profile.get('source')!r} here")
            else:
                to_act.append((user_id, profile, connector))
        now = utc_now()
        taken = await self.store.claim_markers(
            [{"_id": keys[u], "job_id": job_id, "user_id": u, "state": CLAIMED,
              "owner": self.owner, "at": now} for u, _, _ in to_act])
        if taken:  # another worker holds these users right now: never act twice
            decided.update(await self._settle_in_doubt(
                job, [u for u, _, _ in to_act if keys[u] in taken]))
            to_act = [item for item in to_act if keys[item[0]] not in taken]

        recorded: list[ev.Event] = []
        for user_id, profile, connector in to_act:
            await pacer.wait()
            try:
                if job["kind"] == JobKind.BROADCAST:
                    delivered = await connector.deliver(bot_id, user_id, profile.get("channel"),
                                                        dict(job["spec"]["message"]))
                    recorded += [_broadcast_event(job_id, bot_id, user_id, n, message,
                                                  profile.get("channel"))
                                 for n, message in enumerate(delivered)]
                else:
                    await connector.start_module(bot_id, user_id, profile.get("channel"),
                                                 job["spec"]["module"])
                decided[user_id] = UserResult(Outcome.DONE)
            except AudienceError as exc:
                decided[user_id] = UserResult(Outcome.FAILED, exc.message)
            except Exception as exc:  # recorded for the user; the job goes on
                log.exception("job %s: user %s failed", job_id, user_id)
                decided[user_id] = UserResult(Outcome.FAILED, f"{type(exc).__name__}: {exc}")
        if recorded:
            await self.store.ingest(recorded)
        await self.store.settle_markers(
            [(keys[u], {"job_id": job_id, "user_id": u, "state": str(r.outcome),
                        "reason": r.reason}) for u, r in decided.items()])
        results.update(decided)
        return results

    async def _settle_in_doubt(self, job: Mapping[str, Any],
                               user_ids: list[str]) -> dict[str, UserResult]:
        """Users a worker claimed but never settled: done if the broadcast's first
        message is on their timeline, otherwise failed and not tried again."""
        if not user_ids:
            return {}
        job_id, bot_id = job["_id"], job["bot_id"]
        stored: set[str] = set()
        if job["kind"] == JobKind.BROADCAST:
            probes = {u: event_key(ev.bot_message(bot_id, u, None,
                                                  event_id=broadcast_event_id(job_id, 0)))
                      for u in user_ids}
            stored = await self.store.stored_event_keys(list(probes.values()))
            stored = {u for u, key in probes.items() if key in stored}
        results = {u: UserResult(Outcome.DONE) if u in stored else UserResult(
            Outcome.FAILED, "interrupted while being processed; not tried again so as not to "
            "act twice") for u in user_ids}
        await self.store.settle_markers(
            [(marker_key(job_id, u), {"state": str(r.outcome), "reason": r.reason})
             for u, r in results.items()])
        return results

    async def _poll_forever(self) -> None:
        while not self._stopping.is_set():
            try:
                found = await self.run_once()
            except Exception:  # broad on purpose: logged; the worker keeps polling
                log.exception("job worker %s: claiming a job failed", self.owner)
                found = False
            if not found:
                await self._keep_house()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self.poll_s)

    async def _keep_house(self) -> None:
        if not self.housekeeping or time.monotonic() < self._next_housekeeping:
            return
        self._next_housekeeping = time.monotonic() + c.HOUSEKEEPING_INTERVAL_S
        for chore in self.housekeeping:
            try:
                await chore(self.store)
            except Exception:  # logged; the next round tries again
                log.exception("job worker %s: housekeeping failed", self.owner)

    async def _release(self, job_id: str) -> None:
        with contextlib.suppress(AudienceError):
            await self.store.update_owned_job(job_id, self.owner, {},
                                              {"$set": {"lease_until": utc_now()}})
        self._current = None

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def lease_from(self, now: datetime) -> datetime:
        return self._lease_from(now)

    def _lease_from(self, now: datetime) -> datetime:
        return now + timedelta(seconds=self.lease_s)


def _broadcast_event(job_id: str, bot_id: str, user_id: str, index: int,
                     message: Mapping[str, Any], channel: str | None) -> ev.Event:
    event = ev.bot_message(bot_id, user_id, message.get("text"), buttons=message.get("buttons"),
                           quick_replies=message.get("quick_replies"), cards=message.get("cards"),
                           channel=channel, source=BROADCAST_SOURCE,
                           event_id=broadcast_event_id(job_id, index))
    return event.with_data({**event.data, "job": job_id})
