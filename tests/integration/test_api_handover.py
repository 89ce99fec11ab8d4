"""Takeover and hand-back through the API; delivery needs the user's connector."""

from __future__ import annotations

from tests.conftest import Api

HELLO = {"events": [{"user_id": "u", "type": "user_message", "data": {"text": "hi"}}]}


async def test_start_chat_and_assign_back(api: Api, bot_id: str) -> None:
    base = f"/v1/bots/{bot_id}/users/u"
    assert (await api.post(f"{base}/takeover", {"agent": "kim"}))[0] == 404
    await api.post(f"/v1/bots/{bot_id}/events", HELLO)

    status, profile = await api.post(f"{base}/takeover", {"agent": "kim"})
    assert (status, profile["assigned_to"]) == (200, "human:kim")
    assert (await api.post(f"{base}/takeover", {"agent": "kim"}))[0] == 200  # idempotent
    status, body = await api.post(f"{base}/takeover", {"agent": "lee"})
    assert status == 409 and body["message"] == "kim is already chatting with this user"

    status, profile = await api.post(f"{base}/assign-to-bot")
    assert (status, profile["assigned_to"]) == (200, "bot")
    _, timeline = await api.get(f"{base}/timeline")
    assert [(e["type"], e["data"]["to"]) for e in timeline["events"] if e["type"] == "handover"] \
        == [("handover", "bot"), ("handover", "human:kim")]


async def test_agent_messages_need_a_chat_and_a_connector(api: Api, bot_id: str) -> None:
    base = f"/v1/bots/{bot_id}/users/u"
    await api.post(f"/v1/bots/{bot_id}/events", HELLO)
    status, body = await api.post(f"{base}/messages", {"text": "Hello, Kim here"})
    assert status == 409 and "start a chat" in body["message"]
    await api.post(f"{base}/takeover", {"agent": "kim"})
    status, body = await api.post(f"{base}/messages", {"text": "Hello, Kim here"})
    assert status == 409 and body["details"] == {"source": "api"}
    status, body = await api.post(f"{base}/messages", {"txt": "typo"})
    assert status == 400
    _, profile = await api.get(base)
    assert profile["message_count"] == 1  # nothing was recorded as sent


async def test_takeover_needs_an_agent_name(api: Api, bot_id: str) -> None:
    await api.post(f"/v1/bots/{bot_id}/events", HELLO)
    status, body = await api.post(f"/v1/bots/{bot_id}/users/u/takeover", {})
    assert status == 400 and "'agent' is a required property" in body["message"]
