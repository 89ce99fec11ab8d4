"""One bot's slow job against everyone else's: a broadcast limited to one user
every 1,000 seconds must neither keep another bot's export queued nor hold
up a worker that is shutting down, and the users it had not reached yet must
still get the message — once — when another worker resumes it.

The worker runs on a database of its own (not the session server's), so no
other worker takes these jobs; the broadcast goes through the real dummy
channel connector.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest_asyncio

from connectors.dummy import DummyChannel
from plugin.core import constants as c
from plugin.core.events import utc_now
from plugin.core.settings import Settings
from plugin.db.database import Database
from plugin.handover.channels import ConnectorRegistry
from plugin.http.routes.export import mailed_links
from plugin.jobs import actions as bulk
from plugin.jobs.model import Job, JobKind
from plugin.jobs.store import JobStore
from plugin.jobs.worker import JobWorker, marker_key
from plugin.transfer import export as exporting
from runtime.engine import Runtime
from tests.integration.test_jobs import insert_users
from tests.stored import stored_event_docs

EVERYONE = {"filter": {"conditions": []}}
SLOW = 0.001  # users per second: the second user is 1,000 s after the first


@dataclass
class World:
    db: Database
    connectors: ConnectorRegistry
    settings: Settings

    def worker(self, owner: str) -> JobWorker:
        exports = exporting.ExportRunner(self.settings, mailed_links(self.settings))
        return JobWorker(self.db, self.connectors, owner=owner,
                         runners={JobKind.EXPORT: exports})


@pytest_asyncio.fixture
async def world(db: Database) -> AsyncIterator[World]:
    own = Database(db.client, f"{db.mongo.name}_fair")
    await own.ensure_indexes()
    runtime = Runtime()
    connectors = ConnectorRegistry()
    connectors.register(DummyChannel(runtime, None))
    try:
        yield World(own, connectors, Settings())
    finally:
        await runtime.close()
        await db.client.drop_database(f"{db.mongo.name}_fair")


async def job_of(db: Database, job_id: str) -> Job:
    job = await JobStore.of(db).get_job(job_id)
    assert job is not None
    return job


async def until_status(db: Database, job_id: str, *statuses: str) -> Job:
    for _ in range(1200):
        job = await job_of(db, job_id)
        if job["status"] in statuses:
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} is still {job['status']}, not {' or '.join(statuses)}")


async def broadcasts_received(db: Database, job_id: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for event in await stored_event_docs(db, job=job_id):
        counts[event["user_id"]] = counts.get(event["user_id"], 0) + 1
    return counts


async def test_a_slow_broadcast_neither_starves_another_bot_nor_delays_shutdown(
        world: World) -> None:
    db = world.db
    users = await insert_users(db, "bot-a", 3)
    await insert_users(db, "bot-b", 5)
    # One chunk of three users: the first is sent at once, the second waits 1,000 s.
    slow = await bulk.broadcast(db, "bot-a", {"audience": EVERYONE, "message": {"text": "Hi"},
                                              "rate_per_second": SLOW}, chunk_users=3)
    worker = await world.worker("busy-worker").start()
    try:
        await until_status(db, slow["_id"], "running")
        export = await exporting.create_export(db, world.settings, "bot-b",
                                               {"audience": EVERYONE})
        # Ended while the broadcast is still going (one user reached of three).
        finished = await until_status(db, export["_id"], "done", "failed")
        assert (finished["status"], finished["rows_written"]) == ("done", 5), finished
        running = await job_of(db, slow["_id"])
        assert (running["status"], running["owner"]) == ("running", worker.owner)
        assert await broadcasts_received(db, slow["_id"]) == {users[0]: 1}
    finally:
        # Drained, not cancelled: the job waiting out its rate limit stops at once.
        await worker.close(drain_s=3600)

    handed_back = await job_of(db, slow["_id"])
    assert handed_back["status"] == "running" and handed_back["lease_until"] is not None
    assert handed_back["lease_until"] <= utc_now()  # any worker may resume it now
    markers = await JobStore.of(db).job_markers([marker_key(slow["_id"], u) for u in users])
    # The user reached is settled; the two not reached are given back, not left "claimed"
    # (which would report them as interrupted and never send them the message).
    assert {k: m["state"] for k, m in markers.items()} == {
        marker_key(slow["_id"], users[0]): "done"}

    # Another worker resumes it (without the limit, to finish now): each user once.
    await db[c.JOBS].update_one({"_id": slow["_id"]}, {"$set": {"spec.rate_per_second": None}})
    assert await world.worker("second-worker").run_once()
    done = await job_of(db, slow["_id"])
    assert (done["status"], done["done"], done["failed"], done["attempts"]) == ("done", 3, 0, 2)
    assert await broadcasts_received(db, slow["_id"]) == {u: 1 for u in users}


async def test_a_bot_runs_one_job_at_a_time_while_other_bots_go_ahead(world: World) -> None:
    """Two slow broadcasts of bot A and one of bot B: the worker takes A's first
    and B's, and leaves A's second queued while A's first runs."""
    db = world.db
    await insert_users(db, "bot-a", 2)
    await insert_users(db, "bot-b", 2)
    body = {"audience": EVERYONE, "message": {"text": "Hi"}, "rate_per_second": SLOW}
    first = await bulk.broadcast(db, "bot-a", body)
    second = await bulk.broadcast(db, "bot-a", body)
    other = await bulk.broadcast(db, "bot-b", body)
    worker = await world.worker("fair-worker").start()
    try:
        await until_status(db, first["_id"], "running")
        await until_status(db, other["_id"], "running")
        await asyncio.sleep(5 * c.JOB_POLL_INTERVAL_S)  # polls enough to have taken it
        assert (await job_of(db, second["_id"]))["status"] == "queued"
        assert (await job_of(db, first["_id"]))["status"] == "running"
    finally:
        await worker.close(drain_s=3600)
