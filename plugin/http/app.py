"""The aiohttp application: shared state, resources in order, routes.

Nothing else happens here. Resources are opened in cleanup contexts (they
close in reverse); a store handed in (tests, a host runtime) is used as is
and left open.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from aiohttp import web

from plugin.capture.group_commit import GroupCommit
from plugin.core.settings import Settings
from plugin.crm.delivery import DeliveryWorker
from plugin.db.database import Database
from plugin.extensions import Extension
from plugin.handover.channels import ConnectorRegistry
from plugin.http.appkeys import (
    CONNECTORS,
    DATABASE,
    DELIVERY_WORKER,
    GROUP_COMMIT,
    JOB_WORKER,
    SETTINGS,
)
from plugin.http.auth import auth_middleware
from plugin.http.errors import error_middleware
from plugin.http.openapi import routes as openapi_routes
from plugin.http.routes import audience as routes_audience
from plugin.http.routes import bots as routes_bots
from plugin.http.routes import events as routes_events
from plugin.http.routes import export as routes_export
from plugin.http.routes import handover as routes_handover
from plugin.http.routes import health as routes_health
from plugin.http.routes import imports as routes_import
from plugin.http.routes import jobs as routes_jobs
from plugin.http.routes import keys as routes_keys
from plugin.http.routes import profiles as routes_profiles
from plugin.http.routes import segments as routes_segments
from plugin.http.routes import webhooks as routes_webhooks
from plugin.jobs.model import JobKind
from plugin.jobs.worker import JobWorker
from plugin.transfer.export import ExportRunner
from plugin.transfer.imports import ImportRunner

__all__ = ["create_app"]

ROUTE_TABLES = (
    routes_health.routes,
    openapi_routes,
    routes_events.routes,
    routes_bots.routes,
    routes_profiles.routes,
    routes_audience.routes,
    routes_handover.routes,
    routes_segments.routes,
    routes_jobs.routes,
    routes_export.routes,
    routes_import.routes,
    routes_webhooks.routes,
    routes_keys.routes,
)


def create_app(
    settings: Settings, db: Database | None = None, extensions: Sequence[Extension] = ()
) -> web.Application:
    app = web.Application(
        middlewares=[error_middleware, auth_middleware],
        client_max_size=settings.max_body_bytes,
    )
    app[SETTINGS] = settings
    app[CONNECTORS] = ConnectorRegistry()

    async def store_ctx(app: web.Application) -> AsyncIterator[None]:
        opened = db is None
        app[DATABASE] = await Database.open(settings) if db is None else db
        app[GROUP_COMMIT] = GroupCommit(app[DATABASE])
        yield
        await app[GROUP_COMMIT].close()
        if opened:
            await app[DATABASE].close()

    app.cleanup_ctx.append(store_ctx)
    for table in ROUTE_TABLES:
        app.add_routes(table)
    for extension in extensions:
        extension.install(app)

    async def delivery_worker_ctx(app: web.Application) -> AsyncIterator[None]:
        app[DELIVERY_WORKER] = await DeliveryWorker(app[DATABASE], settings).start()
        yield
        await app[DELIVERY_WORKER].close()

    app.cleanup_ctx.append(delivery_worker_ctx)

    async def job_worker_ctx(app: web.Application) -> AsyncIterator[None]:
        # Last, so it stops first: a job never outlives the connectors it uses.
        exports = ExportRunner(settings, routes_export.mailed_links(settings))
        app[JOB_WORKER] = await JobWorker(
            app[DATABASE], app[CONNECTORS], lease_s=settings.job_lease_s,
            runners={JobKind.EXPORT: exports, JobKind.IMPORT: ImportRunner()},
            housekeeping=[exports.remove_expired_files]).start()
        yield
        await app[JOB_WORKER].close()

    app.cleanup_ctx.append(job_worker_ctx)
    return app
