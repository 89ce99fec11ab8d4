"""The OpenAPI document covers every route and references the validation schemas."""

from __future__ import annotations

import re

from aiohttp import web
from jsonschema import Draft202012Validator

from plugin import schemas
from plugin.http.endpoint import endpoint_of
from plugin.http.openapi import build_document
from tests.conftest import Api


def _routes(app: web.Application) -> set[tuple[str, str]]:
    return {
        (route.method.lower(), route.resource.canonical)
        for route in app.router.routes()
        if route.method != "HEAD" and route.resource is not None
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
                  if r.method != "HEAD" and endpoint_of(r.handler) is None]
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
    refs = set(re.findall(r'"#/components/schemas/([^"]+)"', str(document).replace("'", '"')))
    assert refs and refs <= set(components)
    ingest = document["paths"]["/v1/bots/{bot_id}/events"]["post"]
    assert ingest["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/events.ingest"}
    assert components["events.ingest"] == schemas.load("events.ingest")


def test_every_schema_is_valid_json_schema() -> None:
    for name in schemas.names():
        Draft202012Validator.check_schema(schemas.load(name))
