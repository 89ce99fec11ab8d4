"""``call`` steps against a real backend on loopback (``tests/runtime/bots/calls.yaml``):
success with mapped values, each failure reason with its route, no route,
the default route, templated requests, and secrets kept out of reports."""

from __future__ import annotations

import json
from typing import Any

import pytest

from runtime.apis import redact_url
from tests.runtime.conftest import SECRET, SLOW_SECONDS, Backend, RecordingObserver


async def test_a_successful_call_saves_mapped_values_and_follows_on_success(
    chat: Any, observer: RecordingObserver, backend: Backend
) -> None:
    user = chat("calls")
    await user.send("hi")
    assert await user.texts(payload="SAVE") == ["success found 7"]
    assert user.properties["result"] == "found" and user.properties["count"] == 7
    url = f"{backend.url}/ok?email=ada%40example.com&api_key=REDACTED"
    assert observer.of("api_call") == [("api_call", "ok", "GET", url, 200, True, None)]
    assert observer.events[-5:-2] == [
        ("api_call", "ok", "GET", url, 200, True, None),
        ("property_set", "result", "found"),
        ("property_set", "count", 7),
    ]
    (request,) = backend.requests
    assert request["query"] == {"email": "ada@example.com", "api_key": SECRET}
    assert request["headers"]["X-Token"] == SECRET
    assert request["headers"]["X-Email"] == "ada@example.com"


async def test_a_post_body_is_templated_and_keeps_property_types(
    chat: Any, backend: Backend
) -> None:
    user = chat("calls")
    await user.send("hi")
    assert await user.texts(payload="POST") == ["posted score 7 for ada@example.com 7"]
    (request,) = backend.requests
    assert json.loads(request["body"]) == {
        "email": "ada@example.com",
        "score": 7,
        "note": "score 7 for ada@example.com",
        "fixed": [1, True],
    }


@pytest.mark.parametrize(
    ("keyword", "api", "status", "error_kind", "said"),
    [
        ("status", "status", 503, "status", "status failure"),
        ("slow", "slow", None, "timeout", "timeout failure"),
        ("refused", "refused", None, "connection", "connection failure"),
        ("hangup", "hangup", None, "connection", "connection failure"),
        ("html", "html", 200, "invalid_response", "invalid response"),
    ],
)
async def test_each_failure_reason_takes_its_route(
    chat: Any,
    observer: RecordingObserver,
    keyword: str,
    api: str,
    status: int | None,
    error_kind: str,
    said: str,
) -> None:
    user = chat("calls")
    await user.send("hi")
    assert await user.texts(keyword) == [said]
    ((_, name, method, _url, got_status, ok, kind),) = observer.of("api_call")
    assert (name, method, got_status, ok, kind) == (api, "GET", status, False, error_kind)
    assert observer.of("property_set")[2:] == []  # only the welcome module's set


async def test_a_timeout_is_reported_quickly(chat: Any, observer: RecordingObserver) -> None:
    user = chat("calls")
    await user.send("hi")
    await user.send("slow")
    (latency,) = observer.latencies
    assert 150 <= latency < SLOW_SECONDS * 1000  # the api times out after 0.2 s


async def test_a_missing_mapped_field_is_an_invalid_response(
    chat: Any, observer: RecordingObserver
) -> None:
    user = chat("calls")
    await user.send("hi")
    assert await user.texts(payload="MISSING") == ["invalid response"]
    assert observer.of("api_call")[0][4:] == (200, False, "invalid_response")
    assert "result" not in user.properties


async def test_a_mapped_value_of_the_wrong_type_is_rejected_and_invalid(
    chat: Any, observer: RecordingObserver
) -> None:
    user = chat("calls")
    await user.send("hi")
    assert await user.texts(payload="WRONG_TYPE") == ["invalid response"]
    assert observer.events[-4:-2] == [
        (
            "api_call",
            "ok",
            "GET",
            observer.of("api_call")[0][3],
            200,
            False,
            "invalid_response",
        ),
        ("property_rejected", "count", "found", "'found' is not a number"),
    ]


async def test_without_a_route_a_failed_call_continues_with_the_next_step(chat: Any) -> None:
    user = chat("calls")
    await user.send("hi")
    assert await user.texts(payload="NOROUTE") == ["continued after the failure"]


async def test_the_default_route_catches_reasons_without_their_own(chat: Any) -> None:
    user = chat("calls")
    await user.send("hi")
    assert await user.texts(payload="DEFAULT") == ["failure"]


async def test_reported_urls_carry_no_userinfo_or_secret_values(
    chat: Any, observer: RecordingObserver, closed_port: int, backend: Backend
) -> None:
    user = chat("calls")
    await user.send("hi")
    await user.send(payload="SECRETS")
    urls = [event[3] for event in observer.of("api_call")]
    assert urls == [
        f"http://127.0.0.1:{closed_port}/x?password=REDACTED&page=2",
        f"{backend.url}/ok?email=ada%40example.com&api_key=REDACTED",
    ]
    assert not any(SECRET in str(event) or "hunter2" in str(event) for event in observer.events)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://h/x?token=abc&q=1", "https://h/x?token=REDACTED&q=1"),
        (
            "https://h/x?Client_Secret=a&API_KEY=b",
            "https://h/x?Client_Secret=REDACTED&API_KEY=REDACTED",
        ),
        ("https://me:pw@h:8443/p#frag", "https://h:8443/p"),
        ("https://h/p?empty=", "https://h/p?empty="),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown
