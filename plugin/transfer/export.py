"""Exports: an audience (segment or filter) written to CSV or XLSX by a job,
stored in GridFS and fetched through a signed, expiring link.

``create_export`` checks the request, counts the audience and queues an
``export`` job (rows in the order of the ``sort`` asked for, as the audience
query pages them, and only the users a ``search`` finds, when given); the job
worker runs it through :class:`ExportRunner`, which streams profiles from a
cursor into a temporary file
(:mod:`plugin.transfer.writers`) and uploads the finished file. A resumed
export builds its file again from the start: the file is only stored whole.
When the request gave an address, the runner mails a link to the file
(:mod:`plugin.transfer.links`, :mod:`plugin.transfer.mail`).

A service over the job and transfer repositories; it knows no HTTP: the face
that serves the files hands the runner the function that turns a job id into
the link to mail.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from datetime import timedelta
from typing import Any

from plugin.audience.profile_store import ProfileStore
from plugin.audience.property_store import PropertyStore
from plugin.audience.query import catalog, compile_audience_filter, searched, sort_order
from plugin.audience.spec import audience_filter, resolve_audience
from plugin.core import constants as c
from plugin.core.errors import InvalidRequest
from plugin.core.events import utc_now
from plugin.core.properties import InvalidValue, PropertyType, custom_property, validate_value
from plugin.core.settings import Settings
from plugin.db.database import Database
from plugin.jobs.lifecycle import JobRun, queue_job
from plugin.jobs.model import Job, JobKind, new_job
from plugin.jobs.store import JobStore
from plugin.transfer.cells import flatten
from plugin.transfer.mail import MailNotSent, send_mail
from plugin.transfer.store import TransferStore
from plugin.transfer.writers import FORMATS, write_rows

__all__ = [
    "DEFAULT_COLUMNS",
    "ExportRunner",
    "create_export",
    "every_column",
    "export_columns",
    "profile_rows",
]

log = logging.getLogger(__name__)

_EMAIL = custom_property("email", PropertyType.EMAIL)

# name, email and phone are custom properties by convention (attributes.*).
DEFAULT_COLUMNS = ("user_id", "name", "email", "phone", "channel", "created_at",
                   "last_message_at")
_SYSTEM_COLUMNS = frozenset({"user_id", "channel", "created_at", "last_message_at", "source",
                             "updated_at", "message_count", "assigned_to", "current_module",
                             "current_campaign", "last_user_message", "last_user_message_at",
                             "current_message"})


async def export_columns(db: Database, bot_id: str,
                         asked: Iterable[str] | None = None) -> list[str]:
    """The columns asked for (each a known property), or the default ones.

    Raises:
        InvalidRequest: a column that is no property of the bot.
    """
    custom = await PropertyStore.of(db).custom_properties(bot_id)
    if asked:
        columns = list(dict.fromkeys(asked))
        unknown = [n for n in columns if n not in custom and n not in _SYSTEM_COLUMNS]
        if unknown:
            raise InvalidRequest(f"unknown columns: {', '.join(map(repr, unknown))}",
                                 field="columns", unknown=unknown)
        return columns
    return list(dict.fromkeys([*DEFAULT_COLUMNS, *sorted(custom)]))


async def every_column(db: Database, bot_id: str) -> list[str]:
    """Every column an export of the bot can have: those of the default ones
    the bot has, every custom property, then the other system properties."""
    custom = await PropertyStore.of(db).custom_properties(bot_id)
    usual = [n for n in DEFAULT_COLUMNS if n in custom or n in _SYSTEM_COLUMNS]
    return list(dict.fromkeys([*usual, *sorted(custom), *sorted(_SYSTEM_COLUMNS)]))


def _cell_of(doc: Mapping[str, Any], column: str) -> Any:
    if column in _SYSTEM_COLUMNS:
        return doc.get(column)
    return (doc.get("attributes") or {}).get(column)


async def profile_rows(db: Database, query: dict[str, Any], columns: list[str], limit: int,
                       *, for_xlsx: bool = False, sort: list[tuple[str, int]] | None = None,
                       ) -> AsyncIterator[list[Any]]:
    """The first ``limit`` profiles matching ``query`` (in ``sort`` order, by
    default profile id order), each as a row of cells."""
    async for doc in ProfileStore.of(db).iter_profiles(query, limit, sort=sort):
        yield [flatten(_cell_of(doc, col), for_xlsx=for_xlsx) for col in columns]


async def create_export(db: Database, settings: Settings, bot_id: str,
                        body: Mapping[str, Any], *, claimed_by: str | None = None,
                        started_by: Mapping[str, str] | None = None) -> Job:
    """Check the request, count the audience and queue the export job (started
    by ``started_by``, see :class:`~plugin.jobs.model.Starter`); the job.

    Raises:
        InvalidRequest: a limit over the server's maximum, an unknown column,
            an address that is not one, a sort by an unknown or list property.
        NotFound: the segment does not exist.
    """
    limit = body.get("limit", c.EXPORT_DEFAULT_LIMIT)
    if limit > settings.export_max_rows:
        raise InvalidRequest(f"'limit' is at most {settings.export_max_rows} rows on this "
                             "server (AUDIENCE_EXPORT_MAX_ROWS)", field="limit",
                             maximum=settings.export_max_rows)
    fmt = body.get("format", "csv")
    email = _checked_email(body.get("email"))
    columns = await export_columns(db, bot_id, body.get("columns"))
    audience, query = await resolve_audience(db, bot_id, body["audience"])
    spec = {"format": fmt, "columns": columns, "limit": limit, "email": email}
    if body.get("sort"):
        sort_order(body["sort"], await catalog(db, bot_id))  # checked now, used by the job
        spec["sort"] = body["sort"]
    if (body.get("search") or "").strip():
        spec["search"] = body["search"].strip()
        query = searched(query, spec["search"])
    total = min(await ProfileStore.of(db).count_profiles(query), limit)
    job = new_job(bot_id, JobKind.EXPORT, spec,
                  total=total, now=utc_now(), audience=audience, claimed_by=claimed_by,
                  started_by=started_by)
    job["email_sent"], job["file_id"] = None, None
    return await queue_job(db, job)


def _checked_email(address: str | None) -> str | None:
    if address is None:
        return None
    try:
        checked: str = validate_value(_EMAIL, address)
    except InvalidValue as exc:
        raise InvalidRequest(exc.reason, field="email") from None
    return checked


class ExportRunner:
    """Runs ``export`` jobs for a :class:`~plugin.jobs.worker.JobWorker`.

    ``download_url(job_id)`` is the link mailed to the address the request
    gave (a fresh signed one, from the face that serves the files).
    """

    def __init__(self, settings: Settings, download_url: Callable[[str], str]) -> None:
        self.settings = settings
        self.download_url = download_url

    async def __call__(self, run: JobRun) -> None:
        db, job = run.db, run.job
        job_id, spec = job["_id"], job["spec"]
        query = await compile_audience_filter(db, job["bot_id"], audience_filter(job["audience"]))
        if spec.get("search"):
            query = searched(query, spec["search"])
        order = (sort_order(spec["sort"], await catalog(db, job["bot_id"]))
                 if spec.get("sort") else None)
        rows = profile_rows(db, query, spec["columns"], job["total"],
                            for_xlsx=spec["format"] == "xlsx", sort=order)
        with tempfile.TemporaryFile() as out:
            written = await write_rows(spec["format"], out, spec["columns"], rows,
                                       run.report_rows)
            if run.halted:
                log.info("export %s: cancelled, taken over or shutting down; stops", job_id)
                return
            out.seek(0)
            filename = f"audience-{job['bot_id']}-{job_id[:8]}.{spec['format']}"
            await TransferStore.of(db).put_file(c.EXPORT_BUCKET, job_id, filename, out,
                                                {"bot_id": job["bot_id"], "rows": written,
                                                 "content_type": FORMATS[spec["format"]]})
        email_sent, email_error = await self._email(job)
        await run.finish(rows_written=written, done=written, file_id=job_id,
                         email_sent=email_sent, email_error=email_error)
        log.info("export %s done: %d rows", job_id, written)

    async def remove_expired_files(self, db: Database) -> int:
        """Delete the files of exports finished more than ``export_retention_s``
        ago (housekeeping); how many. Their jobs stay, marked so."""
        now = utc_now()
        expired = await JobStore.of(db).done_before(
            JobKind.EXPORT, now - timedelta(seconds=self.settings.export_retention_s),
            having="file_id")
        for job_id in expired:
            await TransferStore.of(db).delete_file(c.EXPORT_BUCKET, job_id)
            await JobStore.of(db).set_job_fields(job_id, {"file_id": None, "file_removed_at": now})
        if expired:
            log.info("removed %d export files older than %d s", len(expired),
                     self.settings.export_retention_s)
        return len(expired)

    async def _email(self, job: Job) -> tuple[bool | None, str | None]:
        """(sent?, why not): None when no address was given."""
        address = job["spec"].get("email")
        if not address:
            return None, None
        text = (f"Your export ({job['total']} rows) is ready:\n\n"
                f"{self.download_url(job['_id'])}\n\n"
                f"The link works for {self.settings.link_ttl_s // 3600} hours.\n")
        try:
            await send_mail(self.settings.smtp_url, address,
                            f"Your audience export of {job['bot_id']} is ready", text)
        except MailNotSent as exc:
            log.warning("export %s: the e-mail to %s was not sent: %s", job["_id"], address,
                        exc.message)
            return False, exc.message
        return True, None
