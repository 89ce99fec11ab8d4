"""The OpenAPI 3.1 document, built from the routes themselves.

Each route's :class:`~plugin.http.endpoint.Endpoint` record supplies its
summary, parameters and bodies; bodies reference the same JSON Schema
documents the server validates with (``plugin/schemas``).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from aiohttp import web

from plugin import schemas
from plugin.http.endpoint import Endpoint, endpoint, endpoint_of
from plugin.http.jsonio import json_response

__all__ = ["build_document", "routes"]

routes = web.RouteTableDef()
_TITLE = "Audience API"
_VERSION = "0.1.0"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _component(name: str, node: Any) -> Any:
    """A package schema as a component: every reference made a pointer into
    the document (``other``, ``other#/$defs/x`` and ``#/$defs/x`` alike), and
    ``$id``/``$schema`` dropped, so a tool needs no ``$id``-based resolution."""
    if isinstance(node, list):
        return [_component(name, item) for item in node]
    if not isinstance(node, dict):
        return node
    shown = {}
    for key, value in node.items():
        if key in ("$id", "$schema"):
            continue
        if key == "$ref" and isinstance(value, str):
            target, _, fragment = value.partition("#")
            shown[key] = f"#/components/schemas/{target or name}{fragment}"
        else:
            shown[key] = _component(name, value)
    return shown


def _answered_by_every_handler(meta: Endpoint, path: str) -> list[int]:
    """The errors the middlewares and the readers of bodies and parameters give,
    whatever the handler: a bad ``{bot_id}``, body or query value (400), no key
    (401), a bot that is not known (404), a body over the size limit (413)."""
    statuses = []
    if "{bot_id}" in path or meta.request is not None or any(
            p.where == "query" for p in meta.params):
        statuses.append(400)
    if meta.role is not None:
        statuses.append(401)
    if meta.known_bot:
        statuses.append(404)
    if meta.request is not None:
        statuses.append(413)
    return statuses


def _error_response(status: int) -> dict[str, Any]:
    return {"description": HTTPStatus(status).phrase,
            "content": {"application/json": {"schema": _ref("error")}}}


def build_document(app: web.Application) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for route in app.router.routes():
        meta = endpoint_of(route.handler)
        if route.method == "HEAD" or meta is None or route.resource is None:
            continue
        operation: dict[str, Any] = {
            "summary": meta.summary,
            "operationId": route.handler.__name__,
            "tags": [meta.tag] if meta.tag else [],
            "responses": {},
        }
        if meta.params:
            operation["parameters"] = [
                {"name": p.name, "in": p.where, "required": p.required or p.where == "path",
                 "schema": p.schema, **({"description": p.description} if p.description else {})}
                for p in meta.params
            ]
        if meta.request:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": _ref(meta.request)}},
            }
        for status, schema in sorted(meta.responses.items()):
            response: dict[str, Any] = {"description": HTTPStatus(status).phrase}
            if schema:
                response["content"] = {"application/json": {"schema": _ref(schema)}}
            operation["responses"][str(status)] = response
        if meta.role is not None:
            operation["security"] = [{"bearer": []}]
            operation["description"] = f"Needs a key with the {meta.role} role or higher."
        for status in _answered_by_every_handler(meta, route.resource.canonical):
            operation["responses"].setdefault(str(status), _error_response(status))
        paths.setdefault(route.resource.canonical, {})[route.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": _TITLE, "version": _VERSION},
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": {name: _component(name, schemas.load(name)) for name in schemas.names()},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


@routes.get("/openapi.json")
@endpoint("This document", role=None, responses={200: None}, tag="system")
async def openapi_document(request: web.Request) -> web.Response:
    return json_response(build_document(request.app))

