"""JSON in and out: request bodies checked against the package's schemas,
responses written as :mod:`plugin.core.json_format` writes all JSON."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from plugin import schemas
from plugin.core.errors import InvalidRequest, PayloadTooLarge
from plugin.core.json_format import dumps

__all__ = ["read_body", "json_response"]


def json_response(body: object, *, status: int = 200) -> web.Response:
    return web.json_response(body, status=status, dumps=dumps)


def _number(text: str) -> float | int:
    """JSON has one number type: ``1.0`` is the integer 1 (JSON Schema agrees,
    and so must the handlers that then use it as a count)."""
    value = float(text)
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


async def read_body(request: web.Request, schema: str) -> Any:
    """The request's JSON body, checked against ``schema``.

    Raises:
        PayloadTooLarge: the body is over the server's size limit.
        InvalidRequest: the body is not JSON, or fails the schema; ``details``
            lists every failure with its path.
    """
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        limit = request.client_max_size
        raise PayloadTooLarge(
            f"the request body is larger than {limit} bytes", limit=limit
        ) from None
    try:
        body = json.loads(raw, parse_float=_number)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidRequest(f"the request body is not valid JSON: {exc}") from None
    schemas.check(schema, body)
    return body
