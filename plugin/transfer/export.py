"""Exports: an audience (segment or filter) written to CSV or XLSX by a job,
stored in GridFS and fetched through a signed, expiring link.

``create_export`` checks the request, counts the audience and queues an
``export`` job; the job worker runs it through :class:`ExportRunner`, which
streams profiles from a cursor into a temporary file (rows never pile up in
memory: ``csv`` writes line by line, openpyxl's write-only workbook spools
rows to disk) and uploads the finished file. A resumed export builds its file
again from the start: the file is only stored whole.

The link is the credential: ``sign_link``/``check_link`` HMAC-SHA256 the job
id and expiry time with ``AUDIENCE_LINK_SECRET`` (or a random per-process
secret). A service over :class:`~plugin.db.store.Store`; it knows no HTTP.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import hmac
import logging
import secrets
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from typing import IO, Any
from urllib.parse import urlencode, urlsplit

from plugin.audience import query as audience
from plugin.core import constants as c
from plugin.core.errors import Forbidden, InvalidRequest
from plugin.core.events import utc_now
from plugin.core.settings import Settings
from plugin.db.store import Store
from plugin.jobs import actions as bulk
from plugin.jobs.worker import JobKind, JobStatus, JobWorker, runner_job

__all__ = [
    "DEFAULT_COLUMNS",
    "FORMATS",
    "ExportRunner",
    "create_export",
    "shown_export",
    "sign_link",
    "check_link",
    "export_columns",
    "flatten",
    "neutralise",
    "write_rows",
    "profile_rows",
    "signing_key",
]

log = logging.getLogger(__name__)

FORMATS = {"csv": "text/csv; charset=utf-8",
           "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
# name, email and phone are custom properties by convention (attributes.*).
DEFAULT_COLUMNS = ("user_id", "name", "email", "phone", "channel", "created_at",
                   "last_message_at")
_SYSTEM_COLUMNS = frozenset({"user_id", "channel", "created_at", "last_message_at", "source",
                             "updated_at", "message_count", "assigned_to", "current_module",
                             "current_campaign", "last_user_message", "last_user_message_at",
                             "current_message"})
# Spreadsheet programs evaluate a cell that starts with one of these.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_SMTP_FROM = "audience@localhost"
_process_secret: str | None = None


def signing_key(settings: Settings) -> bytes:
    global _process_secret
    if settings.link_secret:
        return settings.link_secret.encode()
    if _process_secret is None:
        _process_secret = secrets.token_hex(32)
        log.warning("AUDIENCE_LINK_SECRET is not set: download links are signed with a random "
                    "secret of this process; they fail on other processes and after a restart")
    return _process_secret.encode()


def _signature(settings: Settings, job_id: str, expires: int) -> str:
    return hmac.new(signing_key(settings), f"{job_id}:{expires}".encode(),
                    hashlib.sha256).hexdigest()


def sign_link(settings: Settings, job_id: str, *, now: float | None = None) -> str:
    """The download path with its expiry and signature (relative to the server)."""
    expires = int((now if now is not None else time.time()) + settings.link_ttl_s)
    query = urlencode({"expires": expires, "signature": _signature(settings, job_id, expires)})
    return f"/v1/exports/{job_id}/download?{query}"


def check_link(settings: Settings, job_id: str, expires: str | None, signature: str | None,
               *, now: float | None = None) -> None:
    """Raises:
        Forbidden: the link is incomplete, tampered with or expired.
    """
    if not expires or not signature:
        raise Forbidden("the download link needs 'expires' and 'signature': use the "
                        "download_url of GET /v1/exports/{job_id}")
    try:
        moment = int(expires)
    except ValueError:
        raise Forbidden("the download link is invalid: 'expires' is not a time") from None
    # Bytes: compare_digest refuses str with non-ASCII characters (a 500 otherwise).
    if not hmac.compare_digest(_signature(settings, job_id, moment).encode(),
                               signature.encode("utf-8", "replace")):
        raise Forbidden("the download link is invalid: its signature does not match")
    if moment < (now if now is not None else time.time()):
        at = datetime.fromtimestamp(moment, UTC).isoformat()
        raise Forbidden(f"the download link expired at {at}; GET /v1/exports/{job_id} gives "
                        "a new one", expired_at=at)


# -- cells --------------------------------------------------------------------------

def neutralise(text: str) -> str:
    """Text a spreadsheet shows as is, never as a formula."""
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def flatten(value: Any, *, for_xlsx: bool = False) -> Any:
    """A profile value as one cell: lists joined by "; ", mappings as "k: v"."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return value
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        moment = moment.astimezone(UTC)
        return (moment.replace(tzinfo=None) if for_xlsx
                else moment.isoformat(timespec="seconds").replace("+00:00", "Z"))
    if isinstance(value, date):
        return value if for_xlsx else value.isoformat()
    if isinstance(value, list | tuple):
        return neutralise("; ".join(str(flatten(v)) for v in value if v is not None))
    if isinstance(value, Mapping):
        return neutralise("; ".join(f"{k}: {flatten(v)}" for k, v in value.items()))
    return neutralise(str(value))


