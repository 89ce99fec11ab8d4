"""Bulk actions on a segment or an inline filter — broadcast, run a workflow,
update properties — each checked in full and then queued as a job over the
whole audience (see :mod:`plugin.jobs.worker`), recording who started it
(``started_by``: see :class:`~plugin.jobs.model.Starter`).

Every check happens here, before the job exists: a bad request changes
nothing. The audience (a segment or a filter) is resolved by
:mod:`plugin.audience.spec`. A service; it knows no HTTP.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from plugin.audience.filters import SEGMENT_PROPERTY
from plugin.audience.property_store import PropertyStore
from plugin.audience.spec import resolve_audience
from plugin.core import constants as c
from plugin.core.errors import InvalidRequest, NotFound
from plugin.core.properties import SYSTEM_PROPERTIES, InvalidValue, validate_value
from plugin.db.database import Database
from plugin.handover.channels import ConnectorRegistry
from plugin.jobs.lifecycle import create_job
from plugin.jobs.model import Job, JobKind

__all__ = ["broadcast", "run_workflow", "bulk_update", "workflow_modules"]


async def broadcast(db: Database, bot_id: str, body: Mapping[str, Any], *,
                    claimed_by: str | None = None,
                    chunk_users: int | None = None,
                    started_by: Mapping[str, str] | None = None) -> Job:
    """Queue a broadcast of ``body["message"]`` to the audience; the job document.

    With a rate limit, a chunk holds about one second of sending, so progress
    and cancellation are seen about once a second.
    """
    rate = body.get("rate_per_second")
    chunk = chunk_users or (max(1, min(c.JOB_CHUNK_USERS, int(rate))) if rate
                            else c.JOB_CHUNK_USERS)
    spec = {"message": dict(body["message"]), "rate_per_second": rate,
            "include_human_held": bool(body.get("include_human_held", False))}
    audience_spec, query = await resolve_audience(db, bot_id, body["audience"])
    return await create_job(db, bot_id, JobKind.BROADCAST, spec, audience_spec, query,
                            chunk_users=chunk, claimed_by=claimed_by, started_by=started_by)


def workflow_modules(connectors: ConnectorRegistry, bot_id: str) -> list[str]:
    """The modules a workflow may start: those of ``bot_id`` as this server's
    connectors run it, sorted."""
    return sorted({m for connector in connectors.all() for m in connector.modules(bot_id)})


async def run_workflow(db: Database, connectors: ConnectorRegistry, bot_id: str,
                       body: Mapping[str, Any], *,
                       started_by: Mapping[str, str] | None = None) -> Job:
    """Queue a job starting ``body["module"]`` for each user of the audience.

    Raises:
        NotFound: no connector here runs a bot ``bot_id`` with that module.
    """
    module = body["module"]
    if not any(connector.has_module(bot_id, module) for connector in connectors.all()):
        raise NotFound(f"bot {bot_id!r} has no module {module!r} on this server",
                       field="module", module=module)
    audience_spec, query = await resolve_audience(db, bot_id, body["audience"])
    return await create_job(db, bot_id, JobKind.WORKFLOW, {"module": module},
                            audience_spec, query, started_by=started_by)


async def bulk_update(db: Database, bot_id: str, body: Mapping[str, Any], *,
                      started_by: Mapping[str, str] | None = None) -> Job:
    """Queue a job setting and unsetting custom properties on the audience.

    Raises:
        InvalidRequest: a system or unknown property, or a value of the wrong
            type; ``details["errors"]`` lists each with its path.
    """
    props = await PropertyStore.of(db).custom_properties(bot_id)
    errors: list[dict[str, str]] = []
    checked: dict[str, Any] = {}
    unset = list(dict.fromkeys(body.get("unset", [])))
    for path, name in [(f"set/{n}", n) for n in body["set"]] + [(f"unset/{i}", n)
                                                                for i, n in enumerate(unset)]:
        if name in SYSTEM_PROPERTIES or name == SEGMENT_PROPERTY:
            errors.append({"path": path, "message": f"{name!r} is a system property: it "
                                                    "cannot be changed in bulk"})
        elif name not in props:
            errors.append({"path": path, "message": f"unknown property {name!r}: define it "
                                                    "first"})
        elif path.startswith("set/"):
            try:
                checked[name] = validate_value(props[name], body["set"][name])
            except InvalidValue as exc:
                errors.append({"path": path, "message": exc.reason})
    errors += [{"path": "unset", "message": f"{n!r} is both set and unset"}
               for n in unset if n in body["set"]]
    if not checked and not unset:
        errors.append({"path": "(body)", "message": "nothing to set or unset"})
    if errors:
        listed = "; ".join(f"{e['path']}: {e['message']}" for e in errors[:5])
        raise InvalidRequest(f"the update is invalid, nothing was changed: {listed}",
                             errors=errors)
    audience_spec, query = await resolve_audience(db, bot_id, body["audience"])
    return await create_job(db, bot_id, JobKind.BULK_UPDATE,
                            {"set": checked, "unset": unset}, audience_spec, query,
                            started_by=started_by)
