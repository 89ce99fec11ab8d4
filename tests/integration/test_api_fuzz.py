"""No request a user can send gets a 500, and every answer is one the OpenAPI
document describes: schemathesis generates requests from our own document
(valid and invalid bodies, odd path and query values), sends them to
``audience serve`` running as a real process, and checks each answer's status
code, content type and body against the document."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from collections.abc import Iterator

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from connectors.dummy_extension import DummyExtension
from plugin.core.settings import Settings
from plugin.http.app import create_app
from plugin.http.openapi import build_document
from plugin.jobs.model import JobKind, JobStatus
from plugin.schemas import errors as schema_errors
from plugin.schemas import load as load_schema
from tests.integration.test_cli import AUDIENCE
from tests.integration.test_dummy_channel import LEADS

KEY = "fuzz-admin-key"
# Every route, event ingestion included (its schema picks each event's data
# schema with one if/then/else chain, which the generator can build from).
schema = schemathesis.openapi.from_dict(
    build_document(create_app(Settings(), extensions=[DummyExtension()])))
# Status code, content type and body as documented; a 500 never. (Not the
# checks that a request the generator thought valid is accepted: a valid bot
# id the server has never heard of is rightly a 404.)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data_dir = tmp_path_factory.mktemp("fuzz") / "data"
    env = {k: v for k, v in os.environ.items() if k != "MONGODB_URI"}
    env["AUDIENCE_ADMIN_KEY"] = KEY
    server = subprocess.Popen(
        [AUDIENCE, "serve", "--data-dir", str(data_dir), "--port", "0", "--bot", str(LEADS)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        match = re.search(r"serving on (http://\S+)", line)
        assert match, line
        yield match.group(1)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)
        if server.stdout is not None:
            server.stdout.close()


@schema.parametrize()
@settings(max_examples=int(os.environ.get("AUDIENCE_FUZZ_EXAMPLES", "15")), deadline=None,
          # The same examples on every CI run; AUDIENCE_FUZZ_RANDOM=1 explores new ones.
          derandomize=not os.environ.get("AUDIENCE_FUZZ_RANDOM"),
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                 HealthCheck.function_scoped_fixture])
def test_every_answer_is_documented_and_none_is_a_server_error(case: schemathesis.Case,
                                                                server_url: str) -> None:
    response = case.call(base_url=server_url, headers={"Authorization": f"Bearer {KEY}"},
                         timeout=30)
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path} → {response.status_code}: {response.text[:500]}\n"
        f"reproduce: {case.as_curl_command()}")
    case.validate_response(response, checks=CHECKS)


def test_the_fuzzed_document_covers_every_route() -> None:
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 40
    assert any(op.method.upper() == "POST" and op.path == "/v1/bots/{bot_id}/events"
               for op in operations)


def test_the_job_schema_names_every_kind_and_status() -> None:
    job = load_schema("job")["properties"]
    assert set(job["kind"]["enum"]) == {str(kind) for kind in JobKind}
    assert set(job["status"]["enum"]) == {str(status) for status in JobStatus}


def test_an_export_and_an_import_read_as_jobs_the_way_the_schema_says(server_url: str) -> None:
    # The generator cannot make these: a job id comes from a request before.
    headers = {"Authorization": f"Bearer {KEY}"}
    export = requests.post(f"{server_url}/v1/bots/leads/exports", headers=headers, timeout=30,
                           json={"audience": {"filter": {"conditions": []}}})
    assert export.status_code == 202, export.text
    imported = requests.post(
        f"{server_url}/v1/bots/leads/imports", headers=headers, timeout=30,
        files={"file": ("users.csv", b"user_id,email\nann,ann@example.com\n", "text/csv")},
        data={"mapping": '{"user_id": "user_id", "email": "email"}'})
    assert imported.status_code == 202, imported.text
    for job_id in (export.json()["job_id"], imported.json()["id"]):
        job = requests.get(f"{server_url}/v1/jobs/{job_id}", headers=headers, timeout=30)
        assert job.status_code == 200, job.text
        assert schema_errors("job", job.json()) == [], job.json()


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=3),
    max_leaves=8)
_DATA_KEYS = st.sampled_from([
    "text", "payload", "intent", "entities", "message_id", "buttons", "quick_replies", "cards",
    "title", "module", "campaign", "property", "value", "rejected", "error", "name", "method",
    "url", "status", "latency_ms", "ok", "branch", "condition", "to", "reason"])
_EVENT = st.fixed_dictionaries(
    {"user_id": st.text(max_size=12),
     "type": st.sampled_from(["user_message", "bot_message", "module_entered", "property_set",
                              "api_call", "branch", "handover", "custom", "other"]),
     "data": st.dictionaries(_DATA_KEYS, _JSON, max_size=5)},
    optional={"id": st.text(max_size=12), "channel": st.text(max_size=12),
              "source": st.text(max_size=12),
              "ts": st.text(max_size=30) | st.just("2026-01-01T00:00:00Z")})


@settings(max_examples=int(os.environ.get("AUDIENCE_FUZZ_EXAMPLES", "15")) * 4, deadline=None,
          derandomize=not os.environ.get("AUDIENCE_FUZZ_RANDOM"),
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(events=st.lists(_EVENT, min_size=1, max_size=5))
def test_no_event_batch_gets_a_server_error(events: list[dict[str, object]],
                                            server_url: str) -> None:
    response = requests.post(f"{server_url}/v1/bots/fuzz/events", json={"events": events},
                             headers={"Authorization": f"Bearer {KEY}"}, timeout=30)
    assert response.status_code in (202, 400), f"{response.status_code}: {response.text[:500]}"
