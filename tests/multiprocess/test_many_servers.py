"""Many servers, one deployment: three ``audience serve`` processes on one
database serve the same users as one would (tests/multiprocess/conftest.py).

A conversation whose turns alternate between the servers goes on where the
last turn left it; an agent on one server reaches the user's WebSocket on
another, and sees the user's answer, sent to a third, in the profile's live
stream; a bot deployed through one server runs on all; a webhook delivery
whose server is killed is sent by another; a broadcast whose server is killed
half-way reaches everyone once.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from plugin.access.sessions import sign_in
from plugin.core import constants as c
from plugin.crm.outbox import DELIVERY_HEADER
from plugin.web.guard import SESSION_COOKIE
from tests.integration.test_jobs import received
from tests.loopback import receiving
from tests.multiprocess.conftest import BOT_ID, KEY, Cluster, Server


async def say(server: Server, user_id: str, text: str, *,
              channel: str = "web") -> dict[str, Any]:
    status, body = await server.api.post(
        f"/v1/channels/dummy/{BOT_ID}/messages?wait=true",
        {"user_id": user_id, "text": text, "channel": channel})
    assert status == 200, body
    return dict(body)


def texts(body: dict[str, Any]) -> list[str]:
    return [reply["text"] for reply in body["replies"]]


async def test_a_conversation_goes_on_whichever_server_takes_each_turn(
        cluster: Cluster) -> None:
    """On WhatsApp (no quick replies: numbered options), each turn on the next
    server: the question asked, the answers kept, and "2" answers the list
    another server sent."""
    user = "alternating"
    channel = "whatsapp"
    assert texts(await say(cluster[0], user, "hi", channel=channel)) == ["What's your name?"]
    assert texts(await say(cluster[1], user, "Ada", channel=channel)) == [
        "Thanks Ada, which email?"]
    plans = texts(await say(cluster[2], user, "ada@example.com", channel=channel))
    assert plans == ["Which plan?\n\n1. Starter\n2. Business\n3. Enterprise"], plans
    assert texts(await say(cluster[0], user, "2", channel=channel)) == [
        "Ada: the business plan, details to ada@example.com."]
    status, profile = await cluster[1].api.get(f"/v1/bots/{BOT_ID}/users/{user}")
    assert status == 200
    assert {k: profile["attributes"].get(k) for k in ("name", "email", "plan")} == {
        "name": "Ada", "email": "ada@example.com", "plan": "business"}


async def test_an_agent_on_one_server_chats_with_a_user_on_another(cluster: Cluster) -> None:
    """The user's socket is on server 1, the agent works on server 2 (its
    live stream there), the user's turns go to server 0."""
    user = "taken-over"
    assert texts(await say(cluster[0], user, "hi")) == ["What's your name?"]
    token, _ = await sign_in(cluster.db, KEY, KEY)
    ws_url = cluster[1].url.replace("http", "ws") + f"/v1/channels/dummy/{BOT_ID}/ws"
    agent = cluster[2]
    async with cluster.session.ws_connect(ws_url, params={"user_id": user},
                                          headers={"Authorization": f"Bearer {KEY}"}) as socket, \
            cluster.session.get(f"{agent.url}/bots/{BOT_ID}/users/{user}/live",
                                cookies={SESSION_COOKIE: token}) as live:
        assert live.status == 200
        await asyncio.sleep(0.3)  # the socket is subscribed once upgraded
        status, profile = await agent.api.post(f"/v1/bots/{BOT_ID}/users/{user}/takeover",
                                               {"agent": "kim"})
        assert (status, profile["assigned_to"]) == (200, "human:kim")
        status, _ = await agent.api.post(f"/v1/bots/{BOT_ID}/users/{user}/messages",
                                         {"text": "Hello, Kim here"})
        assert status == 200
        frame = await asyncio.wait_for(socket.receive_json(), 10)
        assert frame == {"type": "message", "message": {"text": "Hello, Kim here"}}

        # The bot, on server 0, knows a human holds the conversation: it stays silent.
        answer = await say(cluster[0], user, "I want a person, not a form")
        assert (answer["replies"], answer["assigned_to"]) == ([], "human")
        assert "I want a person, not a form" in await stream_until(
            live, "I want a person, not a form")

        # Handed back on server 2, the bot answers on server 1 from the start.
        assert (await agent.api.post(f"/v1/bots/{BOT_ID}/users/{user}/assign-to-bot"))[0] == 200
        assert texts(await say(cluster[1], user, "hi")) == ["What's your name?"]


