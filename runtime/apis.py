"""Backend API calls of ``call`` steps: the request built from an :class:`Api`
template, its outcome classified into one failure reason, and the values a
step maps out of the JSON response.

Failure reasons (:class:`FailureKind`): ``status`` (a non-2xx answer),
``timeout`` (no complete answer within the api's timeout), ``connection``
(refused, reset, closed early, unusable URL) and ``invalid_response`` (a body
that is not JSON, or a mapped field missing). A 2xx answer with an empty body
is fine when nothing is mapped from it.

Uses only ``aiohttp.ClientSession``; the caller owns the session.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import aiohttp

from runtime.model import Api, FailureKind
from runtime.templating import render_text, render_value

__all__ = ["ApiOutcome", "call_api", "redact_url", "extract"]

_SECRET_KEY = re.compile(r"token|key|secret|passw|pwd|signature|auth|credential|session", re.I)
_REDACTED = "REDACTED"
_MISSING = object()


@dataclass(frozen=True, slots=True)
class ApiOutcome:
    """What one call did. ``url`` has its secrets removed (see :func:`redact_url`)."""

    api: str
    method: str
    url: str
    status: int | None
    latency_ms: float
    error_kind: FailureKind | None = None
    detail: str = ""
    values: Mapping[str, Any] = field(default_factory=dict)  # property -> mapped value

    @property
    def ok(self) -> bool:
        return self.error_kind is None


def redact_url(url: str) -> str:
    """``url`` without userinfo, fragment, or the values of secret-looking query keys.

    >>> redact_url("https://u:pw@api.example/x?email=a%40b.c&api_key=s3cr3t#top")
    'https://api.example/x?email=a%40b.c&api_key=REDACTED'
    """
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    query = [
        (key, _REDACTED if _SECRET_KEY.search(key) else value)
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return urlunsplit((parts.scheme, host, parts.path, urlencode(query), ""))


def extract(document: Any, path: str) -> Any:
    """The value at dotted ``path`` (``"customer.plan"``, ``"items.0.id"``) or raise
    ``LookupError``."""
    current = document
    for part in path.split("."):
        if isinstance(current, Mapping) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            raise LookupError(f"no field {path!r} in the response")
    return current


async def call_api(
    session: aiohttp.ClientSession,
    api: Api,
    values: Mapping[str, Any],
    env: Mapping[str, str],
    save: Mapping[str, str],
) -> ApiOutcome:
    """Call ``api`` with the conversation's ``values`` and runtime variables ``env``,
    and map the fields named by ``save`` (property -> path) out of the answer.

    Never raises for what the network or the backend does: that is the outcome.
    """
    url = render_text(api.url, values, env, quote=True)
    headers = {name: render_text(value, values, env) for name, value in api.headers.items()}
    body = render_value(api.body, values, env) if api.body is not None else None
    shown = redact_url(url)
    started = time.perf_counter()

    def outcome(
        status: int | None, kind: FailureKind | None, detail: str = "", mapped: Any = None
    ) -> ApiOutcome:
        latency = round((time.perf_counter() - started) * 1000, 3)
        return ApiOutcome(api.name, api.method, shown, status, latency, kind, detail, mapped or {})

    timeout = aiohttp.ClientTimeout(total=api.timeout)
    options: dict[str, Any] = {"headers": headers, "timeout": timeout}
    if isinstance(body, str):
        options["data"] = body
    elif body is not None:
        options["json"] = body
    try:
        async with session.request(api.method, url, **options) as response:
            status = response.status
            if not 200 <= status < 300:
                return outcome(status, FailureKind.STATUS, f"HTTP {status}")
            raw = await response.read()
    # Timeout first: aiohttp's ServerTimeoutError is also a connection error.
    except TimeoutError:
        return outcome(None, FailureKind.TIMEOUT, f"no answer within {api.timeout:g}s")
    except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, aiohttp.InvalidURL) as exc:
        return outcome(None, FailureKind.CONNECTION, type(exc).__name__)
    if not raw.strip() and not save:
        return outcome(status, None)
    try:
        document = json.loads(raw)
    except ValueError:
        return outcome(status, FailureKind.INVALID_RESPONSE, "the body is not JSON")
    mapped: dict[str, Any] = {}
    for prop, path in save.items():
        try:
            mapped[prop] = extract(document, path)
        except LookupError as exc:
            return outcome(status, FailureKind.INVALID_RESPONSE, str(exc))
    return outcome(status, None, mapped=mapped)
