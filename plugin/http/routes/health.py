"""Liveness and database reachability."""

from __future__ import annotations

from aiohttp import web

from plugin.core.errors import DatabaseUnavailable
from plugin.http.appkeys import DATABASE
from plugin.http.endpoint import endpoint
from plugin.http.jsonio import json_response

routes = web.RouteTableDef()


@routes.get("/health")
@endpoint("Is the server up and the database reachable?", role=None,
          responses={200: "health", 503: "health"}, tag="system")
async def health(request: web.Request) -> web.Response:
    try:
        await request.app[DATABASE].ping()
    except DatabaseUnavailable as exc:
        return json_response({"status": "unavailable", "db": "error", "reason": exc.message},
                             status=503)
    return json_response({"status": "ok", "db": "ok"})
