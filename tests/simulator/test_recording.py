"""A captured timeline kept as a scenario file (simulator.recording): steps
from what the user typed or tapped, expectations from what happened, APIs
stubbed to answer as they did; the file loads as audience simulate reads it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from connectors.dummy_extension import EXAMPLE_BOT
from runtime.loader import load_bot
from simulator.loader import parse_scenarios
from simulator.recording import scenario_document, scenario_yaml

BOT = load_bot(EXAMPLE_BOT)


def event(kind: str, **data: Any) -> dict[str, Any]:
    return {"type": kind, "data": data}


def call(name: str, *, status: int | None, ok: bool, error: str | None = None) -> dict[str, Any]:
    return event("api_call", name=name, method="GET", url="http://x", status=status,
                 latency_ms=3, ok=ok, error=error)


TIMELINE = [
    event("custom", name="test_started"),  # the marker: not a step
    event("user_message", text="quote"),
    event("module_entered", module="quote"),
    event("bot_message", text="Which email should the quote go to?"),
    event("user_message", text="ada@example.com"),
    event("property_set", property="email", value="ada@example.com"),
    call("crm_lookup", status=200, ok=True),
    event("property_set", property="customer", value=True),
    event("property_set", property="crm_plan", value="business"),
    event("bot_message", text="Welcome back! Your company is on our business plan."),
    event("bot_message", text="How many seats do you need?"),
    event("user_message", text="many"),
    event("property_set", property="seats", value="many", rejected=True, error="not a number"),
    event("bot_message", text="Please give a number of seats between 1 and 10000."),
    event("user_message", text="12"),
    event("property_set", property="seats", value=12),
    event("bot_message", text="Which plan?", quick_replies=[
        {"title": "Starter", "payload": "starter"}, {"title": "Business", "payload": "business"}]),
    event("user_message", payload="business"),
    event("property_set", property="plan", value="business"),
    call("quote", status=200, ok=False, error="invalid_response"),
    event("bot_message", text="Sorry, I can't work out a quote right now."),
]


def test_each_turn_is_a_step_with_what_happened_as_its_expectations() -> None:
    document = scenario_document(BOT, "leads", "web", TIMELINE, name="kept")
    scenario = document["scenarios"][0]
    assert document["channel"] == "web" and document["bot"] == str(EXAMPLE_BOT.resolve())
    steps = scenario["steps"]
    assert [s.get("say") or f"tap {s['tap']}" for s in steps] == [
        "quote", "ada@example.com", "many", "12", "tap Business"]
    assert steps[1]["expect"] == {
        "text": "How many seats do you need?",
        "properties": {"email": "ada@example.com", "customer": True, "crm_plan": "business"},
        "apis": {"crm_lookup": {"ok": True, "status": 200}}}
    assert steps[2]["expect"]["rejected"] == ["seats"]
    assert steps[3]["expect"]["quick_replies"] == ["Starter", "Business"]
    assert steps[4]["expect"]["apis"] == {"quote": {"failed": "invalid_response", "status": 200}}
    # The APIs answer as they did: the CRM's body rebuilt from what its save mapping stored.
    assert scenario["apis"] == {
        "crm_lookup": {"status": 200, "body": {"known": True, "plan": "business"}},
        "quote": {"status": 200, "text": scenario["apis"]["quote"]["text"]}}


def test_failed_calls_are_stubbed_to_fail_the_same_way() -> None:
    timeline = [event("user_message", text="quote"), event("bot_message", text="?"),
                event("user_message", text="ada@example.com"),
                call("crm_lookup", status=None, ok=False, error="timeout"),
                event("user_message", text="ada@example.com"),
                call("crm_lookup", status=503, ok=False, error="status")]
    document = scenario_document(BOT, "leads", "whatsapp", timeline, name="kept")
    scenario = document["scenarios"][0]
    assert scenario["apis"] == {"crm_lookup": {"fail": "timeout"}}
    assert scenario["steps"][1]["expect"]["apis"] == {
        "crm_lookup": {"failed": "timeout", "status": None}}
    # A later call that failed another way is not expected: the stub answers as the first did.
    assert "expect" not in scenario["steps"][2]


def test_the_file_loads_as_audience_simulate_reads_it(tmp_path: Path) -> None:
    text = scenario_yaml(BOT, "leads", "web", TIMELINE, name="kept", header="Kept.\nReplay.")
    assert text.startswith("# Kept.\n# Replay.\n")
    [scenario] = parse_scenarios(text, tmp_path / "kept.yaml")
    assert scenario.name == "kept" and len(scenario.steps) == 5
    assert scenario.steps[1].expect is not None
    assert scenario.steps[1].expect.properties["crm_plan"] == "business"


def test_a_bot_deployed_without_a_file_is_named_by_id_and_said_so() -> None:
    text = scenario_yaml(None, "shop", "web", TIMELINE[:4], name="kept")
    assert "deployed through the API" in text
    assert yaml.safe_load(text)["bot"] == "shop.yaml"


def test_an_earlier_messages_button_is_tapped_as_such() -> None:
    timeline = [
        event("user_message", text="hi"),
        event("bot_message", text="Hello", buttons=[{"title": "Book a demo", "payload": "DEMO"}]),
        event("user_message", text="quote"),
        event("bot_message", text="Which email?", quick_replies=[
            {"title": "Skip", "payload": "SKIP"}]),
        event("user_message", payload="DEMO"),
        event("bot_message", text="Which phone number?"),
        event("user_message", payload="NOWHERE"),
    ]
    steps = scenario_document(BOT, "leads", "web", timeline, name="kept")["scenarios"][0]["steps"]
    assert [s.get("tap") for s in steps[2:]] == [{"title": "Book a demo", "earlier": True},
                                                 "NOWHERE"]