async def export_columns(store: Store, bot_id: str,
                         asked: Iterable[str] | None = None) -> list[str]:
    """The columns asked for (each a known property), or the default ones."""
    custom = await store.custom_properties(bot_id)
    if asked:
        columns = list(dict.fromkeys(asked))
        unknown = [n for n in columns if n not in custom and n not in _SYSTEM_COLUMNS]
        if unknown:
            raise InvalidRequest(f"unknown columns: {', '.join(map(repr, unknown))}",
                                 field="columns", unknown=unknown)
        return columns
    return list(dict.fromkeys([*DEFAULT_COLUMNS, *sorted(custom)]))


def _cell_of(doc: Mapping[str, Any], column: str) -> Any:
    if column in _SYSTEM_COLUMNS:
        return doc.get(column)
    return (doc.get("attributes") or {}).get(column)


async def profile_rows(store: Store, query: dict[str, Any], columns: list[str], limit: int,
                       *, for_xlsx: bool = False) -> AsyncIterator[list[Any]]:
    async for doc in store.iter_profiles(query, limit):
        yield [flatten(_cell_of(doc, col), for_xlsx=for_xlsx) for col in columns]


async def write_rows(fmt: str, out: IO[bytes], columns: list[str],
                     rows: AsyncIterator[list[Any]],
                     progress: Callable[[int], Any] | None = None) -> int:
    """Write the header and ``rows`` to the binary file ``out``; rows written.

    ``progress(n)`` is called (and awaited when it returns an awaitable)
    every ``EXPORT_PROGRESS_ROWS`` rows; when it returns False the export stops.
    """
    written = 0

    async def tick() -> bool:
        if progress is None or written % c.EXPORT_PROGRESS_ROWS:
            return True
        result = progress(written)
        if asyncio.iscoroutine(result):
            result = await result
        return result is not False

    if fmt == "csv":
        out.write(b"\xef\xbb\xbf")  # UTF-8 BOM: spreadsheet programs then read accents right
        text = _TextOut(out)
        writer = csv.writer(text, lineterminator="\r\n")
        writer.writerow(columns)
        async for row in rows:
            writer.writerow(row)
            written += 1
            if not await tick():
                break
        return written
    from openpyxl import Workbook  # imported here: only XLSX exports pay for it

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Audience")
    sheet.append(columns)
    async for row in rows:
        sheet.append(row)
        written += 1
        if not await tick():
            break
    await asyncio.to_thread(workbook.save, out)  # zips the spooled sheet: keep the loop free
    return written


class _TextOut:
    """A minimal text sink over a binary file, for ``csv.writer``."""

    def __init__(self, out: IO[bytes]) -> None:
        self._out = out

    def write(self, text: str) -> int:
        return self._out.write(text.encode("utf-8"))


# -- the API's side -----------------------------------------------------------------

async def create_export(store: Store, settings: Settings, bot_id: str,
                        body: Mapping[str, Any], *,
                        claimed_by: str | None = None) -> dict[str, Any]:
    """Check the request, count the audience and queue the export job; the job.

    Raises:
        InvalidRequest: a limit over the server's maximum, an unknown column.
        NotFound: the segment does not exist.
    """
    limit = body.get("limit", c.EXPORT_DEFAULT_LIMIT)
    if limit > settings.export_max_rows:
        raise InvalidRequest(f"'limit' is at most {settings.export_max_rows} rows on this "
                             "server (AUDIENCE_EXPORT_MAX_ROWS)", field="limit",
                             maximum=settings.export_max_rows)
    fmt = body.get("format", "csv")
    columns = await export_columns(store, bot_id, body.get("columns"))
    audience_spec, query = await bulk.resolve_audience(store, bot_id, body["audience"])
    total = min(await store.count_profiles(query), limit)
    job = runner_job(bot_id, JobKind.EXPORT,
                     {"format": fmt, "columns": columns, "limit": limit,
                      "email": body.get("email")},
                     total, audience=audience_spec, claimed_by=claimed_by)
    job.update(email_sent=None, file_id=None)
    await store.insert_job(job, [])
    return job


