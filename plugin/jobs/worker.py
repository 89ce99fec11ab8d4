"""The job worker: claims jobs of every kind, stored in MongoDB, from any
process of the deployment, and runs them through their one lifecycle
(:mod:`plugin.jobs.lifecycle`). A kind plugs in as a runner; the chunked
kinds — bulk actions (broadcasts, workflow runs, bulk property updates) —
are run here, by :class:`ChunkedRunner`.

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

1. before working on a chunk, the worker inserts a ``claimed`` marker with
   ``_id`` ``<job>:<user>`` into ``job_markers`` for each of its users (a
   unique key: two workers cannot both claim a user);
2. just before acting for a user it turns the user's marker from ``claimed``
   to ``acting`` — only if the marker is still its own and ``claimed`` (one
   conditional update: of two workers, one only ever acts);
3. it acts (delivers through the user's connector) and settles the marker to
   ``done``/``failed`` at once, a broadcast's marker with the messages as
   delivered; the chunk's broadcast messages are ingested with deterministic
   event ids ``broadcast-<job>-<n>`` (a retried write is a duplicate) when the
   chunk ends, or before a long wait;
4. a resumed chunk counts users with a settled marker as their marker says
   and never acts for them again (a broadcast's messages not yet ingested are
   ingested from the marker). A ``claimed`` marker means no one acted for the
   user: the resuming worker takes it over and acts. An ``acting`` marker
   means a worker died between 2 and 3: for a broadcast, the stored event
   proves the message went out (``done``); without it the user is reported
   ``failed`` ("interrupted") and is *not* sent the message again — at most
   once rather than maybe twice. Only a death in that instant leaves a user
   in doubt, so a server killed in the middle of a broadcast costs no one
   the message (tests/multiprocess).

A worker that stops in the middle of a chunk — it is shutting down while a
rate limit makes it wait, or the job was cancelled meanwhile — acts for no
one more: it records what it did, settles those users' markers, and removes
its ``claimed`` markers of the users it has not acted for (it knows it has
not: it never called their connector), all before it hands the job back;
the chunk, not advanced, resumes from its start and acts only for them.
Before a long wait for its rate limit the worker records whom it has
reached so far (steps 2 and 3 for them), and while it waits it renews the
lease, so a slow job is never taken over behind its back.

Bulk updates need no markers: setting the same values again is harmless.

Several jobs run at once, fairly: a worker works on up to ``concurrency``
jobs at a time (a job waiting out its rate limit gives its slot up), and
claims no job of a bot that already has one running under a live lease, so
one bot's week-long broadcast delays neither another bot's export nor a
shutdown.

A service over :class:`~plugin.jobs.store.JobStore` (and the profile and
capture repositories) and the connector registry; it knows no HTTP and
imports no connector.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from plugin.audience.profile_store import ProfileStore
from plugin.capture.store import CaptureStore, event_key
from plugin.core import constants as c
from plugin.core import events as ev
from plugin.core.background import drain_then_cancel, sleep_unless
from plugin.core.errors import AudienceError
from plugin.core.events import utc_now
from plugin.db.database import Database
from plugin.handover.channels import ChannelConnector, ConnectorRegistry
from plugin.jobs.lifecycle import JobRun, JobRunner, target_id
from plugin.jobs.model import ACTING, CLAIMED, Failure, Job, JobKind, lease_end
from plugin.jobs.store import JobStore

__all__ = [
    "CHUNKED_KINDS",
    "ChunkedRunner",
    "JobWorker",
    "marker_key",
    "broadcast_event_id",
    "BROADCAST_SOURCE",
]

log = logging.getLogger(__name__)
BROADCAST_SOURCE = "broadcast"
CHUNKED_KINDS = (JobKind.BROADCAST, JobKind.WORKFLOW, JobKind.BULK_UPDATE)


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


class _Pacer:
    """Spaces actions ``1 / rate`` seconds apart (no limit when ``rate`` is None)."""

    def __init__(self, rate: float | None) -> None:
        self._interval = 1.0 / rate if rate else 0.0
        self._next = time.monotonic()

    def due_in(self) -> float:
        """Seconds until the next action's turn."""
        return max(0.0, self._next - time.monotonic()) if self._interval else 0.0

    async def wait(self, run: JobRun) -> bool:
        """Wait for the next action's turn (:meth:`JobRun.pause`); False when the
        run must stop first."""
        if self._interval:
            now = time.monotonic()
            if self._next > now and not await run.pause(self._next - now):
                return False
            self._next = max(self._next, now) + self._interval
        return not run.stopping


