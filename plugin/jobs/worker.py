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
from plugin.jobs.model import Failure, Job, JobKind, lease_end
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
CLAIMED = "claimed"
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

    async def wait(self) -> None:
        if not self._interval:
            return
        now = time.monotonic()
        if self._next > now:
            await asyncio.sleep(self._next - now)
        self._next = max(self._next, now) + self._interval


class JobWorker:
    """Claims jobs from the database and runs them, one at a time.

    It runs the chunked kinds itself and any other kind through the runner
    given for it in ``runners``; it claims only kinds it can run.
    ``start()`` begins polling; ``close()`` stops taking work, lets the
    current job reach its next step for up to ``drain_s`` seconds, then
    cancels, and hands an unfinished job back (its lease expires now) so
    another worker resumes it at once.
    """

    def __init__(self, db: Database, connectors: ConnectorRegistry, *,
                 owner: str | None = None, lease_s: float = c.JOB_LEASE_S,
                 poll_s: float = c.JOB_POLL_INTERVAL_S,
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
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._current: JobRun | None = None

    async def start(self) -> JobWorker:
        self._task = asyncio.create_task(self._poll_forever(), name=f"job-worker {self.owner}")
        return self

    async def close(self, drain_s: float = c.JOB_DRAIN_S) -> None:
        self._stopping.set()
        task, self._task = self._task, None
        if task is None:
            return
        await drain_then_cancel(task, drain_s)
        if self._current is not None:  # cancelled in the middle of a step
            await self._current.release()
            self._current = None

    async def run_once(self) -> bool:
        """Claim one job and run it; False when there was nothing to do."""
        now = utc_now()
        job = await JobStore.of(self.db).claim_job(self.owner, lease_end(now, self.lease_s),
                                                   now, self.runners.keys())
        if job is None:
            return False
        log.info("job %s (%s, %d users): claimed by %s", job["_id"], job["kind"], job["total"],
                 self.owner)
        await self.run_job(job)
        return True

    async def run_job(self, job: Job, *, stop_after_chunks: int | None = None) -> None:
        """Run a job this worker holds, from where it stands (its ``next_chunk``).

        ``stop_after_chunks`` leaves it running (and leased) after that many
        steps — chunks, for a chunked kind — as a worker that died would: for
        tests and fault drills.
        """
        run = JobRun(self.db, job, self.owner, lease_s=self.lease_s,
                     shutting_down=self._stopping.is_set, stop_after=stop_after_chunks)
        self._current = run
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
        self._current = None

    async def _poll_forever(self) -> None:
        while not self._stopping.is_set():
            try:
                found = await self.run_once()
            except Exception:  # broad on purpose: logged; the worker keeps polling
                log.exception("job worker %s: claiming a job failed", self.owner)
                found = False
            if not found:
                await self._keep_house()
                await sleep_unless(self._stopping, self.poll_s)

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
        if run.job["kind"] == JobKind.BULK_UPDATE:
            return await self._bulk_update(run.db, run.job, users)
        return await self._act_once(run, users, pacer)

    async def _bulk_update(self, db: Database, job: Job,
                           users: list[str]) -> dict[str, UserResult]:
        known = await ProfileStore.of(db).known_users(job["bot_id"], users)
        spec = job["spec"]
        changed = [u for u in users if u in known]
        await ProfileStore.of(db).update_attributes(job["bot_id"], changed,
                                                    spec.get("set", {}), spec.get("unset", []))
        # On each timeline too; the id, fixed by job and user, makes a resumed chunk count once.
        change = {"job": job["_id"], "set": spec.get("set", {}), "unset": spec.get("unset", [])}
        await CaptureStore.of(db).ingest([ev.custom(job["bot_id"], u, "bulk_update", change,
                                                    event_id=f"bulk-{job['_id']}", source="bulk")
                                          for u in changed])
        return {u: UserResult(Outcome.DONE) if u in known
                else UserResult(Outcome.FAILED, "the user has no profile any more")
                for u in users}

    async def _act_once(self, run: JobRun, users: list[str],
                        pacer: _Pacer) -> dict[str, UserResult]:
        """Deliver (or start the workflow) for each user of a chunk at most once."""
        db, job = run.db, run.job
        job_id, bot_id = job["_id"], job["bot_id"]
        keys = {u: marker_key(job_id, u) for u in users}
        markers = await JobStore.of(db).job_markers(list(keys.values()))
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
        settled = await self._settle_in_doubt(db, job, in_doubt)
        results.update(settled)

        pending = [u for u in users if keys[u] not in markers]
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
              "owner": run.owner, "at": now} for u, _, _ in to_act])
        if taken:  # another worker holds these users right now: never act twice
            decided.update(await self._settle_in_doubt(
                db, job, [u for u, _, _ in to_act if keys[u] in taken]))
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
            await CaptureStore.of(db).ingest(recorded)
        await JobStore.of(db).settle_markers(
            [(keys[u], {"job_id": job_id, "user_id": u, "state": str(r.outcome),
                        "reason": r.reason}) for u, r in decided.items()])
        results.update(decided)
        return results

    async def _settle_in_doubt(self, db: Database, job: Job,
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
            stored = await CaptureStore.of(db).stored_event_keys(list(probes.values()))
            stored = {u for u, key in probes.items() if key in stored}
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