def shown_export(job: Mapping[str, Any], settings: Settings, base_url: str) -> dict[str, Any]:
    """An export job as the API shows it; a fresh signed link once it is done."""
    shown: dict[str, Any] = {
        "id": job["_id"], "bot_id": job["bot_id"], "status": job["status"],
        "format": job["spec"]["format"], "columns": job["spec"]["columns"],
        "total": job["total"], "rows_written": job.get("rows_written", 0),
        "email": job["spec"].get("email"), "email_sent": job.get("email_sent"),
        "created_at": job["created_at"], "finished_at": job.get("finished_at"),
        "download_url": None, "expires_in_s": None,
    }
    if job.get("error"):
        shown["error"] = job["error"]
    if job.get("file_removed_at"):
        shown["file_removed_at"] = job["file_removed_at"]
        shown["error"] = (f"the file was removed {settings.export_retention_s // 3600} h after "
                          "it was built; export again")
    if job["status"] == JobStatus.DONE and job.get("file_id"):
        shown["download_url"] = base_url.rstrip("/") + sign_link(settings, job["_id"])
        shown["expires_in_s"] = settings.link_ttl_s
    return shown


# -- the worker's side --------------------------------------------------------------

class ExportRunner:
    """Runs ``export`` jobs for a :class:`~plugin.jobs.worker.JobWorker`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def __call__(self, worker: JobWorker, job: dict[str, Any]) -> None:
        store, job_id, spec = worker.store, job["_id"], job["spec"]
        query = await audience.compile_audience_filter(
            store, job["bot_id"], bulk.audience_filter(job["audience"]))
        stopped = False

        async def progress(rows: int) -> bool:
            nonlocal stopped
            renewed = await store.update_owned_job(job_id, worker.owner, {}, {"$set": {
                "rows_written": rows, "lease_until": worker.lease_from(utc_now())}})
            stopped = renewed is None or worker.stopping
            return not stopped

        rows = profile_rows(store, query, spec["columns"], job["total"],
                            for_xlsx=spec["format"] == "xlsx")
        with tempfile.TemporaryFile() as out:
            written = await write_rows(spec["format"], out, spec["columns"], rows, progress)
            if stopped:
                log.info("export %s: cancelled, taken over or shutting down; stops", job_id)
                return
            out.seek(0)
            filename = f"audience-{job['bot_id']}-{job_id[:8]}.{spec['format']}"
            await store.put_file(c.EXPORT_BUCKET, job_id, filename, out,
                                        {"bot_id": job["bot_id"], "rows": written,
                                         "content_type": FORMATS[spec["format"]]})
        email_sent, email_error = await self._email(job)
        await store.update_owned_job(job_id, worker.owner, {}, {"$set": {
            "status": str(JobStatus.DONE), "finished_at": utc_now(), "owner": None,
            "rows_written": written, "done": written, "file_id": job_id,
            "email_sent": email_sent, "email_error": email_error}})
        log.info("export %s done: %d rows", job_id, written)

    async def remove_expired_files(self, store: Store) -> int:
        """Delete the files of exports finished more than ``export_retention_s``
        ago (housekeeping); how many. Their jobs stay, marked so."""
        now = utc_now()
        expired = await store.exports_finished_before(
            now - timedelta(seconds=self.settings.export_retention_s))
        for job_id in expired:
            await store.delete_file(c.EXPORT_BUCKET, job_id)
            await store.set_job_fields(job_id, {"file_id": None, "file_removed_at": now})
        if expired:
            log.info("removed %d export files older than %d s", len(expired),
                     self.settings.export_retention_s)
        return len(expired)

    async def _email(self, job: Mapping[str, Any]) -> tuple[bool | None, str | None]:
        """(sent?, why not): None when no address was given."""
        address = job["spec"].get("email")
        if not address:
            return None, None
        if not self.settings.smtp_url:
            return False, "no SMTP server is configured (AUDIENCE_SMTP_URL)"
        import aiosmtplib

        base = self.settings.public_url or f"http://{self.settings.host}:{self.settings.port}"
        link = base.rstrip("/") + sign_link(self.settings, job["_id"])
        message = EmailMessage()
        message["From"], message["To"] = _SMTP_FROM, address
        message["Subject"] = f"Your audience export of {job['bot_id']} is ready"
        message.set_content(f"Your export ({job['total']} rows) is ready:\n\n{link}\n\n"
                            f"The link works for {self.settings.link_ttl_s // 3600} hours.\n")
        parts = urlsplit(self.settings.smtp_url)
        try:
            await aiosmtplib.send(message, hostname=parts.hostname or "localhost",
                                  port=parts.port or 25, timeout=30)
        except (aiosmtplib.SMTPException, OSError) as exc:
            log.warning("export %s: the e-mail to %s failed: %s", job["_id"], address, exc)
            return False, f"{type(exc).__name__}: {exc}"[:300]
        return True, None