async def stream_until(live: aiohttp.ClientResponse, wanted: str, timeout: float = 10) -> str:
    """The live stream's text until ``wanted`` shows in it."""
    seen = ""

    async def read() -> None:
        nonlocal seen
        async for line in live.content:
            seen += line.decode()
            if wanted in seen:
                return

    await asyncio.wait_for(read(), timeout)
    return seen


POP_UP = """
bot: {{id: pop-up, name: Pop-up}}
properties:
  city: {{type: text, label: City}}
modules:
  welcome:
    default: true
    start: {{keywords: [hi]}}
    steps:
      - ask: {{property: city, prompt: "{question}"}}
      - say: {{text: "See you in {{{{city}}}}."}}
"""


async def test_a_bot_deployed_through_one_server_runs_on_all(cluster: Cluster) -> None:
    """Deployed with PUT on one server, talked to on the others; deployed again
    changed, every server runs the new definition from the next turn."""
    first, second, third = cluster.alive[:3]

    async def deploy(server: int, question: str) -> None:
        status, body = await cluster[server].api.request(
            "PUT", "/v1/bots/pop-up/definition", raw=POP_UP.format(question=question).encode(),
            headers={"Content-Type": "application/yaml"})
        assert status == 200, body

    async def ask(server: int, user: str, text: str) -> list[str]:
        status, body = await cluster[server].api.post(
            "/v1/channels/dummy/pop-up/messages", {"user_id": user, "text": text})
        assert status == 200, body
        return [reply["text"] for reply in body["replies"]]

    await deploy(first, "Which city?")
    assert await ask(second, "traveller", "hi") == ["Which city?"]
    assert await ask(third, "traveller", "Lisbon") == ["See you in Lisbon."]
    await deploy(third, "Where to?")
    assert await ask(second, "traveller", "hi") == ["Where to?"]
    assert await ask(first, "traveller", "Porto") == ["See you in Porto."]


async def test_a_webhook_delivery_whose_server_is_killed_is_sent_by_another(
        cluster: Cluster) -> None:
    """The receiver holds the first request; the server sending it is killed
    (SIGKILL) meanwhile. Once its claim runs out another server sends it
    again, and everything after it: nothing is lost (at least once)."""
    async with receiving() as receiver:
        # The first request hangs longer than the sender waits (a second): it
        # is still held when its sender is killed.
        receiver.delay_s = 3.0
        alive = cluster.alive
        status, hook = await cluster[alive[0]].api.post(
            f"/v1/bots/{BOT_ID}/webhooks", {"url": receiver.url, "events": ["property.set"]})
        assert status == 201, hook
        await asyncio.sleep(1.1)  # the other servers cache a bot's webhooks for a second
        try:
            user = "synced"
            await say(cluster[alive[1]], user, "hi")
            await say(cluster[alive[2]], user, "Lin")
            await receiver.wait_for(lambda: len(receiver.requests) >= 1)
            sending = await cluster.db[c.OUTBOX].find_one(
                {"webhook_id": hook["id"], "owner": {"$ne": None}})
            assert sending is not None
            victim = cluster.by_pid(sending["owner"])
            victim.kill()
            await victim.process.wait()
            receiver.delay_s = 0.0
            killed_at = len(receiver.requests)
            held = receiver.requests[0].headers[DELIVERY_HEADER]
            await say(cluster[cluster.alive[0]], user, "lin@example.com")

            entries = [e async for e in cluster.db[c.OUTBOX].find({"webhook_id": hook["id"]})]
            assert len(entries) == 2  # name and email
            everything = {e["_id"] for e in entries}

            def all_sent() -> bool:
                sent_after = receiver.requests[killed_at:]
                return {r.headers[DELIVERY_HEADER] for r in sent_after} >= everything

            await receiver.wait_for(all_sent, timeout=15)
            assert held in everything
            for _ in range(100):
                states = [e["state"] async for e in cluster.db[c.OUTBOX].find(
                    {"webhook_id": hook["id"]})]
                if states == ["delivered", "delivered"]:
                    break
                await asyncio.sleep(0.05)
            assert states == ["delivered", "delivered"]
        finally:
            await cluster[cluster.alive[0]].api.request(
                "DELETE", f"/v1/bots/{BOT_ID}/webhooks/{hook['id']}")


