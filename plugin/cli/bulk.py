"""The segment and broadcast commands of the audience command line.

``audience segments list|create|add|remove`` and ``audience broadcast``
work on the same deployment as ``audience serve`` (``--data-dir`` or
``MONGODB_URI``). The command line imports no connector, so it cannot
deliver messages itself: ``audience broadcast`` queues the job and follows
its progress, and the job worker of a running ``audience serve`` (any of
them, if several share the database) delivers it. Without a server the job
waits, queued, until one starts.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any, TextIO

from plugin.audience import segments
from plugin.core.errors import InvalidRequest
from plugin.core.settings import Settings
from plugin.db.store import Store
from plugin.jobs import actions as bulk
from plugin.jobs import worker as jobs

__all__ = ["add_commands", "print_table", "sync_command", "follow"]

_POLL_S = 0.25
_NO_WORKER_HINT_S = 3.0
_BAR_WIDTH = 30


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser],
                 data: argparse.ArgumentParser) -> None:
    seg = commands.add_parser("segments", help="list, create and fill segments")
    seg_commands = seg.add_subparsers(dest="segments_command", required=True)
    listing = seg_commands.add_parser("list", parents=[data], help="the bot's segments")
    listing.add_argument("--bot", required=True)
    listing.set_defaults(run_command=sync_command(_list))

    create = seg_commands.add_parser(
        "create", parents=[data], help="a dynamic segment (--where/--expr or --filter) or a "
                                       "static one (--static, --user …)")
    create.add_argument("--bot", required=True)
    create.add_argument("--name", required=True)
    create.add_argument("--static", action="store_true", help="a static segment")
    create.add_argument("--user", dest="users", action="append", default=[],
                        help="a user to add to a static segment; repeatable")
    create.add_argument("--where", action="append", default=[],
                        metavar="'PROPERTY OPERATOR [VALUE]'")
    create.add_argument("--expr", default=None)
    create.add_argument("--filter", type=argparse.FileType("r"), default=None)
    create.set_defaults(run_command=sync_command(_create))

    for name, verb in (("add", "add users to"), ("remove", "remove users from")):
        members = seg_commands.add_parser(name, parents=[data], help=f"{verb} a static segment")
        members.add_argument("--bot", required=True)
        members.add_argument("--segment", required=True, help="its name (or id)")
        members.add_argument("--user", dest="users", action="append", required=True,
                             help="a user id; repeatable")
        members.set_defaults(run_command=sync_command(_members), members_command=name)

    cast = commands.add_parser(
        "broadcast", parents=[data], help="send a message to a segment (a job)",
        description="Queues a broadcast job and shows its progress. A running `audience "
                    "serve` on the same data delivers it; the job waits until one does.")
    cast.add_argument("--bot", required=True)
    cast.add_argument("--segment", required=True, help="its name (or id)")
    cast.add_argument("--text", required=True)
    cast.add_argument("--rate", type=float, default=None, help="at most this many users a second")
    cast.add_argument("--include-human-held", action="store_true",
                      help="also users whose conversation a human holds")
    cast.add_argument("--no-wait", action="store_true",
                      help="print the job id and return without following it")
    cast.set_defaults(run_command=sync_command(_broadcast))


def sync_command(command: Any) -> Any:
    """A ``run_command`` that opens the deployment's store and runs ``command(store, args)``."""
    def run(args: argparse.Namespace, settings: Settings) -> int:
        return int(asyncio.run(_with_store(settings, command, args)))
    return run


async def _with_store(settings: Settings, command: Any, args: argparse.Namespace) -> int:
    store = await Store.open(settings)
    try:
        return int(await command(store, args))
    finally:
        await store.close()


async def _list(store: Store, args: argparse.Namespace) -> int:
    found = await segments.list_segments(store, args.bot)
    rows = [["id", "name", "kind", "favourite", "count"]]
    rows += [[s["id"], s["name"], s["kind"], "*" if s["favourite"] else "", str(s["count"])]
             for s in found]
    print_table(rows)
    return 0


def print_table(rows: list[list[str]]) -> None:
    """Rows (the first a header) in aligned columns."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


async def _create(store: Store, args: argparse.Namespace) -> int:
    from plugin.cli.main import (
        _filter_from_args,  # the `audience query` options, parsed the same way
    )

    body: dict[str, Any] = {"name": args.name}
    if args.static:
        if args.where or args.filter:
            raise InvalidRequest("a static segment takes --user, not --where/--filter")
        body.update(kind=segments.STATIC, user_ids=args.users)
    else:
        if args.users:
            raise InvalidRequest("--user is for a static segment (add --static)")
        body.update(kind=segments.DYNAMIC, filter=_filter_from_args(args))
    created = await segments.create_segment(store, args.bot, body)
    print(f"{created['id']}  {created['name']}  ({created['kind']}, {created['count']} users)")
    if created.get("unknown"):
        print(f"unknown users, not added: {', '.join(created['unknown'])}", file=sys.stderr)
    return 0


async def _members(store: Store, args: argparse.Namespace) -> int:
    segment = await bulk.find_segment_by_name(store, args.bot, args.segment)
    change = segments.add_members if args.members_command == "add" else segments.remove_members
    result = await change(store, args.bot, segment["_id"], args.users)
    counted = result.get("added", result.get("removed"))
    print(f"{args.members_command}: {counted}")
    if result["unknown"]:
        print(f"unknown users: {', '.join(result['unknown'])}", file=sys.stderr)
    return 0


async def _broadcast(store: Store, args: argparse.Namespace) -> int:
    segment = await bulk.find_segment_by_name(store, args.bot, args.segment)
    body: dict[str, Any] = {"audience": {"segment": segment["_id"]},
                            "message": {"text": args.text},
                            "include_human_held": args.include_human_held}
    if args.rate is not None:
        if args.rate <= 0:
            raise InvalidRequest("--rate must be above 0")
        body["rate_per_second"] = args.rate
    job = await bulk.broadcast(store, args.bot, body)
    print(f"job {job['_id']}: broadcast to {job['total']} users of {segment['name']!r}")
    if args.no_wait:
        return 0
    return await follow(store, job["_id"], sys.stderr)


async def follow(store: Store, job_id: str, out: TextIO) -> int:
    """Show a job's progress on ``out`` until it finishes; 0 if it is done."""
    started = time.monotonic()
    hinted = False
    shown = ""
    while True:
        job = await jobs.get_job(store, job_id)
        line = _progress_line(job)
        if line != shown:
            out.write(("\r" if out.isatty() else "") + line + ("" if out.isatty() else "\n"))
            out.flush()
            shown = line
        if job["status"] in ("done", "failed", "cancelled"):
            if out.isatty():
                out.write("\n")
            return 0 if job["status"] == "done" else 1
        if (job["status"] == "queued" and not hinted
                and time.monotonic() - started > _NO_WORKER_HINT_S):
            out.write(("\n" if out.isatty() else "") +
                      "No worker has taken the job yet: it is delivered by the job worker of "
                      "a running `audience serve` on this data. Waiting (Ctrl-C leaves the "
                      "job queued).\n")
            hinted = True
        await asyncio.sleep(_POLL_S)


def _progress_line(job: dict[str, Any]) -> str:
    total = job["total"]
    handled = job["done"] + job["failed"] + job["skipped"]
    filled = _BAR_WIDTH if total == 0 else _BAR_WIDTH * handled // total
    bar = "#" * filled + "." * (_BAR_WIDTH - filled)
    return (f"[{bar}] {handled}/{total}  sent {job['done']}  failed {job['failed']}  "
            f"skipped {job['skipped']}  {job['status']}")
