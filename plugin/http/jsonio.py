"""JSON in and out: request bodies checked against the package's schemas,
responses written as :mod:`plugin.core.json_format` writes all JSON.

A body is read in three steps, each refusing with a 400 that says where:
the bytes (a ``Content-Encoding`` that does not decode), the JSON (syntax,
NaN and Infinity, integers of more digits than fit 64 bits, nesting that
would exhaust the parser's recursion), then the value
(:func:`plugin.core.storable.check_storable` without the field-name rules:
integer range, lone surrogates, depth) — before the schema check, so that
neither jsonschema nor an error message meets a value it cannot handle.
"""

from __future__ import annotations

import json
import re
from typing import Any

from aiohttp import web

from plugin import schemas
from plugin.core.errors import InvalidRequest, PayloadTooLarge
from plugin.core.json_format import dumps
from plugin.core.storable import MAX_DEPTH, Unreadable, check_storable

__all__ = ["read_body", "json_response"]


def json_response(body: object, *, status: int = 200) -> web.Response:
    # backslashreplace: a lone surrogate (which no UTF-8 holds) leaves as its
    # JSON escape rather than failing the response.
    text = dumps(body).encode("utf-8", "backslashreplace")
    return web.Response(body=text, status=status, content_type="application/json",
                        charset="utf-8")


def _number(text: str) -> float | int:
    """JSON has one number type: ``1.0`` is the integer 1 (JSON Schema agrees,
    and so must the handlers that then use it as a count)."""
    value = float(text)
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


async def read_body(request: web.Request, schema: str) -> Any:
    """The request's JSON body, checked against ``schema``.

    Raises:
        PayloadTooLarge: the body is over the server's size limit.
        InvalidRequest: the body does not decode, is not JSON, holds a value
            Audience cannot store or send back, or fails the schema;
            ``details`` lists every failure with its path.
    """
    body = _parse_json(await _read(request), _encoding(request))
    check_storable(body, field_names=False)
    schemas.check(schema, body)
    return body


def _parse_json(raw: bytes, encoding: str | None = None) -> Any:
    """``raw`` as JSON; where a number cannot be read (NaN, Infinity, more
    digits than 64 bits hold) the value is an :class:`Unreadable` for
    :func:`check_storable` to report with its path.

    Raises:
        InvalidRequest: not JSON (``encoding`` names the Content-Encoding it
            was decoded from, for the message), or nested too deep to parse.
    """
    try:
        return json.loads(raw, parse_float=_number, parse_int=_integer,
                          parse_constant=_constant)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        decoded = f" once decoded from {encoding}" if encoding else ""
        raise InvalidRequest(f"the request body is not valid JSON{decoded}: {exc}") from None
    except RecursionError:
        position = _too_deep_at(raw)
        where = f" (at byte {position})" if position is not None else ""
        raise InvalidRequest(
            f"the request body is nested deeper than {MAX_DEPTH} levels{where}",
            errors=[{"path": "(body)", "message": f"nested deeper than {MAX_DEPTH} levels"}],
        ) from None


async def _read(request: web.Request) -> bytes:
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        limit = request.client_max_size
        raise PayloadTooLarge(
            f"the request body is larger than {limit} bytes", limit=limit
        ) from None
    except web.RequestPayloadError:
        # aiohttp decodes Content-Encoding as it reads: garbage there fails here.
        encoding = _encoding(request)
        if encoding:
            raise InvalidRequest(f"the request body is not valid {encoding}, as its "
                                 "Content-Encoding header says it is") from None
        raise InvalidRequest("the request body could not be read: it ended early or does "
                             "not decode as its Content-Encoding header says") from None


def _encoding(request: web.Request) -> str | None:
    """The Content-Encoding to name in a message: only a plain token is echoed."""
    encoding = request.headers.get("Content-Encoding", "").strip()
    if encoding and encoding.isascii() and encoding.isprintable() and len(encoding) <= 32:
        return encoding
    return None


def _integer(text: str) -> int | Unreadable:
    # JSON has no leading zeros: more than 19 digits is beyond 64 bits, and
    # past 4300 digits int() itself refuses (a ValueError with no position).
    digits = len(text.lstrip("-"))
    if digits > 19:
        return Unreadable(f"an integer of {digits} digits, beyond MongoDB's 64-bit range")
    return int(text)


def _constant(text: str) -> Unreadable:
    return Unreadable(f"{text} is not a JSON number")


_STRUCTURE = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


def _too_deep_at(raw: bytes) -> int | None:
    """The byte offset where ``raw`` opens its level MAX_DEPTH + 1 (only on the
    error path: it walks every string and bracket)."""
    depth = 0
    for match in _STRUCTURE.finditer(raw):
        token = match.group()
        if token in (b"[", b"{"):
            depth += 1
            if depth > MAX_DEPTH:
                return match.start()
        elif token in (b"]", b"}"):
            depth -= 1
    return None
