"""Templates (``{{property}}``, ``${VARIABLE}``), property rules beyond the
type, and what the runtime package may import."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from plugin.core.properties import InvalidValue, custom_property
from runtime.model import BotMessage, Button, Card, PropertySpec, QuickReply, Validation
from runtime.templating import (
    format_value,
    placeholders,
    render_message,
    render_text,
    render_value,
)

VALUES = {"name": "Ada L.", "seats": 12, "vip": True, "tags": ["a", "b"]}


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("Hi {{name}}!", "Hi Ada L.!"),
        ("{{ name }} x{{seats}}", "Ada L. x12"),
        ("{{vip}} {{tags}}", "true a, b"),
        ("{{missing}}|", "|"),
        ("${API_BASE} stays without an environment", "${API_BASE} stays without an environment"),
        ("{name} {{name", "{name} {{name"),
    ],
)
def test_render_text(text: str, shown: str) -> None:
    assert render_text(text, VALUES) == shown


def test_urls_encode_property_values_but_not_variables() -> None:
    url = "${API_BASE}/crm?name={{name}}&e={{email}}&k=${KEY}"
    env = {"API_BASE": "http://h:1/base", "KEY": "a/b"}
    assert render_text(url, {"name": "Ada L.", "email": "a+b@x.io"}, env, quote=True) == (
        "http://h:1/base/crm?name=Ada%20L.&e=a%2Bb%40x.io&k=a/b"
    )


def test_a_body_keeps_the_type_of_a_lone_placeholder() -> None:
    when = datetime(2024, 5, 1, tzinfo=UTC)
    body = {"n": "{{seats}}", "t": "{{seats}} seats", "d": "{{when}}", "l": ["{{tags}}", 1, None]}
    assert render_value(body, {**VALUES, "when": when}, {}) == {
        "n": 12,
        "t": "12 seats",
        "d": "2024-05-01T00:00:00+00:00",
        "l": [["a", "b"], 1, None],
    }


def test_messages_render_text_and_titles_but_keep_payloads_and_urls() -> None:
    template = BotMessage(
        "Hi {{name}}",
        buttons=(Button("{{name}}", payload="{{name}}"),),
        quick_replies=(QuickReply("Q {{seats}}", "{{seats}}"),),
        cards=(Card("C {{name}}", "S {{seats}}", "https://x/{{name}}.png"),),
    )
    rendered = render_message(template, VALUES)
    assert rendered == BotMessage(
        "Hi Ada L.",
        buttons=(Button("Ada L.", payload="{{name}}"),),
        quick_replies=(QuickReply("Q 12", "{{seats}}"),),
        cards=(Card("C Ada L.", "S 12", "https://x/{{name}}.png"),),
    )


def test_placeholders() -> None:
    assert placeholders("{{a}} and {{ b_2 }} but not {{3}}") == ["a", "b_2"]


@pytest.mark.parametrize(
    ("spec", "raw", "expected"),
    [
        (PropertySpec(custom_property("code", "text"), Validation()), "x", "x"),
        (
            PropertySpec(custom_property("n", "number"), Validation(min=1, max=5)),
            " 5 ",
            5,
        ),
        (
            PropertySpec(custom_property("e", "email"), Validation(max_length=12)),
            "A@B.CO",
            "a@b.co",
        ),
        (PropertySpec(custom_property("l", "list"), Validation(min_length=2)), "a, b,", ["a", "b"]),
    ],
)
def test_valid_values_are_normalised(spec: PropertySpec, raw: object, expected: object) -> None:
    assert spec.check(raw) == expected


@pytest.mark.parametrize(
    ("spec", "raw", "reason"),
    [
        (
            PropertySpec(custom_property("n", "number"), Validation(min=1, max=5)),
            "0",
            "0 is less than 1",
        ),
        (
            PropertySpec(custom_property("c", "text"), Validation(min_length=3)),
            "ab",
            "needs at least 3 characters",
        ),
        (
            PropertySpec(custom_property("l", "list"), Validation(min_length=2)),
            "a",
            "needs at least 2 items",
        ),
        (
            PropertySpec(custom_property("b", "boolean")),
            "maybe",
            "'maybe' is not yes/no or true/false",
        ),
    ],
)
def test_invalid_values_say_why(spec: PropertySpec, raw: object, reason: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        spec.check(raw)
    assert caught.value.reason == reason


def test_the_runtime_imports_no_server_code_connectors_or_simulator() -> None:
    code = (
        "import sys, runtime\n"
        "bad = [m for m in sys.modules if m.startswith(('aiohttp.web', 'connectors', "
        "'simulator', 'pymongo', 'plugin.db', 'plugin.http', 'plugin.http.app'))]\n"
        "print(bad)\n"
    )
    root = Path(__file__).parents[2]
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_dates_in_messages_read_as_people_write_them_and_stay_iso_for_machines() -> None:
    day = datetime(2026, 7, 14, tzinfo=UTC)
    moment = datetime(2026, 7, 14, 9, 30, tzinfo=UTC)
    message = render_message(BotMessage("Booked for {{day}} (sent {{at}}); {{days}}"),
                             {"day": day, "at": moment, "days": [day, date(2026, 12, 1)]})
    assert message.text == ("Booked for 14 July 2026 (sent 14 July 2026, 09:30 UTC); "
                            "14 July 2026, 1 December 2026")
    paris = datetime(2026, 7, 14, 9, 30, tzinfo=timezone(timedelta(hours=2)))
    assert format_value(paris, human=True) == "14 July 2026, 09:30 UTC+0200"
    # URLs, headers and API bodies are read by machines: ISO 8601.
    assert render_text("/book?day={{day}}", {"day": day}, {}, quote=True) == (
        "/book?day=2026-07-14T00%3A00%3A00%2B00%3A00")
    assert render_value({"day": "on {{day}}"}, {"day": day}, {}) == {
        "day": "on 2026-07-14T00:00:00+00:00"}
