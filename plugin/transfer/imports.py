"""Imports: a CSV or XLSX file of users mapped onto profile properties.

Files up to ``IMPORT_MAX_BYTES`` (10 MiB). The API checks the file and the
mapping in the request (``read_import``), then queues a job (``queue_import``,
run by ``ImportRunner``; the file waits in GridFS until it is done); the CLI
runs the same steps in its own process (``run_import``):

1. ``read_table`` reads the whole file or refuses it (wrong format, bad
   encoding, no header, too large) with :class:`UnreadableFile` — nothing is
   written then. CSV: UTF-8 (with or without BOM), UTF-16 with a BOM, else
   Windows-1252/Latin-1; the delimiter (comma, semicolon, tab) is detected.
2. Without a mapping, ``propose_mapping`` matches the header with property
   names and labels (case and punctuation ignored) and nothing changes.
3. With one, ``plan_import`` validates *every* row against the property types
   before anything is written; rejected rows are reported (row number,
   column, reason) and skipped, the others compared with the stored profiles.
4. ``apply_plan`` writes the changes as ``property_set`` events through
   :meth:`Store.ingest` (so each change is on the user's timeline) with event
   ids fixed by the file's content: re-running the same file finds every row
   unchanged and writes nothing; a retried write is a duplicate.

A service over :class:`~plugin.db.store.Store`; it knows no HTTP.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import logging
import re
import uuid
import zipfile
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from plugin.core import constants as c
from plugin.core import events as ev
from plugin.core.errors import InvalidRequest
from plugin.core.events import utc_now
from plugin.core.properties import SYSTEM_PROPERTIES, InvalidValue, PropertyDef, validate_value
from plugin.db.store import Store
from plugin.jobs.worker import JobKind, JobStatus, JobWorker, runner_job

__all__ = ["KEYS", "IGNORE", "Table", "ImportPlan", "UnreadableFile", "read_table",
           "propose_mapping", "plan_import", "apply_plan", "read_import", "execute_import",
           "run_import", "queue_import", "ImportRunner", "shown_import", "rejections_csv"]

log = logging.getLogger(__name__)

KEYS = ("user_id", "email", "phone")
IGNORE = "ignore"
IMPORT_SOURCE = "import"
_DELIMITERS = ",;\t"
_NOT_ALNUM = re.compile(r"[^0-9a-z]+")


class UnreadableFile(InvalidRequest):
    """The file cannot be read at all; nothing was written."""

    code = "unreadable_file"


@dataclass(frozen=True, slots=True)
class Table:
    format: str
    columns: list[str]
    rows: list[list[Any]]  # data rows, as long as ``columns``
    encoding: str | None = None
    delimiter: str | None = None
    digest: str = ""


@dataclass(slots=True)
class ImportPlan:
    key: str
    created: dict[str, dict[str, Any]] = field(default_factory=dict)  # user -> values
    updated: dict[str, dict[str, Any]] = field(default_factory=dict)  # user -> changed values
    unchanged: int = 0
    rejections: list[dict[str, Any]] = field(default_factory=list)


# -- reading ------------------------------------------------------------------------

def read_table(data: bytes, filename: str = "") -> Table:
    """Raises:
        UnreadableFile: too large, not CSV/XLSX, bad encoding, no header.
    """
    if len(data) > c.IMPORT_MAX_BYTES:
        raise UnreadableFile(f"the file is larger than {c.IMPORT_MAX_BYTES} bytes; split it",
                             limit=c.IMPORT_MAX_BYTES)
    digest = hashlib.sha256(data).hexdigest()
    if data.startswith(b"PK\x03\x04"):
        columns, rows = _read_xlsx(data)
        table = Table("xlsx", columns, rows, digest=digest)
    elif filename.lower().endswith((".xlsx", ".xlsm", ".xls")):
        raise UnreadableFile(f"{filename!r} is not an XLSX workbook (old .xls files are not "
                             "supported: save as .xlsx or CSV)")
    else:
        text, encoding = _decode(data)
        delimiter = _delimiter(text)
        records = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
        if not records:
            raise UnreadableFile("the file is empty: it needs a header row")
        columns, rows = records[0], records[1:]
        table = Table("csv", columns, rows, encoding, delimiter, digest)
    columns = [str(col).strip() if col is not None else "" for col in table.columns]
    if not any(columns):
        raise UnreadableFile("the first row is empty: it must name the columns")
    if len(set(columns)) != len(columns):
        twice = sorted({col for col in columns if columns.count(col) > 1})
        raise UnreadableFile(f"columns named twice in the header: {twice}")
    width = len(columns)
    rows = [(list(r) + [None] * width)[:width] for r in table.rows
            if any(v not in (None, "") for v in r)]
    return Table(table.format, columns, rows, table.encoding, table.delimiter, digest)


def _decode(data: bytes) -> tuple[str, str]:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        candidates = ["utf-16"]
    else:
        candidates = ["utf-8-sig", "cp1252", "latin-1"]
    for encoding in candidates:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if "\x00" in text:
            break
        return text, "utf-8" if encoding == "utf-8-sig" else encoding
    raise UnreadableFile("the file is not text in a known encoding (UTF-8, UTF-16, "
                         "Windows-1252/Latin-1) nor an XLSX workbook")


def _delimiter(text: str) -> str:
    header = text.split("\n", 1)[0]
    counts = {d: header.count(d) for d in _DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    if counts[best]:
        return best
    try:
        return csv.Sniffer().sniff(text[:8192], delimiters=_DELIMITERS).delimiter
    except csv.Error:
        return ","  # one column


def _read_xlsx(data: bytes) -> tuple[list[Any], list[list[Any]]]:
    from openpyxl import load_workbook  # only XLSX imports pay for it

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise UnreadableFile(f"the XLSX workbook cannot be read: {exc}") from None
    try:
        sheet = workbook.worksheets[0]
        rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    finally:
        workbook.close()
    if not rows:
        raise UnreadableFile("the first sheet is empty: it needs a header row")
    return rows[0], rows[1:]


# -- mapping ------------------------------------------------------------------------

def _squash(text: str) -> str:
    return _NOT_ALNUM.sub("", text.casefold())


def propose_mapping(columns: list[str], properties: Mapping[str, PropertyDef]) -> dict[str, str]:
    """Each column → the property whose name or label matches it, else "ignore"."""
    known = {"user_id": SYSTEM_PROPERTIES["user_id"], **properties}
    by_key: dict[str, str] = {}
    for name, prop in known.items():
        for text in (prop.label, name):
            if text:
                by_key.setdefault(_squash(text), name)
    return {col: by_key.get(_squash(col), IGNORE) for col in columns}


def check_mapping(mapping: Mapping[str, str], columns: list[str], key: str,
                  properties: Mapping[str, PropertyDef]) -> None:
    """Raises:
        InvalidRequest: a column not in the file, a property that cannot be
            imported, or no column for the key; ``details["errors"]`` lists them.
    """
    errors = []
    for col, target in mapping.items():
        if col not in columns:
            errors.append(f"column {col!r} is not in the file")
        elif target == IGNORE or target == "user_id":
            continue
        elif target in SYSTEM_PROPERTIES:
            errors.append(f"{col!r} → {target!r}: a system property cannot be imported")
        elif target not in properties:
            errors.append(f"{col!r} → {target!r}: unknown property; define it first")
    targets = [t for t in mapping.values() if t != IGNORE]
    errors += [f"property {t!r} is mapped from two columns"
               for t in sorted(set(targets)) if targets.count(t) > 1]
    if key not in targets:
        errors.append(f"no column is mapped to the key {key!r}")
    if key != "user_id" and key not in properties:
        errors.append(f"the key {key!r} is not a property of this bot")
    if errors:
        raise InvalidRequest("the mapping is invalid, nothing was changed: "
                             + "; ".join(errors[:5]), errors=errors)


# -- planning and writing -----------------------------------------------------------

def _cell(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip()
        return value or None
    if isinstance(value, datetime):
        return value.isoformat()
    return value


async def plan_import(store: Store, bot_id: str, table: Table, mapping: Mapping[str, str],
                      key: str) -> ImportPlan:
    """Validate every row, then compare the valid ones with the stored profiles."""
    properties = await store.custom_properties(bot_id)
    check_mapping(mapping, table.columns, key, properties)
    index = {col: n for n, col in enumerate(table.columns)}
    plan = ImportPlan(key)
    valid: dict[str, tuple[int, dict[str, Any]]] = {}  # key value -> (row, values)
    for number, row in enumerate(table.rows, start=2):  # row 1 is the header
        values: dict[str, Any] = {}
        problems: list[tuple[str | None, str]] = []
        for col, target in mapping.items():
            if target == IGNORE:
                continue
            raw = _cell(row[index[col]])
            if raw is None:
                if target == key:
                    problems.append((col, f"the key {key!r} is empty"))
                continue
            prop = SYSTEM_PROPERTIES[target] if target == "user_id" else properties[target]
            try:
                values[target] = validate_value(prop, raw if target != "user_id" else str(raw))
            except InvalidValue as exc:
                problems.append((col, exc.reason))
        if not problems and values[key] in valid:
            problems.append((None, f"the same {key} as row {valid[values[key]][0]}"))
        if problems:
            plan.rejections += [{"row": number, "column": col, "reason": reason}
                                for col, reason in problems]
            continue
        valid[values[key]] = (number, values)
    existing = await _existing(store, bot_id, key, list(valid))
    for key_value, (_, values) in valid.items():
        found = existing.get(key_value)
        attributes = {k: v for k, v in values.items() if k != "user_id"}
        if found is None:
            user_id = values.get("user_id") or _new_user_id(bot_id, key, key_value)
            plan.created[user_id] = attributes
            continue
        stored = found.get("attributes") or {}
        changed = {k: v for k, v in attributes.items() if stored.get(k) != v}
        if changed:
            plan.updated[found["user_id"]] = changed
        else:
            plan.unchanged += 1
    del plan.rejections[c.IMPORT_MAX_REJECTIONS_KEPT:]
    return plan


def _new_user_id(bot_id: str, key: str, value: Any) -> str:
    """A user found by e-mail or phone gets an id fixed by it: a re-run finds it again."""
    return "import-" + hashlib.sha256(f"{bot_id}:{key}:{value}".encode()).hexdigest()[:20]


async def _existing(store: Store, bot_id: str, key: str,
                    values: list[Any]) -> dict[Any, dict[str, Any]]:
    found: dict[Any, dict[str, Any]] = {}
    field_ = "user_id" if key == "user_id" else f"attributes.{key}"
    for start in range(0, len(values), 1000):
        chunk = values[start:start + 1000]
        docs = await store.find_profiles({"bot_id": bot_id, field_: {"$in": chunk}},
                                         [("_id", 1)], len(chunk) * 2 + 1)
        for doc in docs:
            value = doc["user_id"] if key == "user_id" else doc.get("attributes", {}).get(key)
            found.setdefault(value, doc)
    return found


# Rows (users) written so far → whether to go on (False: the job was cancelled or taken over).
Progress = Callable[[int], Awaitable[bool]]


async def apply_plan(store: Store, bot_id: str, plan: ImportPlan, digest: str,
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
            await store.ingest(batch)
            batch = []
            if progress is not None and not await progress(users):
                return False
    if batch:
        await store.ingest(batch)
    return progress is None or await progress(users)


async def read_import(store: Store, bot_id: str, data: bytes, filename: str,
                      mapping: Mapping[str, str] | None,
                      key: str) -> tuple[Table, dict[str, Any]]:
    """Everything that can be checked before any row is: the key, the file, the
    mapping. The table, and the report's head (with a proposed mapping when
    none is given).

    Raises:
        UnreadableFile: the file cannot be read. InvalidRequest: a bad key or mapping.
    """
    if key not in KEYS:
        raise InvalidRequest(f"'key' is one of {', '.join(KEYS)}", field="key")
    table = read_table(data, filename)
    report: dict[str, Any] = {
        "id": None, "format": table.format, "encoding": table.encoding,
        "delimiter": table.delimiter, "columns": table.columns, "rows": len(table.rows),
        "key": key}
    properties = await store.custom_properties(bot_id)
    if mapping is None:
        report["proposed_mapping"] = propose_mapping(table.columns, properties)
    else:
        check_mapping(mapping, table.columns, key, properties)
        report["mapping"] = dict(mapping)
    return table, report


async def execute_import(store: Store, bot_id: str, table: Table, head: Mapping[str, Any],
                         dry_run: bool, import_id: str,
                         progress: Progress | None = None) -> dict[str, Any] | None:
    """Validate every row, write the valid ones (unless a dry run), and store
    the report under ``import_id``; the report, or None if stopped."""
    plan = await plan_import(store, bot_id, table, head["mapping"], head["key"])
    report = {**head, "id": import_id, "dry_run": dry_run, "created": len(plan.created),
              "updated": len(plan.updated), "unchanged": plan.unchanged,
              "rejected": len({r["row"] for r in plan.rejections}),
              "rejections": plan.rejections}
    if not dry_run and not await apply_plan(store, bot_id, plan, table.digest, progress):
        return None
    await store.save_import({"_id": import_id, "bot_id": bot_id, "at": utc_now(),
                             "digest": table.digest, **report})
    return report


async def run_import(store: Store, bot_id: str, data: bytes, filename: str,
                     mapping: Mapping[str, str] | None, key: str, dry_run: bool,
                     progress: Progress | None = None) -> dict[str, Any]:
    """The whole import in this process (the CLI): a proposed mapping, or the report."""
    table, head = await read_import(store, bot_id, data, filename, mapping, key)
    if mapping is None:
        return head
    report = await execute_import(store, bot_id, table, head, dry_run, uuid.uuid4().hex,
                                  progress)
    assert report is not None, "nothing stops an import run in this process"
    return report


async def queue_import(store: Store, bot_id: str, data: bytes, filename: str,
                       mapping: Mapping[str, str] | None, key: str,
                       dry_run: bool) -> dict[str, Any]:
    """The API's import: checked at once, then (with a mapping) queued as a job
    whose file waits in GridFS. A proposed mapping (nothing queued), or the job."""
    table, head = await read_import(store, bot_id, data, filename, mapping, key)
    if mapping is None:
        return head
    job = runner_job(bot_id, JobKind.IMPORT,
                     {"filename": filename, "mapping": dict(mapping), "key": key,
                      "dry_run": dry_run, "format": table.format}, len(table.rows))
    await store.put_file(c.IMPORT_BUCKET, job["_id"], filename or "upload", io.BytesIO(data),
                         {"bot_id": bot_id})
    await store.insert_job(job, [])
    return job


class ImportRunner:
    """Runs ``import`` jobs for a :class:`~plugin.jobs.worker.JobWorker`.

    A resumed import reads its file again and re-plans: rows an earlier
    attempt wrote are then unchanged (the event ids are fixed by the file).
    """

    async def __call__(self, worker: JobWorker, job: dict[str, Any]) -> None:
        store, job_id, spec = worker.store, job["_id"], job["spec"]
        stream = await store.open_file(c.IMPORT_BUCKET, job_id)
        if stream is None:
            raise RuntimeError("the uploaded file is gone")
        data = await stream.read()
        table, head = await read_import(store, job["bot_id"], data, spec["filename"],
                                        spec["mapping"], spec["key"])

        async def progress(rows: int) -> bool:
            renewed = await store.update_owned_job(job_id, worker.owner, {}, {"$set": {
                "rows_written": rows, "lease_until": worker.lease_from(utc_now())}})
            return renewed is not None and not worker.stopping

        report = await execute_import(store, job["bot_id"], table, head, spec["dry_run"],
                                      job_id, progress)
        if report is None:
            log.info("import %s: cancelled, taken over or shutting down; stops", job_id)
            return
        written = report["created"] + report["updated"]
        await store.update_owned_job(job_id, worker.owner, {}, {"$set": {
            "status": str(JobStatus.DONE), "finished_at": utc_now(), "owner": None,
            "rows_written": 0 if spec["dry_run"] else written, "done": written,
            "failed": report["rejected"], "skipped": report["unchanged"]}})
        await store.delete_file(c.IMPORT_BUCKET, job_id)
        log.info("import %s done: %d created, %d updated, %d unchanged, %d rejected", job_id,
                 report["created"], report["updated"], report["unchanged"], report["rejected"])


def shown_import(job: Mapping[str, Any], report: Mapping[str, Any] | None) -> dict[str, Any]:
    """An import job as the API shows it, with its report once there is one."""
    shown: dict[str, Any] = {
        "id": job["_id"], "bot_id": job["bot_id"], "status": job["status"],
        "dry_run": job["spec"]["dry_run"], "rows": job["total"],
        "rows_written": job.get("rows_written", 0), "created_at": job["created_at"],
        "finished_at": job.get("finished_at"), "error": job.get("error"), "report": None}
    if report is not None:
        shown["report"] = {k: v for k, v in report.items() if k not in ("_id", "bot_id", "at",
                                                                       "digest")}
        shown["report"]["rejections_url"] = f"/v1/imports/{job['_id']}/rejections.csv"
    return shown


def rejections_csv(report: Mapping[str, Any]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["row", "column", "reason"])
    writer.writerows([r["row"], r["column"] or "", r["reason"]] for r in report["rejections"])
    return b"\xef\xbb\xbf" + out.getvalue().encode("utf-8")
