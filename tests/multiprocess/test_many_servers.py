"""Many servers, one deployment: three ``audience serve`` processes on one
database serve the same users as one would (tests/multiprocess/conftest.py).

A conversation whose turns alternate between the servers goes on where the
last turn left it; an agent on one server reaches the user's WebSocket on
another, and sees the user's answer, sent to a third, in the profile's live
stream; a broadcast whose server is killed half-way reaches everyone once.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from plugin.access.sessions import sign_in
from plugin.web.guard import SESSION_COOKIE
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
