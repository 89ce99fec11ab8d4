"""``audience broadcast``: a message to a segment, as a job.

The command line imports no connector, so it cannot deliver messages itself:
it queues the job and follows its progress, and the job worker of a running
``audience serve`` on the same deployment (any of them, if several share the
database) delivers it. Without a server the job waits, queued, until one
starts. Exit status 1 when the job fails or is cancelled.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TextIO

from plugin.cli.exits import EXIT_FAILED, EXIT_OK
from plugin.cli.output import progress_bar
from plugin.cli.running import on_database
from plugin.core.commands import BOT_ID, CommandTable, arg
from plugin.core.errors import InvalidRequest

if TYPE_CHECKING:
    from plugin.core.settings import Settings
    from plugin.db.database import Database

__all__ = ["commands", "follow"]

_POLL_S = 0.25
_NO_WORKER_HINT_S = 3.0
# Who starts a job from here, as the job records it: the command line holds
# the database itself, with no key (an admin of every bot).
COMMAND_LINE = {"key_id": "", "label": "command line", "role": "admin"}

commands = CommandTable()


@commands.command(
    "broadcast", "send a message to a segment (a job)",
    arg("--bot", required=True, type=BOT_ID),
    arg("--segment", required=True, help="its name (or id)"),
    arg("--text", required=True),
    arg("--rate", type=float, default=None, help="at most this many users a second"),
    arg("--include-human-held", action="store_true",
        help="also users whose conversation a human holds"),
    arg("--no-wait", action="store_true",
        help="print the job id and return without following it"),
    description="Queues a broadcast job and shows its progress. A running `audience serve` "
                "on the same data delivers it; the job waits until one does.")
def broadcast(args: argparse.Namespace, settings: Settings) -> int:
    if args.rate is not None and not 0 < args.rate < math.inf:
        raise InvalidRequest("--rate must be above 0")
    return on_database(settings, lambda db: _broadcast(db, args))


async def _broadcast(db: Database, args: argparse.Namespace) -> int:
    # Imported here: see plugin.core.commands.
    from plugin.audience.spec import find_segment
    from plugin.jobs import actions as bulk

    segment = await find_segment(db, args.bot, args.segment)
    body: dict[str, Any] = {"audience": {"segment": segment["_id"]},
                            "message": {"text": args.text},
                            "include_human_held": args.include_human_held}
    if args.rate is not None:
        body["rate_per_second"] = args.rate
    job = await bulk.broadcast(db, args.bot, body, started_by=COMMAND_LINE)
    print(f"job {job['_id']}: broadcast to {job['total']} users of {segment['name']!r}")
    if args.no_wait:
        return EXIT_OK
    return await follow(db, job["_id"], sys.stderr)


async def follow(db: Database, job_id: str, out: TextIO) -> int:
    """Show a job's progress on ``out`` until it finishes; 0 if it is done, else 1."""
    # Imported here: see plugin.core.commands.
    from plugin.jobs.lifecycle import get_job

    started = time.monotonic()
    hinted = False
    shown = ""
    while True:
        job = await get_job(db, job_id)
        line = _progress_line(job)
        if line != shown:
            out.write(("\r" if out.isatty() else "") + line + ("" if out.isatty() else "\n"))
            out.flush()
            shown = line
        if job["status"] in ("done", "failed", "cancelled"):
            if out.isatty():
                out.write("\n")
            return EXIT_OK if job["status"] == "done" else EXIT_FAILED
        if (job["status"] == "queued" and not hinted
                and time.monotonic() - started > _NO_WORKER_HINT_S):
            out.write(("\n" if out.isatty() else "") +
                      "No worker has taken the job yet: it is delivered by the job worker of "
                      "a running `audience serve` on this data. Waiting (Ctrl-C leaves the "
                      "job queued).\n")
            hinted = True
        await asyncio.sleep(_POLL_S)


def _progress_line(job: Mapping[str, Any]) -> str:
    total = job["total"]
    handled = job["done"] + job["failed"] + job["skipped"]
    return (f"{progress_bar(handled, total)}  sent {job['done']}  failed {job['failed']}  "
            f"skipped {job['skipped']}  {job['status']}")
