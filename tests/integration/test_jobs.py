"""Bulk actions as jobs, through the real HTTP server and the dummy channel's
WebSockets: broadcasts reach each user once and are on every timeline, human
holds are respected, bad bulk updates change nothing, workflows start
modules, an interrupted job resumes without sending twice, cancel stops a
job, and a key sees only its bots' jobs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import aiohttp
from aiohttp import web

from plugin.access.keys import Role, hash_key, key_id
from plugin.audience.profile_store import ProfileStore
from plugin.capture.store import CaptureStore
from plugin.core import constants as c
from plugin.core.events import utc_now
from plugin.core.profiles import profile_id
from plugin.db.database import Database
from plugin.handover.channels import ConnectorRegistry
from plugin.http.appkeys import CONNECTORS
from plugin.jobs import actions as bulk
from plugin.jobs.store import JobStore
from plugin.jobs.worker import JobWorker, _broadcast_event, broadcast_event_id, marker_key
from tests.conftest import Api
from tests.integration.test_dummy_channel import LEADS, say, timeline
from tests.stored import stored_event_docs

FINISHED = ("done", "failed", "cancelled")


async def deploy(api: Api, bot_id: str) -> None:
    text = LEADS.read_text().replace("id: leads", f"id: {bot_id}", 1)
    status, body = await api.request("PUT", f"/v1/bots/{bot_id}/definition", raw=text.encode())
    assert status == 200, body


async def insert_users(db: Database, bot_id: str, count: int) -> list[str]:
    """Profiles of users who came through the dummy channel, written directly."""
    now = utc_now()
    users = [f"p{i:03d}" for i in range(count)]
    await db[c.PROFILES].insert_many([
        {"_id": profile_id(bot_id, u), "bot_id": bot_id, "user_id": u, "channel": "web",
         "source": "dummy", "created_at": now, "updated_at": now, "last_message_at": now,
         "assigned_to": "bot", "attributes": {}, "segments": [], "message_count": 1}
        for u in users])
    return users


async def wait_job(api: Api, job_id: str, until: tuple[str, ...] = FINISHED) -> dict[str, Any]:
    for _ in range(400):
        status, job = await api.get(f"/v1/jobs/{job_id}")
        assert status == 200, job
        if job["status"] in until:
            return dict(job)
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} is still {job['status']}: {job}")


@asynccontextmanager
async def sockets(api: Api, base_url: str, bot_id: str,
                  users: list[str]) -> AsyncIterator[dict[str, aiohttp.ClientWebSocketResponse]]:
    ws_base = base_url.replace("http", "ws")
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {api.key}"}) as session:
        opened = {u: await session.ws_connect(f"{ws_base}/v1/channels/dummy/{bot_id}/ws"
                                              f"?user_id={u}") for u in users}
        try:
            await asyncio.sleep(0.05)  # the server subscribes each socket after the upgrade
            yield opened
        finally:
            for socket in opened.values():
                await socket.close()


async def received(socket: aiohttp.ClientWebSocketResponse, at_least: int = 0,
                   within: float = 10.0) -> list[dict[str, Any]]:
    """Everything pushed to ``socket`` so far: the first ``at_least`` frames
    however long they take (up to ``within`` seconds each), then what follows
    them within 0.3 s."""
    got = []
    while True:
        try:
            message = await socket.receive(timeout=within if len(got) < at_least else 0.3)
        except TimeoutError:
            return got
        if message.type != aiohttp.WSMsgType.TEXT:
            return got
        got.append(message.json())


def job_messages(events: list[dict[str, Any]], job_id: str) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == "bot_message" and e["data"].get("job") == job_id]


async def test_a_broadcast_reaches_each_member_once_and_skips_human_held(
    api: Api, bot_id: str, app_server: tuple[web.Application, str]
) -> None:
    await deploy(api, bot_id)
    for user in ("u1", "u2", "u3", "u4"):
        await say(api, bot_id, user, text="hi")
    status, segment = await api.post(f"/v1/bots/{bot_id}/segments", {
        "name": "Launch", "kind": "static", "user_ids": ["u1", "u2", "u3"]})
    assert status == 201, segment
    assert (await api.post(f"/v1/bots/{bot_id}/users/u3/takeover", {"agent": "kim"}))[0] == 200

    message = {"text": "We launch today", "quick_replies": [{"title": "Tell me", "payload": "T"}]}
    async with sockets(api, app_server[1], bot_id, ["u1", "u2", "u3", "u4"]) as open_:
        status, job = await api.post(f"/v1/bots/{bot_id}/broadcasts",
                                     {"audience": {"segment": segment["id"]}, "message": message})
        assert status == 202, job
        assert (job["kind"], job["status"], job["total"]) == ("broadcast", "queued", 3)
        assert job["started_by"] == {"key_id": "admin", "label": "admin key", "role": "admin"}
        job = await wait_job(api, job["id"])
        pushed = {u: await received(s) for u, s in open_.items()}
    assert (job["status"], job["done"], job["skipped"], job["failed"]) == ("done", 2, 1, 0)
    assert job["started_at"] and job["finished_at"]
    for user in ("u1", "u2"):
        assert [p["message"]["text"] for p in pushed[user]] == ["We launch today"]
        events = job_messages(await timeline(api, bot_id, user), job["id"])
        assert [e["data"]["text"] for e in events] == ["We launch today"]
    assert pushed["u3"] == [] and pushed["u4"] == []
    assert job_messages(await timeline(api, bot_id, "u3"), job["id"]) == []

    # Asked to, a broadcast reaches a user a human holds as well.
    only_u3 = {"conditions": [{"property": "user_id", "operator": "in", "value": ["u3"]}]}
    status, job = await api.post(f"/v1/bots/{bot_id}/broadcasts", {
        "audience": {"filter": only_u3}, "message": {"text": "Sorry, one more"},
        "include_human_held": True})
    assert status == 202, job
    job = await wait_job(api, job["id"])
    assert (job["done"], job["skipped"]) == (1, 0)


async def test_bad_requests_change_nothing(api: Api, bot_id: str, db: Database) -> None:
    await deploy(api, bot_id)
    await say(api, bot_id, "u1", text="hi")
    everyone = {"filter": {"conditions": []}}
    for body, path in [
        ({"set": {"seats": "many"}}, "set/seats"),
        ({"set": {"seats": 3, "channel": "sms"}}, "set/channel"),
        ({"set": {"plan": "gold"}}, "set/plan"),
        ({"set": {"nickname": "x"}}, "set/nickname"),
        ({"set": {"seats": 3}, "unset": ["assigned_to"]}, "unset/0"),
    ]:
        status, error = await api.post(f"/v1/bots/{bot_id}/bulk-update",
                                       {"audience": everyone, **body})
        assert status == 400, error
        assert path in [e["path"] for e in error["details"]["errors"]]
    status, error = await api.post(f"/v1/bots/{bot_id}/broadcasts", {
        "audience": {"segment": "nope"}, "message": {"text": "x"}})
    assert status == 404, error
    status, error = await api.post(f"/v1/bots/{bot_id}/workflows/run", {
        "audience": everyone, "module": "no-such-module"})
    assert status == 404, error
    status, error = await api.post(f"/v1/bots/{bot_id}/broadcasts", {
        "audience": everyone, "message": {}})
    assert status == 400, error
    assert await db[c.JOBS].count_documents({"bot_id": bot_id}) == 0

    status, job = await api.post(f"/v1/bots/{bot_id}/bulk-update", {
        "audience": everyone, "set": {"seats": "12", "plan": "business"}, "unset": ["name"]})
    assert status == 202, job
    assert (await wait_job(api, job["id"]))["done"] == 1
    profile = await ProfileStore.of(db).get_profile(bot_id, "u1")
    assert profile is not None
    assert profile["attributes"]["seats"] == 12 and profile["attributes"]["plan"] == "business"
    _, timeline = await api.get(f"/v1/bots/{bot_id}/users/u1/timeline")
    recorded = [e["data"] for e in timeline["events"] if e["data"].get("name") == "bulk_update"]
    assert recorded == [{"job": job["id"], "set": {"seats": 12, "plan": "business"},
                         "unset": ["name"], "name": "bulk_update"}]


async def test_run_workflow_starts_the_module_for_each_user(
    api: Api, bot_id: str, app_server: tuple[web.Application, str]
) -> None:
    await deploy(api, bot_id)
    for user in ("w1", "w2"):
        await say(api, bot_id, user, text="hi")
    async with sockets(api, app_server[1], bot_id, ["w1", "w2"]) as open_:
        status, job = await api.post(f"/v1/bots/{bot_id}/workflows/run", {
            "audience": {"filter": {"conditions": []}}, "module": "demo"})
        assert status == 202, job
        job = await wait_job(api, job["id"])
        pushed = {u: await received(s) for u, s in open_.items()}
    assert (job["status"], job["done"]) == ("done", 2)
    channel = app_server[0][CONNECTORS].get("dummy")
    assert channel is not None
    await channel.recorder.flush()  # type: ignore[attr-defined]
    for user in ("w1", "w2"):
        assert [p["message"]["text"] for p in pushed[user]] == [
            "Which phone number should we call to book your demo?"]
        events = await timeline(api, bot_id, user)
        assert ("module_entered", "demo") in [(e["type"], e["data"].get("module"))
                                              for e in events]


async def test_an_interrupted_broadcast_resumes_without_sending_twice(
    api: Api, bot_id: str, db: Database, app_server: tuple[web.Application, str]
) -> None:
    await deploy(api, bot_id)
    users = await insert_users(db, bot_id, 12)
    crashed = JobWorker(db, app_server[0][CONNECTORS], owner="crashed-worker")
    async with sockets(api, app_server[1], bot_id, users) as open_:
        job = await bulk.broadcast(db, bot_id, {
            "audience": {"filter": {"conditions": []}}, "message": {"text": "Once only"}},
            claimed_by=crashed.owner, chunk_users=4)
        await crashed.run_job(job, stop_after_chunks=1)  # then it "dies", lease still held
        # It also died in the middle of the next chunk: it had claimed p004 to p007,
        # was acting for p004 and p005, delivered to p004 and recorded it, but never
        # settled either marker; it had not come to p006 and p007.
        at = utc_now()
        for user, state in (("p004", "acting"), ("p005", "acting"), ("p006", "claimed"),
                            ("p007", "claimed")):
            await JobStore.of(db).claim_markers([{"_id": marker_key(job["_id"], user),
                                                  "state": state, "job_id": job["_id"],
                                                  "user_id": user, "owner": crashed.owner,
                                                  "at": at}])
        await CaptureStore.of(db).ingest([_broadcast_event(job["_id"], bot_id, "p004", 0,
                                             {"text": "Once only"}, "web")])
        midway = await wait_job(api, job["_id"], until=("running",))
        assert (midway["done"], midway["attempts"]) == (4, 1)

        await db[c.JOBS].update_one({"_id": job["_id"]}, {
            "$set": {"lease_until": utc_now() - timedelta(seconds=1)}})
        finished = await wait_job(api, job["_id"])  # the server's worker takes it over
        pushed = {u: await received(s) for u, s in open_.items()}
    assert finished["status"] == "done" and finished["attempts"] == 2
    assert (finished["done"], finished["failed"]) == (11, 1)
    assert [f["user_id"] for f in finished["failures"]] == ["p005"]
    assert "interrupted" in finished["failures"][0]["reason"]
    for user in users:
        expected = [] if user in ("p004", "p005") else ["Once only"]
        assert [p["message"]["text"] for p in pushed[user]] == expected, user
        recorded = job_messages(await timeline(api, bot_id, user), job["_id"])
        assert len(recorded) == (0 if user == "p005" else 1), user
    p004 = job_messages(await timeline(api, bot_id, "p004"), job["_id"])
    assert [e["id"] for e in p004] == [broadcast_event_id(job["_id"], 0)]


async def test_a_worker_shutting_down_hands_its_job_back_at_once(
        api: Api, bot_id: str, db: Database) -> None:
    await deploy(api, bot_id)
    await insert_users(db, bot_id, 3)
    leaving = JobWorker(db, ConnectorRegistry(), owner="leaving-worker")
    job = await bulk.broadcast(db, bot_id, {
        "audience": {"filter": {"conditions": []}}, "message": {"text": "Later"}},
        claimed_by=leaving.owner)
    await leaving.close()  # it shuts down before its first chunk
    await leaving.run_job(job)
    released_at = utc_now()
    # The server's worker resumes it at once, not when the lease would have run out.
    finished = await wait_job(api, job["_id"])
    assert finished["status"] == "done" and finished["attempts"] == 2, finished
    assert finished["done"] + finished["failed"] + finished["skipped"] == 3
    assert (utc_now() - released_at).total_seconds() < c.JOB_LEASE_S


async def test_cancel_stops_a_running_job(api: Api, bot_id: str, db: Database) -> None:
    await deploy(api, bot_id)
    await insert_users(db, bot_id, 10)
    status, job = await api.post(f"/v1/bots/{bot_id}/broadcasts", {
        "audience": {"filter": {"conditions": []}}, "message": {"text": "slow"},
        "rate_per_second": 4})
    assert status == 202, job
    await wait_job(api, job["id"], until=("running",))
    status, cancelled = await api.post(f"/v1/jobs/{job['id']}/cancel")
    assert status == 200 and cancelled["status"] == "cancelled", cancelled
    await asyncio.sleep(1.5)
    final = await wait_job(api, job["id"])
    assert final["status"] == "cancelled" and final["finished_at"]
    assert final["done"] < 10
    sent = len(await stored_event_docs(db, {"bot_id": bot_id}, job=job["id"]))
    assert sent <= final["done"] + 4  # at most the chunk being sent when it was cancelled
    await asyncio.sleep(1.0)
    assert len(await stored_event_docs(db, {"bot_id": bot_id}, job=job["id"])) == sent


async def test_a_key_sees_only_the_jobs_of_its_bots(api: Api, bot_id: str, make_key) -> None:  # type: ignore[no-untyped-def]
    status, job = await api.post(f"/v1/bots/{bot_id}/bulk-update", {
        "audience": {"filter": {"conditions": []}}, "set": {}, "unset": []})
    assert status == 400  # nothing to do
    status, _ = await api.request("PUT", f"/v1/bots/{bot_id}/properties", {"properties": [
        {"name": "score", "type": "number"}]})
    assert status in (200, 204)
    status, job = await api.post(f"/v1/bots/{bot_id}/bulk-update", {
        "audience": {"filter": {"conditions": []}}, "set": {"score": 1}})
    assert status == 202, job
    other = api.as_key(await make_key(Role.ADMIN, "another-bot"))
    assert (await other.get(f"/v1/jobs/{job['id']}"))[0] == 404
    assert (await other.post(f"/v1/jobs/{job['id']}/cancel"))[0] == 404
    viewer = api.as_key(await make_key(Role.VIEWER, bot_id))
    assert (await viewer.get(f"/v1/jobs/{job['id']}"))[0] == 200
    assert (await viewer.post(f"/v1/jobs/{job['id']}/cancel"))[0] == 403
    assert (await api.get("/v1/jobs/no-such-job"))[0] == 404
    # Who started a job: the key's id (as keys are listed), label and role.
    editor_key = await make_key(Role.EDITOR, bot_id)
    status, job = await api.as_key(editor_key).post(f"/v1/bots/{bot_id}/bulk-update", {
        "audience": {"filter": {"conditions": []}}, "set": {"score": 2}})
    assert status == 202, job
    assert job["started_by"] == {"key_id": key_id(hash_key(editor_key)), "label": "",
                                 "role": "editor"}


async def test_an_idle_worker_does_its_housekeeping_and_survives_a_failing_chore(
        db: Database) -> None:
    done = asyncio.Event()

    async def failing(_: Database) -> None:
        raise RuntimeError("this chore always fails")

    async def chore(given: Database) -> None:
        assert given is db
        done.set()

    worker = await JobWorker(db, ConnectorRegistry(), owner="housekeeper",
                             housekeeping=[failing, chore]).start()
    try:
        await asyncio.wait_for(done.wait(), 10)
    finally:
        await worker.close()
