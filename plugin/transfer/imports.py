"""Imports: a CSV or XLSX file of users mapped onto profile properties.

Files up to ``IMPORT_MAX_BYTES`` (10 MiB). The API checks the file and the
mapping in the request (``read_import``), then queues a job (``queue_import``,
run by ``ImportRunner``; the file waits in GridFS until it is done); the CLI
runs the same steps in its own process (``run_import``):

1. :func:`~plugin.transfer.reading.read_upload` reads the whole file, in a
   process of its own and within bounds (rows, columns, cell length, a
   workbook's unpacked size), or refuses it with
   :class:`~plugin.transfer.tables.UnreadableFile` — nothing is written then.
2. Without a mapping, :func:`~plugin.transfer.mapping.propose_mapping`
   matches the header with property names and labels and nothing changes.
3. With one, ``plan_import`` validates *every* row against the property types
   before anything is written; rejected rows are reported (row number,
   column, the value refused, reason) and skipped, the others compared with
   the stored profiles.
   A cell reads back what an export wrote: a neutralised formula loses its
   ``'`` (:func:`~plugin.transfer.cells.restore`), a list property's text is
   split at ``;``. A row whose e-mail or phone several users share is
   *ambiguous*: reported with their ids, and none of them changes — unless
   the import asks to update every match.
4. ``apply_plan`` writes the changes as ``property_set`` events through
   :meth:`CaptureStore.ingest` (so each change is on the user's timeline) with
   event ids fixed by the file's content: re-running the same file finds every
   row unchanged and writes nothing; a retried write is a duplicate.

A service over the profile, capture, job and transfer repositories; it knows
no HTTP.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from plugin.audience.profile_store import ProfileStore
from plugin.audience.property_store import PropertyStore
from plugin.capture.store import CaptureStore
from plugin.core import constants as c
from plugin.core import events as ev
from plugin.core.errors import InvalidRequest, NotFound
from plugin.core.events import utc_now
from plugin.core.properties import (
    SYSTEM_PROPERTIES,
    InvalidValue,
    PropertyDef,
    PropertyType,
    validate_value,
)
from plugin.db.database import Database
from plugin.jobs.lifecycle import JobRun, queue_job
from plugin.jobs.model import Job, JobKind, new_job
from plugin.transfer.cells import neutralise, restore
from plugin.transfer.mapping import IGNORE, check_mapping, propose_mapping
from plugin.transfer.reading import read_upload
from plugin.transfer.store import TransferStore
from plugin.transfer.tables import Table

__all__ = ["KEYS", "ImportPlan", "plan_import", "apply_plan", "read_import", "execute_import",
           "run_import", "queue_import", "ImportRunner", "rejections_csv"]

log = logging.getLogger(__name__)

KEYS = ("user_id", "email", "phone")
IMPORT_SOURCE = "import"
# Rows validated between two turns of the event loop: a big file's plan
# does not hold up other requests.
_ROWS_PER_TURN = 1000
# User ids an ambiguous row's rejection names (its reason gives the count).
_AMBIGUOUS_IDS_KEPT = 20
# Characters of a refused cell its rejection quotes (a cell may hold 32,767).
_CELL_CHARS_KEPT = 200


@dataclass(slots=True)
class ImportPlan:
    key: str
    created: dict[str, dict[str, Any]] = field(default_factory=dict)  # user -> values
    updated: dict[str, dict[str, Any]] = field(default_factory=dict)  # user -> changed values
    unchanged: int = 0
    ambiguous: int = 0  # rows whose key several users share (among the rejections)
    rejections: list[dict[str, Any]] = field(default_factory=list)


# -- planning and writing -----------------------------------------------------------

def _cell(value: Any, prop: PropertyDef) -> Any:
    """A cell as the value to validate for ``prop``: text trimmed, with an
    export's neutralisation undone, split into items for a list; times as
    ISO 8601 text; None for an empty cell."""
    if isinstance(value, str):
        text = restore(value.strip())
        if not text.strip():
            return None
        if prop.type is PropertyType.LIST:
            return [item.strip() for item in text.split(";") if item.strip()]
        return text
    if isinstance(value, datetime | date | time):
        value = value.isoformat()
    return [value] if prop.type is PropertyType.LIST else value


async def plan_import(db: Database, bot_id: str, table: Table, mapping: Mapping[str, str],
                      key: str, *, update_all_matches: bool = False) -> ImportPlan:
    """Validate every row, then compare the valid ones with the stored profiles.

    A row whose key (an e-mail or a phone) several users share updates them
    all with ``update_all_matches``; without it, it is rejected as ambiguous.
    """
    properties = await PropertyStore.of(db).custom_properties(bot_id)
    check_mapping(mapping, table.columns, key, properties)
    index = {col: n for n, col in enumerate(table.columns)}
    key_column = next(col for col, target in mapping.items() if target == key)
    plan = ImportPlan(key)
    valid: dict[Any, tuple[int, dict[str, Any]]] = {}  # key value -> (row, values)
    numbers = table.numbers or range(2, len(table.rows) + 2)  # row 1 is the header
    for count, (number, row) in enumerate(zip(numbers, table.rows, strict=True)):
        if count and not count % _ROWS_PER_TURN:
            await asyncio.sleep(0)
        values: dict[str, Any] = {}
        problems: list[tuple[str | None, Any, str]] = []  # (column, cell, reason)
        for col, target in mapping.items():
            if target == IGNORE:
                continue
            prop = SYSTEM_PROPERTIES[target] if target == "user_id" else properties[target]
            raw = _cell(row[index[col]], prop)
            if raw is None:
                if target == key:
                    problems.append((col, None, f"the key {key!r} is empty"))
                continue
            try:
                values[target] = validate_value(prop, raw if target != "user_id" else str(raw))
            except InvalidValue as exc:
                problems.append((col, row[index[col]], exc.reason))
        if not problems and values[key] in valid:
            problems.append((None, values[key], f"the same {key} as row {valid[values[key]][0]}"))
        if problems:
            plan.rejections += [{"row": number, "column": col, "value": _shown_cell(cell),
                                 "reason": reason} for col, cell, reason in problems]
            continue
        valid[values[key]] = (number, values)
    existing = await _existing(db, bot_id, key, list(valid))
    for key_value, (number, values) in valid.items():
        found = existing.get(key_value, [])
        attributes = {k: v for k, v in values.items() if k != "user_id"}
        if not found:
            user_id = values.get("user_id") or _new_user_id(bot_id, key, key_value)
            plan.created[user_id] = attributes
        elif len(found) > 1 and not update_all_matches:
            plan.ambiguous += 1
            plan.rejections.append(_ambiguous(number, key_column, key, key_value, found))
        else:
            for doc in found:
                stored = doc.get("attributes") or {}
                changed = {k: v for k, v in attributes.items() if stored.get(k) != v}
                if changed:
                    plan.updated[doc["user_id"]] = changed
                else:
                    plan.unchanged += 1
    plan.rejections.sort(key=lambda r: int(r["row"]))
    del plan.rejections[c.IMPORT_MAX_REJECTIONS_KEPT:]
    return plan


def _shown_cell(value: Any) -> str | None:
    """A refused cell as its rejection quotes it: text, cut to ``_CELL_CHARS_KEPT``."""
    if value is None:
        return None
    text = value.isoformat() if isinstance(value, datetime | date | time) else str(value)
    return text if len(text) <= _CELL_CHARS_KEPT else text[:_CELL_CHARS_KEPT - 1] + "…"


def _ambiguous(row: int, column: str, key: str, value: Any,
               found: list[dict[str, Any]]) -> dict[str, Any]:
    """The rejection of a row whose key several users share."""
    ids = sorted(str(doc["user_id"]) for doc in found)
    shown = ", ".join(ids[:_AMBIGUOUS_IDS_KEPT]) + (" …" if len(ids) > _AMBIGUOUS_IDS_KEPT
                                                  else "")
    return {"row": row, "column": column, "value": _shown_cell(value),
            "user_ids": ids[:_AMBIGUOUS_IDS_KEPT],
            "reason": f"{len(ids)} users have this {key}: {shown}; none of them was changed "
                      "(ask to update all matches to change them all)"}


def _new_user_id(bot_id: str, key: str, value: Any) -> str:
    """A user found by e-mail or phone gets an id fixed by it: a re-run finds it again."""
    return "import-" + hashlib.sha256(f"{bot_id}:{key}:{value}".encode()).hexdigest()[:20]


async def _existing(db: Database, bot_id: str, key: str,
                    values: list[Any]) -> dict[Any, list[dict[str, Any]]]:
    """Every profile of the bot whose ``key`` is one of ``values``, by value
    (several for an e-mail or a phone that users share)."""
    found: dict[Any, list[dict[str, Any]]] = {}
    field_ = "user_id" if key == "user_id" else f"attributes.{key}"
    for start in range(0, len(values), 1000):
        chunk = values[start:start + 1000]
        # No limit (0): every user sharing a value must be seen to tell it is shared.
        async for doc in ProfileStore.of(db).iter_profiles(
                {"bot_id": bot_id, field_: {"$in": chunk}}, 0):
            value = doc["user_id"] if key == "user_id" else doc.get("attributes", {}).get(key)
            found.setdefault(value, []).append(doc)
    return found


# Rows (users) written so far → whether to go on (False: the job was cancelled or taken over).
Progress = Callable[[int], Awaitable[bool]]


async def apply_plan(db: Database, bot_id: str, plan: ImportPlan, digest: str,
                     progress: Progress | None = None) -> bool:
    """Write the plan's changes; False if ``progress`` asked to stop (what is
    written stays: a re-run finds those rows unchanged)."""
    batch: list[ev.Event] = []
    users = 0
    for user_id, values in [*plan.created.items(), *plan.updated.items()]:
        for name, value in values.items():
            batch.append(ev.property_set(bot_id, user_id, name, value, source=IMPORT_SOURCE,
                                         event_id=f"import-{digest[:16]}-{name}"))
        users += 1
        if len(batch) >= c.IMPORT_EVENTS_PER_BATCH:
            await CaptureStore.of(db).ingest(batch)
            batch = []
            if progress is not None and not await progress(users):
                return False
    if batch:
        await CaptureStore.of(db).ingest(batch)
    return progress is None or await progress(users)


async def read_import(db: Database, bot_id: str, data: bytes, filename: str,
                      mapping: Mapping[str, str] | None, key: str,
                      update_all_matches: bool = False) -> tuple[Table, dict[str, Any]]:
    """Everything that can be checked before any row is: the key, the file, the
    mapping. The table, and the report's head (with a proposed mapping when
    none is given).

    Raises:
        UnreadableFile: the file cannot be read. InvalidRequest: a bad key or mapping.
    """
    if key not in KEYS:
        raise InvalidRequest(f"'key' is one of {', '.join(KEYS)}", field="key")
    table = await read_upload(data, filename)
    report: dict[str, Any] = {
        "id": None, "format": table.format, "encoding": table.encoding,
        "delimiter": table.delimiter, "columns": table.columns, "rows": len(table.rows),
        "key": key, "update_all_matches": update_all_matches}
    properties = await PropertyStore.of(db).custom_properties(bot_id)
    if mapping is None:
        report["proposed_mapping"] = propose_mapping(table.columns, properties)
    else:
        check_mapping(mapping, table.columns, key, properties)
        report["mapping"] = dict(mapping)
    return table, report


async def execute_import(db: Database, bot_id: str, table: Table, head: Mapping[str, Any],
                         dry_run: bool, import_id: str,
                         progress: Progress | None = None) -> dict[str, Any] | None:
    """Validate every row, write the valid ones (unless a dry run), and store
    the report under ``import_id``; the report, or None if stopped."""
    plan = await plan_import(db, bot_id, table, head["mapping"], head["key"],
                             update_all_matches=head.get("update_all_matches", False))
    report = {**head, "id": import_id, "dry_run": dry_run, "created": len(plan.created),
              "updated": len(plan.updated), "unchanged": plan.unchanged,
              "rejected": len({r["row"] for r in plan.rejections}),
              "ambiguous": plan.ambiguous, "rejections": plan.rejections}
    if not dry_run and not await apply_plan(db, bot_id, plan, table.digest, progress):
        return None
    await TransferStore.of(db).save_import({"_id": import_id, "bot_id": bot_id, "at": utc_now(),
                             "digest": table.digest, **report})
    return report


async def run_import(db: Database, bot_id: str, data: bytes, filename: str,
                     mapping: Mapping[str, str] | None, key: str, dry_run: bool,
                     progress: Progress | None = None, *,
                     update_all_matches: bool = False) -> dict[str, Any]:
    """The whole import in this process (the CLI): a proposed mapping, or the report."""
    table, head = await read_import(db, bot_id, data, filename, mapping, key,
                                    update_all_matches)
    if mapping is None:
        return head
    report = await execute_import(db, bot_id, table, head, dry_run, uuid.uuid4().hex,
                                  progress)
    assert report is not None, "nothing stops an import run in this process"
    return report


async def queue_import(db: Database, bot_id: str, data: bytes, filename: str,
                       mapping: Mapping[str, str], key: str, dry_run: bool, *,
                       update_all_matches: bool = False,
                       started_by: Mapping[str, str] | None = None) -> Job:
    """The API's import: checked at once, then queued as a job (started by
    ``started_by``, see :class:`~plugin.jobs.model.Starter`) whose file waits
    in GridFS (without a mapping, :func:`read_import` proposes one).

    Raises:
        UnreadableFile: the file cannot be read. InvalidRequest: a bad key or mapping.
    """
    table, _ = await read_import(db, bot_id, data, filename, mapping, key,
                                 update_all_matches)
    job = new_job(bot_id, JobKind.IMPORT, {"filename": filename, "mapping": dict(mapping),
                                           "key": key, "dry_run": dry_run,
                                           "update_all_matches": update_all_matches,
                                           "format": table.format},
                  total=len(table.rows), now=utc_now(), started_by=started_by)
    await TransferStore.of(db).put_file(c.IMPORT_BUCKET, job["_id"], filename or "upload",
                                        io.BytesIO(data), {"bot_id": bot_id})
    return await queue_job(db, job)  # after its file: a worker never sees one without it


class ImportRunner:
    """Runs ``import`` jobs for a :class:`~plugin.jobs.worker.JobWorker`.

    A resumed import reads its file again and re-plans: rows an earlier
    attempt wrote are then unchanged (the event ids are fixed by the file).
    """

    async def __call__(self, run: JobRun) -> None:
        db, job = run.db, run.job
        job_id, spec = job["_id"], job["spec"]
        stream = await TransferStore.of(db).open_file(c.IMPORT_BUCKET, job_id)
        if stream is None:
            raise NotFound(f"the file uploaded for import {job_id!r} is gone", job=job_id)
        data = await stream.read()
        table, head = await read_import(db, job["bot_id"], data, spec["filename"],
                                        spec["mapping"], spec["key"],
                                        spec.get("update_all_matches", False))
        report = await execute_import(db, job["bot_id"], table, head, spec["dry_run"],
                                      job_id, run.report_rows)
        if report is None:
            log.info("import %s: cancelled, taken over or shutting down; stops", job_id)
            return
        written = report["created"] + report["updated"]
        await run.finish(rows_written=0 if spec["dry_run"] else written, done=written,
                         failed=report["rejected"], skipped=report["unchanged"])
        await TransferStore.of(db).delete_file(c.IMPORT_BUCKET, job_id)
        log.info("import %s done: %d created, %d updated, %d unchanged, %d rejected", job_id,
                 report["created"], report["updated"], report["unchanged"], report["rejected"])


def rejections_csv(report: Mapping[str, Any]) -> bytes:
    """The rejected rows of an import's report as CSV (UTF-8 with a BOM).

    Column names, values and reasons come from the file (a reason quotes the
    value it refused): neutralised like an export's cells, never run as formulas.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["row", "column", "value", "reason"])
    writer.writerows([r["row"], neutralise(r["column"] or ""), neutralise(r.get("value") or ""),
                      neutralise(r["reason"])] for r in report["rejections"])
    return b"\xef\xbb\xbf" + out.getvalue().encode("utf-8")
