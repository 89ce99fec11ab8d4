"""TODO(issue 15): filled in by the integrations page."""

from __future__ import annotations

from aiohttp import web

routes = web.RouteTableDef()
