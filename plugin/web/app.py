"""Adding the web tab to the aiohttp app: templates, static files, pages.

Templates are Jinja2 with autoescape on for every template, so whatever a
user typed is shown as text. Static files are served from ``static/``; htmx
is vendored there (``static/vendor/README.md``), there is no build step.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from plugin.web.formatting import FILTERS
from plugin.web.guard import STATIC_PREFIX, page_middleware
from plugin.web.routes import audience as routes_audience
from plugin.web.routes import bulk as routes_bulk
from plugin.web.routes import exports as routes_exports
from plugin.web.routes import imports as routes_imports
from plugin.web.routes import integrations as routes_integrations
from plugin.web.routes import jobs as routes_jobs
from plugin.web.routes import profile as routes_profile
from plugin.web.routes import properties as routes_properties
from plugin.web.routes import segments as routes_segments
from plugin.web.routes import signin as routes_signin
from plugin.web.routes import takeover as routes_takeover
from plugin.web.routes import testbot as routes_testbot
from plugin.web.suite_runs import SUITE_RUNS, SuiteRuns, stop_suite_runs

__all__ = ["install_web", "PAGE_TABLES"]

_HERE = Path(__file__).resolve().parent
PAGE_TABLES = (routes_signin.routes, routes_audience.routes, routes_segments.routes,
               routes_profile.routes, routes_takeover.routes, routes_exports.routes,
               routes_imports.routes, routes_bulk.routes, routes_jobs.routes,
               routes_integrations.routes, routes_properties.routes, routes_testbot.routes)


def install_web(app: web.Application) -> None:
    """Add the web tab's pages to ``app`` (before it starts)."""
    environment = aiohttp_jinja2.setup(
        app, loader=jinja2.FileSystemLoader(_HERE / "templates"),
        autoescape=True, undefined=jinja2.StrictUndefined,
        default_helpers=False)
    environment.filters.update(FILTERS)
    app.middlewares.append(page_middleware)
    app[routes_profile.LIVE_STOP] = asyncio.Event()
    # Live streams end as the server stops, rather than holding its shutdown.
    app.on_shutdown.append(routes_profile.stop_live_streams)
    # The test-bot page's suites run in the background; they stop with the server.
    app[SUITE_RUNS] = SuiteRuns()
    app.on_shutdown.append(stop_suite_runs)
    app.router.add_static(STATIC_PREFIX, _HERE / "static", name="static")
    for table in PAGE_TABLES:
        app.add_routes(table)
