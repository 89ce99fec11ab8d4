"""Bulk actions on a segment or an inline filter — broadcast, run a workflow,
update properties — each checked in full and then queued as a job over the
whole audience (see :mod:`plugin.jobs.worker`).

Every check happens here, before the job exists: a bad request changes
nothing. A service over :class:`~plugin.db.store.Store`; it knows no HTTP.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from plugin.audience import query as audience
from plugin.audience import segments
from plugin.audience.filters import SEGMENT_PROPERTY
from plugin.core import constants as c
from plugin.core.errors import InvalidRequest, NotFound
from plugin.core.properties import SYSTEM_PROPERTIES, InvalidValue, validate_value
from plugin.db.store import Store
from plugin.handover.channels import ConnectorRegistry
from plugin.jobs.worker import JobKind, create_job

__all__ = ["broadcast", "run_workflow", "bulk_update", "find_segment_by_name",
           "resolve_audience", "audience_filter"]


async def broadcast(store: Store, bot_id: str, body: Mapping[str, Any], *,
                    claimed_by: str | None = None,
                    chunk_users: int | None = None) -> dict[str, Any]:
    """Queue a broadcast of ``body["message"]`` to the audience; the job document.

    With a rate limit, a chunk holds about one second of sending, so progress
    and cancellation are seen about once a second.
    """
    rate = body.get("rate_per_second")
    chunk = chunk_users or (max(1, min(c.JOB_CHUNK_USERS, int(rate))) if rate
                            else c.JOB_CHUNK_USERS)
    spec = {"message": dict(body["message"]), "rate_per_second": rate,
            "include_human_held": bool(body.get("include_human_held", False))}
    audience_spec, query = await _audience(store, bot_id, body["audience"])
    return await create_job(store, bot_id, JobKind.BROADCAST, spec, audience_spec, query,
                            chunk_users=chunk, claimed_by=claimed_by)


async def run_workflow(store: Store, connectors: ConnectorRegistry, bot_id: str,
                       body: Mapping[str, Any]) -> dict[str, Any]:
    """Queue a job starting ``body["module"]`` for each user of the audience.

    Raises:
        NotFound: no connector here runs a bot ``bot_id`` with that module.
    """
    module = body["module"]
    if not any(connector.has_module(bot_id, module) for connector in connectors.all()):
        raise NotFound(f"bot {bot_id!r} has no module {module!r} on this server",
                       field="module", module=module)
    audience_spec, query = await _audience(store, bot_id, body["audience"])
    return await create_job(store, bot_id, JobKind.WORKFLOW, {"module": module},
                            audience_spec, query)


async def bulk_update(store: Store, bot_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """Queue a job setting and unsetting custom properties on the audience.

    Raises:
        InvalidRequest: a system or unknown property, or a value of the wrong
            type; ``details["errors"]`` lists each with its path.
    """
    props = await store.custom_properties(bot_id)
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
    audience_spec, query = await _audience(store, bot_id, body["audience"])
    return await create_job(store, bot_id, JobKind.BULK_UPDATE,
                            {"set": checked, "unset": unset}, audience_spec, query)


async def find_segment_by_name(store: Store, bot_id: str, name: str) -> dict[str, Any]:
    key = name.strip().casefold()
    for doc in await store.list_segments(bot_id):
        if doc["name_key"] == key or doc["_id"] == name:
            return doc
    raise NotFound(f"bot {bot_id!r} has no segment named {name!r}", segment=name)


def audience_filter(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The filter of an audience as a job stores it (a segment or a filter)."""
    if "segment" in spec:
        return segments.membership_filter(spec["segment"])
    return dict(spec["filter"])


async def _audience(store: Store, bot_id: str,
                    spec: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The audience as stored on the job, and its compiled query."""
    if "segment" in spec:
        segment_id = spec["segment"]
        if await store.get_segment(bot_id, segment_id) is None:
            raise NotFound(f"no segment {segment_id!r}", segment=segment_id)
        filter_ = segments.membership_filter(segment_id)
        shown: dict[str, Any] = {"segment": segment_id}
    else:
        filter_ = dict(spec["filter"])
        shown = {"filter": filter_}
    return shown, await audience.compile_audience_filter(store, bot_id, filter_)


resolve_audience = _audience