class JobWorker:
    """Claims jobs from the database and runs several at once, fairly.

    It runs the chunked kinds itself and any other kind through the runner
    given for it in ``runners``; it claims only kinds it can run. Up to
    ``concurrency`` jobs work at once, and it holds at most ``max_held`` (the
    others wait out a rate limit); it claims no job of a bot that has one
    running (see :meth:`JobStore.claim_job`).

    ``start()`` begins polling; ``close()`` stops taking work, lets each job
    reach its next step (one waiting for its rate limit stops at once) for up
    to ``drain_s`` seconds, then cancels, and hands every unfinished job back
    (its lease expires now) so another worker resumes it at once.
    """

    def __init__(self, db: Database, connectors: ConnectorRegistry, *,
                 owner: str | None = None, lease_s: float = c.JOB_LEASE_S,
                 poll_s: float = c.JOB_POLL_INTERVAL_S,
                 concurrency: int = c.JOB_CONCURRENCY, max_held: int = c.JOB_MAX_HELD,
                 runners: Mapping[str, JobRunner] | None = None,
                 housekeeping: Sequence[Callable[[Database], Awaitable[object]]] = ()) -> None:
        self.db = db
        self.connectors = connectors
        chunked = ChunkedRunner(connectors)
        self.runners: dict[str, JobRunner] = {**{str(k): chunked for k in CHUNKED_KINDS},
                                               **(runners or {})}
        # Chores (removing expired export files) run when idle, now and then.
        self.housekeeping = tuple(housekeeping)
        self._next_housekeeping = 0.0
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.lease_s = lease_s
        self.poll_s = poll_s
        self.max_held = max(1, max_held)
        self._slots = asyncio.BoundedSemaphore(max(1, concurrency))
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()  # a job ended, or close() was called
        self._task: asyncio.Task[None] | None = None
        self._jobs: set[asyncio.Task[None]] = set()
        self._held: dict[str, JobRun] = {}  # the jobs this worker holds, by id

    async def start(self) -> JobWorker:
        self._task = asyncio.create_task(self._poll_forever(), name=f"job-worker {self.owner}")
        return self

    async def close(self, drain_s: float = c.JOB_DRAIN_S) -> None:
        self._stopping.set()
        self._wake.set()
        task, self._task = self._task, None
        if task is not None:
            await drain_then_cancel(task, drain_s)
        for run in list(self._held.values()):  # cancelled in the middle of a step
            await run.release()
        self._held.clear()

    async def run_once(self) -> bool:
        """Claim one job and run it; False when there was nothing to do."""
        job = await self._claim()
        if job is None:
            return False
        await self.run_job(job)
        return True

    async def run_job(self, job: Job, *, stop_after_chunks: int | None = None) -> None:
        """Run a job this worker holds, from where it stands (its ``next_chunk``).

        ``stop_after_chunks`` leaves it running (and leased) after that many
        steps — chunks, for a chunked kind — as a worker that died would: for
        tests and fault drills.
        """
        run = JobRun(self.db, job, self.owner, lease_s=self.lease_s, shutdown=self._stopping,
                     slots=self._slots, stop_after=stop_after_chunks)
        self._held[job["_id"]] = run
        async with run:
            try:
                runner = self.runners.get(job["kind"])
                if runner is None:
                    raise AudienceError(f"this worker runs no {job['kind']!r} jobs")
                await runner(run)
            except Exception as exc:  # recorded on the job; the worker goes on
                log.exception("job %s failed", job["_id"])
                await run.fail(f"{type(exc).__name__}: {exc}")
            else:
                if run.shutting_down:  # stopped early to shut down: another worker resumes it
                    await run.release()
        # Not reached when cancelled: close() then hands the job back.
        del self._held[job["_id"]]

    async def _claim(self) -> Job | None:
        now = utc_now()
        job = await JobStore.of(self.db).claim_job(self.owner, lease_end(now, self.lease_s),
                                                   now, self.runners.keys())
        if job is not None:
            log.info("job %s (%s, %d users): claimed by %s", job["_id"], job["kind"],
                     job["total"], self.owner)
        return job

    def _has_room(self) -> bool:
        return len(self._held) < self.max_held and not self._slots.locked()

    async def _poll_forever(self) -> None:
        try:
            while not self._stopping.is_set():
                self._wake.clear()
                job = None
                if self._has_room():
                    try:
                        job = await self._claim()
                    except Exception:  # broad on purpose: logged; the worker keeps polling
                        log.exception("job worker %s: claiming a job failed", self.owner)
                    if job is None:
                        await self._keep_house()
                if job is not None:
                    self._start_job(job)
                else:
                    await sleep_unless(self._wake, self.poll_s)
        finally:
            await self._finish_jobs()

    def _start_job(self, job: Job) -> None:
        task = asyncio.create_task(self.run_job(job), name=f"job {job['_id']}")
        self._jobs.add(task)
        task.add_done_callback(self._job_ended)

    def _job_ended(self, task: asyncio.Task[None]) -> None:
        self._jobs.discard(task)
        self._wake.set()
        if not task.cancelled() and task.exception() is not None:
            # run_job records a runner's failure on the job: this is one of the database.
            log.error("job worker %s: a job stopped on an error", self.owner,
                      exc_info=task.exception())

    async def _finish_jobs(self) -> None:
        """Wait for the jobs to stop (close() told them to); cancelled meanwhile
        (the drain ran out), cancel them and wait for that."""
        jobs = list(self._jobs)
        if not jobs:
            return
        try:
            await asyncio.gather(*jobs, return_exceptions=True)
        except asyncio.CancelledError:
            for task in jobs:
                task.cancel()
            await asyncio.wait(jobs)
            raise

    async def _keep_house(self) -> None:
        if not self.housekeeping or time.monotonic() < self._next_housekeeping:
            return
        self._next_housekeeping = time.monotonic() + c.HOUSEKEEPING_INTERVAL_S
        for chore in self.housekeeping:
            try:
                await chore(self.db)
            except Exception:  # logged; the next round tries again
                log.exception("job worker %s: housekeeping failed", self.owner)


