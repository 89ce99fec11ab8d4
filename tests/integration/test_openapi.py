"""The OpenAPI document covers every route and references the validation schemas."""

from __future__ import annotations

import re

from aiohttp import web
from jsonschema import Draft202012Validator

from plugin import schemas
from plugin.http.endpoint import endpoint_of
from plugin.http.openapi import build_document
from plugin.web.app import PAGE_TABLES
from plugin.web.guard import STATIC_PREFIX
from tests.conftest import Api


def _is_page(route: web.AbstractRoute) -> bool:
    """A route of the web tab (plugin/web): pages, not the JSON API."""
    return route.resource is not None and (
        route.resource.canonical.startswith(STATIC_PREFIX.rstrip("/"))
        or any(route.handler is page.handler for table in PAGE_TABLES for page in table
               if isinstance(page, web.RouteDef)))


def _routes(app: web.Application) -> set[tuple[str, str]]:
    return {
        (route.method.lower(), route.resource.canonical)
        for route in app.router.routes()
        if route.method != "HEAD" and route.resource is not None and not _is_page(route)
    }


async def test_every_route_is_documented(
    api: Api, app_server: tuple[web.Application, str]
) -> None:
    app = app_server[0]
    status, document = await api.get("/openapi.json")
    assert status == 200 and document["openapi"].startswith("3.1")
    documented = {(m, p) for p, ops in document["paths"].items() for m in ops}
    assert _routes(app) - documented == set(), "routes missing from /openapi.json"
    undeclared = [r.resource.canonical for r in app.router.routes()
                  if r.method != "HEAD" and endpoint_of(r.handler) is None
                  and not _is_page(r)]
    assert undeclared == []


def test_a_route_without_its_declaration_is_caught() -> None:
    app = web.Application()

    async def handler(request: web.Request) -> web.Response:
        return web.Response()

    app.router.add_get("/v1/undeclared", handler)
    assert ("get", "/v1/undeclared") not in {
        (m, p) for p, ops in build_document(app)["paths"].items() for m in ops}


async def test_bodies_reference_the_validation_schemas(api: Api) -> None:
    _, document = await api.get("/openapi.json")
    components = document["components"]["schemas"]
    assert set(components) == set(schemas.names())
    refs = set(re.findall(r'"#/components/schemas/([^"/]+)', str(document).replace("'", '"')))
    assert refs and refs <= set(components)
    ingest = document["paths"]["/v1/bots/{bot_id}/events"]["post"]
    assert ingest["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/events.ingest"}
    events = components["events.ingest"]["properties"]["events"]
    assert events["items"] == {"$ref": "#/components/schemas/events.ingest/$defs/event"}


async def test_every_reference_resolves_inside_the_document(api: Api) -> None:
    """Tools (schemathesis, code generators) resolve $ref as JSON pointers
    into the document; a reference they cannot follow hides a body from them."""
    _, document = await api.get("/openapi.json")
    found: list[str] = []

    def collect(node: object) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                found.append(node["$ref"])
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for item in node:
                collect(item)

    collect(document)
    assert len(found) > 50
    for ref in found:
        assert ref.startswith("#/"), ref
        target: object = document
        for part in ref[2:].split("/"):
            assert isinstance(target, dict) and part in target, f"{ref}: no {part!r}"
            target = target[part]
        assert isinstance(target, dict)
    assert not any("$id" in schema for schema in document["components"]["schemas"].values())


def test_every_schema_is_valid_json_schema() -> None:
    for name in schemas.names():
        Draft202012Validator.check_schema(schemas.load(name))
