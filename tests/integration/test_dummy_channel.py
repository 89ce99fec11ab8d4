"""A bot deployed on the dummy channel, talked to through the real HTTP server,
with its backend on a real loopback server: replies, channel adaptation,
the captured timeline, takeover and hand-back, and bad definitions."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web

from connectors.demo import DEMO_API_PREFIX, demo_api_routes
from tests.conftest import Api

LEADS = Path(__file__).resolve().parents[2] / "scenarios" / "bots" / "leads.yaml"


@pytest_asyncio.fixture(scope="module")
async def backend() -> AsyncIterator[str]:
    app = web.Application()
    app.add_routes(demo_api_routes)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    yield f"http://{host}:{port}{DEMO_API_PREFIX}"
    await runner.cleanup()


async def deploy_leads(api: Api, bot_id: str, backend: str) -> None:
    text = LEADS.read_text().replace("id: leads", f"id: {bot_id}", 1)
    text = text.replace("api_base: http://127.0.0.1:8080", f"api_base: {backend}", 1)
    status, body = await api.request("PUT", f"/v1/bots/{bot_id}/definition",
                                     raw=text.encode())
    assert status == 200, body


async def say(api: Api, bot_id: str, user_id: str, **message: Any) -> list[dict[str, Any]]:
    status, body = await api.post(f"/v1/channels/dummy/{bot_id}/messages?wait=true",
                                  {"user_id": user_id, **message})
    assert status == 200, body
    return list(body["replies"])


async def timeline(api: Api, bot_id: str, user_id: str) -> list[dict[str, Any]]:
    status, body = await api.get(f"/v1/bots/{bot_id}/users/{user_id}/timeline?limit=500")
    assert status == 200, body
    return list(reversed(body["events"]))


async def test_a_scripted_conversation_is_captured_exactly(
    api: Api, bot_id: str, backend: str
) -> None:
    await deploy_leads(api, bot_id, backend)
    replies = await say(api, bot_id, "u1", text="hi", profile={"first_name": "Ada"})
    assert [r["text"] for r in replies] == ["Hi! I'm Acme's assistant.", "What's your name?"]
    assert replies[0]["cards"][0]["title"] == "Acme Cloud"
    replies = await say(api, bot_id, "u1", text="Ada")
    assert replies[0]["quick_replies"][0] == {"title": "Get a quote", "payload": "QUOTE"}
    await say(api, bot_id, "u1", payload="QUOTE")
    replies = await say(api, bot_id, "u1", text="not-an-email")
    assert replies[0]["text"].startswith("That doesn't look like an email address")
    await say(api, bot_id, "u1", text="Ada@Example.com")
    await say(api, bot_id, "u1", text="20")
    replies = await say(api, bot_id, "u1", payload="business")
    assert replies[-1]["text"] == ("Your quote: 360 EUR a month for 20 seats on business. "
                                   "It's on its way to ada@example.com.")

    events = await timeline(api, bot_id, "u1")
    key = {"module_entered": "module", "property_set": "property", "api_call": "name",
           "branch": "branch", "user_message": "text", "bot_message": "text"}
    kinds = [(e["type"], e["data"].get(key[e["type"]])) for e in events]
    assert kinds == [
        ("property_set", "first_name"),
        ("user_message", "hi"),
        ("module_entered", "welcome"),
        ("property_set", "source_channel"),
        ("bot_message", "Hi! I'm Acme's assistant."),
        ("bot_message", "What's your name?"),
        ("user_message", "Ada"),
        ("property_set", "name"),
        ("bot_message", "Nice to meet you, Ada! What can I do for you?"),
        ("user_message", None),
        ("module_entered", "quote"),
        ("bot_message", "Which email should the quote go to?"),
        ("user_message", "not-an-email"),
        ("property_set", "email"),
        ("bot_message", "That doesn't look like an email address. Try again, e.g. "
                        "ada@example.com."),
        ("bot_message", "Which email should the quote go to?"),
        ("user_message", "Ada@Example.com"),
        ("property_set", "email"),
        ("api_call", "crm_lookup"),
        ("property_set", "customer"),
        ("property_set", "crm_plan"),
        ("branch", "else"),
        ("module_entered", "quote_details"),
        ("bot_message", "How many seats do you need?"),
        ("user_message", "20"),
        ("property_set", "seats"),
        ("bot_message", "Which plan?"),
        ("user_message", None),
        ("property_set", "plan"),
        ("api_call", "quote"),
        ("property_set", "price"),
        ("branch", "else"),
        ("module_entered", "quote_done"),
        ("bot_message", replies[-1]["text"]),
    ]
    rejected = events[13]["data"]
    assert rejected["rejected"] is True and rejected["value"] == "not-an-email"
    crm = events[18]["data"]
    assert crm["ok"] is True and crm["status"] == 200 and "token" not in crm["url"].lower()

    status, profile = await api.get(f"/v1/bots/{bot_id}/users/u1")
    assert status == 200
    assert profile["current_module"] == "quote_done"
    assert profile["last_user_message"] == "business"
    assert profile["current_message"] == replies[-1]["text"]
    assert profile["attributes"]["email"] == "ada@example.com"
    assert profile["attributes"]["seats"] == 20 and profile["attributes"]["price"] == 360
    assert profile["source"] == "dummy" and profile["channel"] == "web"


async def test_api_failure_reason_is_captured(api: Api, bot_id: str, backend: str) -> None:
    await deploy_leads(api, bot_id, backend)
    for message in ({"text": "hi"}, {"text": "Bo"}, {"payload": "QUOTE"}):
        await say(api, bot_id, "u2", **message)
    replies = await say(api, bot_id, "u2", text="bo@flaky.example")
    assert replies[0]["text"].startswith("I couldn't check our customer records")
    calls = [e["data"] for e in await timeline(api, bot_id, "u2") if e["type"] == "api_call"]
    assert calls == [{"name": "crm_lookup", "method": "GET",
                      "url": f"{backend}/crm/lookup?email=bo%40flaky.example",
                      "status": 500, "latency_ms": calls[0]["latency_ms"], "ok": False,
                      "error": "status"}]


async def test_whatsapp_gets_numbered_options_and_answers_by_number(
    api: Api, bot_id: str, backend: str
) -> None:
    await deploy_leads(api, bot_id, backend)
    await say(api, bot_id, "w1", text="hi", channel="whatsapp")
    replies = await say(api, bot_id, "w1", text="Kim", channel="whatsapp")
    assert replies == [{"text": "Nice to meet you, Kim! What can I do for you?\n\n"
                                "1. Get a quote\n2. Book a demo\n3. Talk to sales"}]
    replies = await say(api, bot_id, "w1", text="2", channel="whatsapp")
    assert replies[0]["text"] == "Which phone number should we call to book your demo?"
    events = await timeline(api, bot_id, "w1")
    assert events[-3]["data"] == {"text": "2", "payload": "DEMO"}
    assert all("quick_replies" not in e["data"] for e in events if e["type"] == "bot_message")


async def test_takeover_silences_the_bot_until_assigned_back(
    api: Api, bot_id: str, backend: str, app_server: tuple[web.Application, str]
) -> None:
    await deploy_leads(api, bot_id, backend)
    await say(api, bot_id, "t1", text="hi")
    base = f"/v1/bots/{bot_id}/users/t1"
    assert (await api.post(f"{base}/takeover", {"agent": "kim"}))[0] == 200
    assert await say(api, bot_id, "t1", text="is anyone there?") == []

    url = app_server[1].replace("http", "ws") + f"/v1/channels/dummy/{bot_id}/ws?user_id=t1"
    async with aiohttp.ClientSession() as session, session.ws_connect(
            url, headers={"Authorization": f"Bearer {api.key}"}) as socket:
        status, body = await api.post(f"{base}/messages", {
            "text": "Hi, Kim here", "quick_replies": [{"title": "Thanks", "payload": "ok"}]})
        assert status == 200
        pushed = await asyncio.wait_for(socket.receive_json(), 10)
    assert pushed == {"type": "message", "message": body["delivered"][0]}

    assert (await api.post(f"{base}/assign-to-bot"))[0] == 200
    replies = await say(api, bot_id, "t1", text="hello")
    assert replies and replies[0]["text"] == "Hi! I'm Acme's assistant."
    events = await timeline(api, bot_id, "t1")
    agent = [e["data"] for e in events if e["data"].get("agent")]
    assert agent == [{"text": "Hi, Kim here", "quick_replies": [{"title": "Thanks",
                                                                 "payload": "ok"}],
                      "agent": "kim"}]
    assert "is anyone there?" in [e["data"].get("text") for e in events]


async def test_deploying_registers_the_bots_property_types(
    api: Api, bot_id: str, backend: str
) -> None:
    await deploy_leads(api, bot_id, backend)
    _, body = await api.get(f"/v1/bots/{bot_id}/properties")
    types = {p["name"]: p["type"] for p in body["properties"]}
    assert types["seats"] == "number" and types["plan"] == "choice" and types["phone"] == "phone"


@pytest.mark.parametrize(
    ("yaml_text", "fragment"),
    [
        ("bot: {id: B, name: x}\nmodules:\n  a:\n    steps:\n      - say: hi\n",
         "definition:2: modules: no default module"),
        ("bot: {id: B, name: x}\nmodules:\n  a:\n    default: true\n    steps:\n"
         "      - goto: nowhere\n",
         "definition:6: modules/a/steps/0/goto: unknown module 'nowhere'"),
        ("bot: [unclosed\n", "invalid YAML"),
    ],
)
async def test_bad_definitions_are_refused_with_where_and_why(
    api: Api, bot_id: str, yaml_text: str, fragment: str
) -> None:
    status, body = await api.request("PUT", f"/v1/bots/{bot_id}/definition",
                                     raw=yaml_text.replace("B", bot_id).encode())
    assert status == 400, body
    assert fragment in body["message"], body["message"]
    assert (await api.post(f"/v1/channels/dummy/{bot_id}/messages",
                           {"user_id": "u", "text": "hi"}))[0] == 404


async def test_definition_for_another_bot_is_refused(api: Api, bot_id: str) -> None:
    text = LEADS.read_text()
    status, body = await api.request("PUT", f"/v1/bots/{bot_id}/definition", raw=text.encode())
    assert status == 400 and body["details"] == {"field": "bot/id"}


async def test_faq_mid_question_and_fallback_are_captured(
    api: Api, bot_id: str, backend: str
) -> None:
    await deploy_leads(api, bot_id, backend)
    await say(api, bot_id, "f1", text="hi")
    replies = await say(api, bot_id, "f1", text="what about privacy?")
    assert replies[0]["text"].startswith("We only use your details")
    assert replies[-1]["text"] == "What's your name?"  # the pending question resumes
    await say(api, bot_id, "f1", text="Flo")
    replies = await say(api, bot_id, "f1", text="zzz qqq")
    assert replies[0]["text"] == "Sorry, I didn't catch that. What would you like to do?"
    custom = [e["data"] for e in await timeline(api, bot_id, "f1") if e["type"] == "custom"]
    assert custom == [{"faq": "privacy", "name": "faq_answered"},
                      {"text": "zzz qqq", "name": "fallback"}]


async def test_messenger_limits_apply_to_what_is_delivered_and_recorded(
    api: Api, bot_id: str, backend: str
) -> None:
    await deploy_leads(api, bot_id, backend)
    await say(api, bot_id, "m1", text="hi", channel="messenger")
    await say(api, bot_id, "m1", text="Mo", channel="messenger")
    replies = await say(api, bot_id, "m1", text="opening hours?", channel="messenger")
    assert replies[-1]["buttons"][:2] == [{"title": "Get a quote", "payload": "QUOTE"},
                                          {"title": "Book a demo", "payload": "DEMO"}]
    assert len(replies[-1]["buttons"]) <= 3
    recorded = [e["data"] for e in await timeline(api, bot_id, "m1")
                if e["type"] == "bot_message"]
    assert recorded[-len(replies):] == replies


async def test_a_bot_handover_waits_in_the_queue_for_an_agent(
    api: Api, bot_id: str, backend: str
) -> None:
    await deploy_leads(api, bot_id, backend)
    await say(api, bot_id, "h1", text="hi")
    await say(api, bot_id, "h1", text="Hal")
    replies = await say(api, bot_id, "h1", payload="SALES")
    assert replies[0]["text"].startswith("I'm passing you to our sales team")
    _, profile = await api.get(f"/v1/bots/{bot_id}/users/h1")
    assert profile["assigned_to"] == "human:queue"
    assert await say(api, bot_id, "h1", text="hello?") == []
    status, profile = await api.post(f"/v1/bots/{bot_id}/users/h1/takeover", {"agent": "kim"})
    assert (status, profile["assigned_to"]) == (200, "human:kim")
