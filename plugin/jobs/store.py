"""Jobs, their audiences (target chunks) and per-user markers (see plugin.jobs.worker).

The job states written here are :class:`~plugin.jobs.model.JobStatus`'s, each
by the transition of :mod:`plugin.jobs.lifecycle` that moves a job into it.
Every query here is by ``_id``, by bot (indexed), or on the small jobs collection."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from pymongo import ASCENDING, DESCENDING, ReturnDocument, UpdateOne
from pymongo.errors import BulkWriteError

from plugin.core import constants as c
from plugin.db.database import Repository, duplicate_key_indexes, reports_unavailable
from plugin.jobs.model import ACTING, ACTIVE, CLAIMED, Failure, Job, JobKind, JobStatus

__all__ = ['JobStore']

log = logging.getLogger(__name__)


class JobStore(Repository):
    @reports_unavailable
    async def insert_job(self, job: Job, targets: list[dict[str, Any]]) -> None:
        """Store a job's audience, then the job (so a worker never sees one without it)."""
        if targets:
            await self.db[c.JOB_TARGETS].insert_many(targets, ordered=False)
        await self.db[c.JOBS].insert_one(job)

    @reports_unavailable
    async def get_job(self, job_id: str) -> Job | None:
        return cast(Job | None, await self.db[c.JOBS].find_one({"_id": job_id}))

    @reports_unavailable
    async def list_jobs(self, bot_id: str, limit: int) -> list[Job]:
        """The bot's ``limit`` latest jobs, newest first."""
        cursor = (self.db[c.JOBS].find({"bot_id": bot_id})
                  .sort([("created_at", DESCENDING), ("_id", DESCENDING)]).limit(limit))
        return [cast(Job, doc) async for doc in cursor]

    @reports_unavailable
    async def job_target_chunk(self, target_id: str) -> list[str]:
        doc = await self.db[c.JOB_TARGETS].find_one({"_id": target_id})
        return list(doc["user_ids"]) if doc else []

    @reports_unavailable
    async def claim_job(self, owner: str, lease_until: datetime, now: datetime,
                        kinds: Iterable[str]) -> Job | None:
        """Atomically take a queued job, or a running one whose lease ran out, of
        one of ``kinds`` (those the worker can run), oldest first — of a bot
        that has no job running under a live lease, so that one bot's long job
        does not keep the others waiting. (Two workers claiming at the same
        instant may each take one of a bot's jobs: the rule is for fairness,
        not correctness.)"""
        jobs = self.db[c.JOBS]
        busy = await jobs.distinct("bot_id", {"status": str(JobStatus.RUNNING),
                                              "lease_until": {"$gte": now}})
        free = {"kind": {"$in": sorted(map(str, kinds))}, "bot_id": {"$nin": busy}}
        claimed = await jobs.find_one_and_update(
            {"status": str(JobStatus.QUEUED), **free},
            {"$set": {"status": str(JobStatus.RUNNING), "owner": owner,
                      "lease_until": lease_until, "started_at": now}, "$inc": {"attempts": 1}},
            sort=[("created_at", ASCENDING)], return_document=ReturnDocument.AFTER)
        if claimed is None:
            claimed = await jobs.find_one_and_update(
                {"status": str(JobStatus.RUNNING), "lease_until": {"$lt": now}, **free},
                {"$set": {"owner": owner, "lease_until": lease_until},
                 "$inc": {"attempts": 1}},
                sort=[("created_at", ASCENDING)], return_document=ReturnDocument.AFTER)
        return cast(Job | None, claimed)

    @reports_unavailable
    async def advance_job(self, job_id: str, owner: str, lease_until: datetime, *,
                          guard: Mapping[str, Any] | None = None,
                          fields: Mapping[str, Any] | None = None,
                          counts: Mapping[str, int] | None = None,
                          failures: Sequence[Failure] = ()) -> Job | None:
        """Renew the lease and record progress in one update, only while ``owner``
        holds the running job (and ``guard`` matches): set ``fields``, add
        ``counts``, keep the first failures. The job after, or None when it was
        cancelled or taken over."""
        update: dict[str, Any] = {"$set": {**(fields or {}), "lease_until": lease_until}}
        if counts:
            update["$inc"] = dict(counts)
        if failures:
            update["$push"] = {"failures": {"$each": list(failures),
                                            "$slice": c.JOB_MAX_FAILURES_KEPT}}
        return await self._update_owned(job_id, owner, guard or {}, update)

    @reports_unavailable
    async def settle_job(self, job_id: str, owner: str, status: JobStatus, now: datetime,
                         fields: Mapping[str, Any] | None = None) -> Job | None:
        """Finish the running job ``owner`` holds as ``status`` (done or failed),
        with ``fields``; the job after, or None when it was no longer held."""
        return await self._update_owned(job_id, owner, {}, {"$set": {
            **(fields or {}), "status": str(status), "finished_at": now, "owner": None}})

    @reports_unavailable
    async def release_job(self, job_id: str, owner: str, now: datetime) -> None:
        """Hand a running job back: its lease runs out now, so any worker resumes it."""
        await self._update_owned(job_id, owner, {}, {"$set": {"lease_until": now}})

    async def _update_owned(self, job_id: str, owner: str, guard: Mapping[str, Any],
                            update: dict[str, Any]) -> Job | None:
        return cast(Job | None, await self.db[c.JOBS].find_one_and_update(
            {"_id": job_id, "status": str(JobStatus.RUNNING), "owner": owner, **guard}, update,
            return_document=ReturnDocument.AFTER))

    @reports_unavailable
    async def set_job_fields(self, job_id: str, fields: dict[str, Any]) -> None:
        await self.db[c.JOBS].update_one({"_id": job_id}, {"$set": fields})

    @reports_unavailable
    async def cancel_job(self, job_id: str, now: datetime) -> Job | None:
        """Mark a queued or running job cancelled; the job as it is now."""
        await self.db[c.JOBS].update_one(
            {"_id": job_id, "status": {"$in": sorted(map(str, ACTIVE))}},
            {"$set": {"status": str(JobStatus.CANCELLED), "finished_at": now, "owner": None}})
        return await self.get_job(job_id)

    @reports_unavailable
    async def job_markers(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        return {doc["_id"]: doc async for doc in
                self.db[c.JOB_MARKERS].find({"_id": {"$in": keys}})}

    @reports_unavailable
    async def claim_markers(self, docs: list[dict[str, Any]]) -> set[str]:
        """Insert per-user markers; return the keys that were already there."""
        if not docs:
            return set()
        try:
            await self.db[c.JOB_MARKERS].insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            return {docs[i]["_id"] for i in duplicate_key_indexes(exc)}
        return set()

    @reports_unavailable
    async def unclaim_markers(self, keys: list[str], owner: str) -> None:
        """Remove ``owner``'s ``claimed`` markers of users it has not acted for
        (it stopped in the middle of a chunk), so a resumed chunk acts for them."""
        if keys:
            await self.db[c.JOB_MARKERS].delete_many(
                {"_id": {"$in": keys}, "state": CLAIMED, "owner": owner})

    @reports_unavailable
    async def take_over_claims(self, keys: list[str], owner: str) -> None:
        """Make ``owner`` the holder of ``claimed`` markers another worker left
        without acting for their users (it died, or lost its lease)."""
        if keys:
            await self.db[c.JOB_MARKERS].update_many(
                {"_id": {"$in": keys}, "state": CLAIMED}, {"$set": {"owner": owner}})

    @reports_unavailable
    async def mark_acting(self, key: str, owner: str) -> bool:
        """``claimed`` → ``acting``, only if ``owner`` still holds the marker:
        whether ``owner`` may act for the user."""
        result = await self.db[c.JOB_MARKERS].update_one(
            {"_id": key, "state": CLAIMED, "owner": owner}, {"$set": {"state": ACTING}})
        return bool(result.modified_count)

    @reports_unavailable
    async def settle_markers(self, outcomes: list[tuple[str, dict[str, Any]]]) -> None:
        if outcomes:
            await self.db[c.JOB_MARKERS].bulk_write(
                [UpdateOne({"_id": key}, {"$set": fields}, upsert=True)
                 for key, fields in outcomes], ordered=False)

    @reports_unavailable
    async def done_before(self, kind: JobKind, cutoff: datetime, *,
                          having: str | None = None) -> list[str]:
        """Ids of the ``kind`` jobs done before ``cutoff`` (and whose ``having``
        field is set, when given)."""
        query: dict[str, Any] = {"kind": str(kind), "status": str(JobStatus.DONE),
                                 "finished_at": {"$lt": cutoff}}
        if having is not None:
            query[having] = {"$ne": None}
        return [doc["_id"] async for doc in self.db[c.JOBS].find(query, {"_id": 1})]