class ChunkedRunner:
    """Runs the chunked kinds: walks the job's audience snapshot chunk by chunk
    from ``next_chunk``, acting at most once per user (the protocol above)."""

    def __init__(self, connectors: ConnectorRegistry) -> None:
        self.connectors = connectors

    async def __call__(self, run: JobRun) -> None:
        job = run.job
        job_id, chunk_no = job["_id"], job["next_chunk"]
        pacer = _Pacer(job["spec"].get("rate_per_second"))
        while chunk_no < job["chunks"]:
            if run.stopping:
                return
            users = await JobStore.of(run.db).job_target_chunk(target_id(job_id, chunk_no))
            results = await self._process(run, users, pacer)
            if not results.keys() >= set(users):  # stopped within it: the chunk resumes
                return
            counts = Counter(r.outcome for r in results.values())
            failures: list[Failure] = [{"user_id": u, "reason": r.reason}
                                       for u, r in results.items()
                                       if r.outcome is Outcome.FAILED]
            if not await run.advance(guard={"next_chunk": chunk_no},
                                     fields={"next_chunk": chunk_no + 1},
                                     counts={str(o): counts.get(o, 0) for o in Outcome},
                                     failures=failures):
                log.info("job %s: cancelled or taken over; %s stops", job_id, run.owner)
                return
            job, chunk_no = run.job, chunk_no + 1
        await run.finish()
        log.info("job %s done: %d done, %d failed, %d skipped", job_id, job["done"],
                 job["failed"], job["skipped"])

    async def _process(self, run: JobRun, users: list[str],
                       pacer: _Pacer) -> dict[str, UserResult]:
        """What was done for each user of the chunk; fewer users when the run
        had to stop within the chunk."""
        if run.job["kind"] == JobKind.BULK_UPDATE:
            return await self._bulk_update(run.db, run.job, users)
        return await self._act_once(run, users, pacer)

    async def _bulk_update(self, db: Database, job: Job,
                           users: list[str]) -> dict[str, UserResult]:
        known = await ProfileStore.of(db).known_users(job["bot_id"], users)
        spec = job["spec"]
        changed = [u for u in users if u in known]
        # The change is an event on each timeline, which capture folds into the
        # profile; its id, fixed by job and user, makes a resumed chunk count once.
        change = {"job": job["_id"], "set": spec.get("set", {}), "unset": spec.get("unset", [])}
        await CaptureStore.of(db).ingest([ev.custom(job["bot_id"], u, ev.BULK_UPDATE, change,
                                                    event_id=f"bulk-{job['_id']}", source="bulk")
                                          for u in changed])
        return {u: UserResult(Outcome.DONE) if u in known
                else UserResult(Outcome.FAILED, "the user has no profile any more")
                for u in users}

    async def _act_once(self, run: JobRun, users: list[str],
                        pacer: _Pacer) -> dict[str, UserResult]:
        """Deliver (or start the workflow) for each user of a chunk at most once;
        the users left when the run must stop are given back (unclaimed)."""
        db, job = run.db, run.job
        job_id, bot_id = job["_id"], job["bot_id"]
        keys = {u: marker_key(job_id, u) for u in users}
        markers = await JobStore.of(db).job_markers(list(keys.values()))
        results: dict[str, UserResult] = {}
        in_doubt: list[str] = []
        unacted: list[str] = []  # claimed by a worker that stopped before acting for them
        delivered: list[ev.Event] = []
        for user_id, key in keys.items():
            marker = markers.get(key)
            if marker is None:
                continue
            if marker["state"] == CLAIMED:
                unacted.append(user_id)
            elif marker["state"] == ACTING:
                in_doubt.append(user_id)
            else:
                results[user_id] = UserResult(Outcome(marker["state"]), marker.get("reason"))
                delivered += [_broadcast_event(job_id, bot_id, user_id, n, message,
                                               marker.get("channel"))
                              for n, message in enumerate(marker.get("delivered") or ())]
        if delivered:  # settled by a worker that stopped before it stored them
            await CaptureStore.of(db).ingest(delivered)
        settled = await self._settle_in_doubt(db, job, in_doubt)
        results.update(settled)
        await JobStore.of(db).take_over_claims([keys[u] for u in unacted], run.owner)

        pending = [u for u in users if keys[u] not in markers or u in unacted]
        profiles = await ProfileStore.of(db).profiles_by_user(bot_id, pending)
        decided: dict[str, UserResult] = {}
        to_act: list[tuple[str, dict[str, Any], ChannelConnector]] = []
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
        taken = await JobStore.of(db).claim_markers(
            [{"_id": keys[u], "job_id": job_id, "user_id": u, "state": CLAIMED,
              "owner": run.owner, "at": now} for u, _, _ in to_act if u not in unacted])
        if taken:  # another worker holds these users right now: never act twice
            decided.update(await self._settle_in_doubt(
                db, job, [u for u, _, _ in to_act if keys[u] in taken]))
            to_act = [item for item in to_act if keys[item[0]] not in taken]

        await self._record(db, job_id, keys, [], decided)
        acted, left = await self._act(run, to_act, keys, pacer)
        await JobStore.of(db).unclaim_markers([keys[u] for u in left], run.owner)
        return {**results, **decided, **acted}

    async def _act(self, run: JobRun, to_act: list[tuple[str, dict[str, Any], ChannelConnector]],
                   keys: Mapping[str, str],
                   pacer: _Pacer) -> tuple[dict[str, UserResult], list[str]]:
        """Act for each user in turn, at the pace asked for, settling each user's
        marker and recording the messages; (what was done, the users left when
        the run had to stop first)."""
        db, job = run.db, run.job
        job_id, bot_id = job["_id"], job["bot_id"]
        done: dict[str, UserResult] = {}
        recorded: list[ev.Event] = []
        for i, (user_id, profile, connector) in enumerate(to_act):
            if pacer.due_in() > c.JOB_RECORD_BEFORE_WAIT_S:
                # A long wait ahead: record who was reached first, so their
                # timelines show it while the job waits.
                await self._record(db, job_id, keys, recorded, {})
                recorded = []
            if not await pacer.wait(run):
                await self._record(db, job_id, keys, recorded, {})
                return done, [u for u, _, _ in to_act[i:]]
            if not await JobStore.of(db).mark_acting(keys[user_id], run.owner):
                continue  # another worker took the user over (this run lost its lease)
            delivered: list[dict[str, Any]] = []
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
                result = UserResult(Outcome.DONE)
            except AudienceError as exc:
                result = UserResult(Outcome.FAILED, exc.message)
            except Exception as exc:  # recorded for the user; the job goes on
                log.exception("job %s: user %s failed", job_id, user_id)
                result = UserResult(Outcome.FAILED, f"{type(exc).__name__}: {exc}")
            # Settled at once: a worker dying from here on leaves no doubt about this user.
            await JobStore.of(db).settle_markers([(keys[user_id], {
                "state": str(result.outcome), "reason": result.reason,
                "delivered": delivered, "channel": profile.get("channel")})])
            done[user_id] = result
        await self._record(db, job_id, keys, recorded, {})
        return done, []

    @staticmethod
    async def _record(db: Database, job_id: str, keys: Mapping[str, str],
                      events: list[ev.Event], outcomes: Mapping[str, UserResult]) -> None:
        """Store what was delivered, then settle the users' markers (step 2)."""
        if events:
            await CaptureStore.of(db).ingest(events)
        await JobStore.of(db).settle_markers(
            [(keys[u], {"job_id": job_id, "user_id": u, "state": str(r.outcome),
                        "reason": r.reason}) for u, r in outcomes.items()])

    async def _settle_in_doubt(self, db: Database, job: Job,
                               user_ids: list[str]) -> dict[str, UserResult]:
        """Users a worker claimed but never settled: done if the broadcast's first
        message is on their timeline, otherwise failed and not tried again."""
        if not user_ids:
            return {}
        job_id, bot_id = job["_id"], job["bot_id"]
        stored: set[str] = set()
        if job["kind"] == JobKind.BROADCAST:
            probes = {u: ev.bot_message(bot_id, u, None, event_id=broadcast_event_id(job_id, 0))
                      for u in user_ids}
            found = await CaptureStore.of(db).stored_event_keys(probes.values())
            stored = {u for u, probe in probes.items() if event_key(probe) in found}
        results = {u: UserResult(Outcome.DONE) if u in stored else UserResult(
            Outcome.FAILED, "interrupted while being processed; not tried again so as not to "
            "act twice") for u in user_ids}
        await JobStore.of(db).settle_markers(
            [(marker_key(job_id, u), {"state": str(r.outcome), "reason": r.reason})
             for u, r in results.items()])
        return results


def _broadcast_event(job_id: str, bot_id: str, user_id: str, index: int,
                     message: Mapping[str, Any], channel: str | None) -> ev.Event:
    event = ev.bot_message(bot_id, user_id, message.get("text"), buttons=message.get("buttons"),
                           quick_replies=message.get("quick_replies"), cards=message.get("cards"),
                           channel=channel, source=BROADCAST_SOURCE,
                           event_id=broadcast_event_id(job_id, index))
    return event.with_data({**event.data, "job": job_id})
