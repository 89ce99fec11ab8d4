"""A job as a row of the jobs page: what it does, who started it, for whom,
how far it is, what went wrong. Pure: no I/O (segment names are handed in).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from plugin.audience.filters import SEGMENT_PROPERTY
from plugin.jobs.model import ACTIVE, Job, JobKind, Starter
from plugin.web.formatting import shown_value
from plugin.web.views import TEST_PROPERTY

__all__ = ["JobRow", "job_row", "MAX_REASONS_SHOWN"]

MAX_REASONS_SHOWN = 5
_KINDS = {JobKind.BROADCAST: "Broadcast", JobKind.WORKFLOW: "Workflow",
          JobKind.BULK_UPDATE: "Property update", JobKind.EXPORT: "Export",
          JobKind.IMPORT: "Import"}
_SNIPPET = 80
_NO_TEST_USERS = [{"property": TEST_PROPERTY, "operator": "is_false"},
                  {"property": TEST_PROPERTY, "operator": "is_not_set"}]


@dataclass(frozen=True, slots=True)
class JobRow:
    id: str
    kind: str  # as people say it: "Broadcast"
    what: str  # the message, the module, the change…
    started_by: str
    audience: str
    status: str
    active: bool  # queued or running: it can be cancelled
    per_user: bool  # counts users done (sent), skipped and failed; else rows (export, import)
    handled: int  # users (or rows) done so far, whatever the outcome
    total: int
    done: int
    skipped: int
    failed: int
    errors: list[str]
    more_errors: int  # failures recorded beyond those shown
    created_at: datetime


def job_row(job: Job, segment_names: Mapping[str, str]) -> JobRow:
    kind = JobKind(job["kind"])
    chunked = "rows_written" not in job
    handled = (job["done"] + job["skipped"] + job["failed"] if chunked
               else int(job.get("rows_written", 0)))
    failures = list(job.get("failures", []))
    errors = [f"{f['user_id']}: {f.get('reason') or 'failed'}"
              for f in failures[:MAX_REASONS_SHOWN]]
    if job.get("error"):
        errors.insert(0, str(job.get("error")))
    return JobRow(
        id=job["_id"], kind=_KINDS.get(kind, kind.value), what=_what(kind, job["spec"]),
        started_by=_starter(job.get("started_by")),
        audience=_audience(job["audience"], segment_names), status=job["status"],
        active=job["status"] in ACTIVE, per_user=chunked, handled=handled, total=job["total"],
        done=job["done"], skipped=job["skipped"], failed=job["failed"], errors=errors,
        more_errors=max(0, job["failed"] - len(failures[:MAX_REASONS_SHOWN])),
        created_at=job["created_at"])


def _snippet(text: str) -> str:
    return text if len(text) <= _SNIPPET else text[:_SNIPPET - 1] + "…"


def _what(kind: JobKind, spec: Mapping[str, Any]) -> str:
    if kind is JobKind.BROADCAST:
        return f"“{_snippet(str(spec.get('message', {}).get('text', '')))}”"
    if kind is JobKind.WORKFLOW:
        return f"Module {spec.get('module')}"
    if kind is JobKind.BULK_UPDATE:
        changes = [f"{name} = {shown_value(value)}" for name, value in spec.get("set", {}).items()]
        changes += [f"clear {name}" for name in spec.get("unset", [])]
        return _snippet(", ".join(changes))
    if kind is JobKind.EXPORT:
        return str(spec.get("format", "")).upper()
    return str(spec.get("filename", ""))


def _starter(started_by: Starter | None) -> str:
    if not started_by:
        return "—"
    who = started_by.get("label") or f"key {started_by.get('key_id', '')}"
    return f"{who} ({started_by.get('role', '')})"


def _audience(spec: Mapping[str, Any], segment_names: Mapping[str, str]) -> str:
    if "segment" in spec:
        return _segment(spec["segment"], segment_names)
    if "filter" not in spec:
        return "—"
    conditions = list(spec["filter"].get("conditions", []))
    expression = spec["filter"].get("expression")
    left_out = ""
    if conditions[-2:] == _NO_TEST_USERS:  # as plugin.web.views.without_test_users adds it
        conditions, left_out = conditions[:-2], ", test users left out"
        inner = re.fullmatch(r"\((.*)\) and \(\d+ or \d+\)", expression or "")
        expression = inner.group(1) if inner else None
    return _conditions(conditions, expression, segment_names) + left_out


def _conditions(conditions: list[Mapping[str, Any]], expression: str | None,
                segment_names: Mapping[str, str]) -> str:
    if not conditions:
        return "Everyone"
    first = conditions[0]
    if len(conditions) == 1 and first.get("operator") == "in":
        if first.get("property") == "user_id":
            count = len(first.get("value") or [])
            return f"{count} selected {'user' if count == 1 else 'users'}"
        if first.get("property") == SEGMENT_PROPERTY:
            return _segment(str(first.get("value")), segment_names)
    described = [_condition(c, segment_names) for c in conditions]
    if len(described) == 1:
        return _snippet(described[0])
    expression = expression or " and ".join(str(n) for n in range(1, len(described) + 1))
    numbered = "; ".join(f"{n}. {d}" for n, d in enumerate(described, 1))
    return _snippet(f"{numbered} — {expression}")


def _segment(segment_id: str, segment_names: Mapping[str, str]) -> str:
    return f"Segment “{segment_names.get(segment_id, 'removed')}”"


def _condition(condition: Mapping[str, Any], segment_names: Mapping[str, str]) -> str:
    if condition.get("property") == SEGMENT_PROPERTY:
        return f"in segment “{segment_names.get(str(condition.get('value')), 'removed')}”"
    words = f"{condition.get('property')} {str(condition.get('operator', '')).replace('_', ' ')}"
    value = condition.get("value")
    return words if value is None else f"{words} {value}"