async def test_a_broadcast_whose_server_is_killed_half_way_reaches_everyone_once(
        cluster: Cluster) -> None:
    """12 users, each with a socket on every server up; a broadcast paced at 6
    a second; the server running it is killed (SIGKILL) once 4 have it. The
    others resume it when its lease runs out: every socket of a server still
    up has the message exactly once, and so has every timeline. (Last in the
    module: it kills a server.)"""
    users = [f"listener-{n:02d}" for n in range(12)]
    up = cluster.alive
    assert len(up) >= 2
    for n, user in enumerate(users):
        await say(cluster[up[n % len(up)]], user, "hi")
    ws_path = f"/v1/channels/dummy/{BOT_ID}/ws"
    auth = {"Authorization": f"Bearer {KEY}"}
    sockets = {(i, user): await cluster.session.ws_connect(
                   cluster[i].url.replace("http", "ws") + ws_path, params={"user_id": user},
                   headers=auth)
               for i in up for user in users}
    try:
        await asyncio.sleep(0.3)  # each socket is subscribed once upgraded
        only_them = {"conditions": [{"property": "user_id", "operator": "in", "value": users}]}
        status, job = await cluster[up[0]].api.post(f"/v1/bots/{BOT_ID}/broadcasts", {
            "audience": {"filter": only_them}, "message": {"text": "Doors open at nine"},
            "rate_per_second": 6})
        assert status == 202, job
        job_id = job["id"]

        victim = await running_server(cluster, job_id)
        await reached(cluster, job_id, 4)
        await asyncio.sleep(0.06)  # into its wait for the next user's turn
        victim.kill()
        await victim.process.wait()
        reached_before = await cluster.db[c.JOB_MARKERS].count_documents(
            {"job_id": job_id, "state": "done"})
        assert 4 <= reached_before < len(users)

        survivors = cluster.alive
        finished = await finished_job(cluster[survivors[0]], job_id)
        assert (finished["status"], finished["done"], finished["failed"],
                finished["attempts"]) == ("done", len(users), 0, 2), finished
        # Each socket's frame comes by its server's relay, which polls: wait
        # for one, then for a second that must not come.
        heard = await asyncio.gather(*(received(sockets[i, user], at_least=1)
                                       for i in survivors for user in users))
        by_socket = dict(zip([(i, u) for i in survivors for u in users], heard, strict=True))
        for (i, user), got in by_socket.items():
            assert [f["message"]["text"] for f in got] == ["Doors open at nine"], (i, user)
        for user in users:
            status, timeline = await cluster[survivors[0]].api.get(
                f"/v1/bots/{BOT_ID}/users/{user}/timeline")
            assert status == 200
            sent = [e for e in timeline["events"] if e["type"] == "bot_message"
                    and e["data"].get("job") == job_id]
            assert len(sent) == 1, user
    finally:
        for socket in sockets.values():
            await socket.close()


async def running_server(cluster: Cluster, job_id: str) -> Server:
    """The server whose worker runs the job (its owner names its process)."""
    for _ in range(500):
        job = await cluster.db[c.JOBS].find_one({"_id": job_id})
        if job and job.get("owner"):
            return cluster.by_pid(job["owner"])
        await asyncio.sleep(0.02)
    raise AssertionError(f"no server took job {job_id}")


async def reached(cluster: Cluster, job_id: str, users: int) -> None:
    """Once the job has reached ``users`` users (their markers settled ``done``)."""
    for _ in range(1000):
        if await cluster.db[c.JOB_MARKERS].count_documents(
                {"job_id": job_id, "state": "done"}) >= users:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"job {job_id} has not reached {users} users")


async def finished_job(server: Server, job_id: str, timeout: float = 20) -> dict[str, Any]:
    async def poll() -> dict[str, Any]:
        while True:
            status, job = await server.api.get(f"/v1/jobs/{job_id}")
            assert status == 200, job
            if job["status"] not in ("queued", "running"):
                return dict(job)
            await asyncio.sleep(0.1)

    return await asyncio.wait_for(poll(), timeout)
