"""``audience segments list|create|add|remove``, on the same deployment as
``audience serve`` (``--data-dir`` or ``MONGODB_URI``). A segment is named by
its name (any case) or its id, here and in every filter
(``--where 'segment in VIP'``)."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from plugin.cli.exits import EXIT_OK
from plugin.cli.filters import FILTER_ARGUMENTS, filter_from_args, with_segment_ids
from plugin.cli.output import print_table
from plugin.cli.running import on_database, with_database
from plugin.core.commands import BOT_ID, CommandTable, arg
from plugin.core.errors import InvalidRequest

if TYPE_CHECKING:
    from plugin.core.settings import Settings
    from plugin.db.database import Database

__all__ = ["commands"]

_BOT = arg("--bot", required=True, type=BOT_ID)
_MEMBERS = (_BOT, arg("--segment", required=True, help="its name (or id)"),
            arg("--user", dest="users", action="append", required=True,
                help="a user id; repeatable"))

commands = CommandTable()
commands.group("segments", "list, create and fill segments")


@commands.command("segments list", "the bot's segments", _BOT)
@with_database
async def list_segments(db: Database, args: argparse.Namespace) -> int:
    # Imported here: see plugin.core.commands.
    from plugin.audience import segments

    found = await segments.list_segments(db, args.bot)
    rows = [["id", "name", "kind", "favourite", "count"]]
    rows += [[s["id"], s["name"], s["kind"], "*" if s["favourite"] else "", str(s["count"])]
             for s in found]
    print_table(rows)
    return EXIT_OK


@commands.command(
    "segments create",
    "a dynamic segment (--where/--expr or --filter) or a static one (--static, --user …)",
    _BOT, arg("--name", required=True),
    arg("--static", action="store_true", help="a static segment"),
    arg("--user", dest="users", action="append", default=[],
        help="a user to add to a static segment; repeatable"),
    *FILTER_ARGUMENTS)
def create(args: argparse.Namespace, settings: Settings) -> int:
    filter_: dict[str, Any] | None = None
    if args.static:
        if args.where or args.expr or args.filter:
            raise InvalidRequest("a static segment takes --user, not --where/--filter")
    else:
        if args.users:
            raise InvalidRequest("--user is for a static segment (add --static)")
        filter_ = filter_from_args(args)
    return on_database(settings, lambda db: _create(db, args, filter_))


async def _create(db: Database, args: argparse.Namespace, filter_: dict[str, Any] | None) -> int:
    # Imported here: see plugin.core.commands.
    from plugin.audience import segments

    body: dict[str, Any] = {"name": args.name}
    if filter_ is None:
        body.update(kind=segments.STATIC, user_ids=args.users)
    else:
        body.update(kind=segments.DYNAMIC,
                    filter=await with_segment_ids(db, args.bot, filter_))
    created = await segments.create_segment(db, args.bot, body)
    print(f"{created['id']}  {created['name']}  ({created['kind']}, {created['count']} users)")
    if created.get("unknown"):
        print(f"unknown users, not added: {', '.join(created['unknown'])}", file=sys.stderr)
    return EXIT_OK


@commands.command("segments add", "add users to a static segment", *_MEMBERS)
@with_database
async def add(db: Database, args: argparse.Namespace) -> int:
    return await _change_members(db, args, "add")


@commands.command("segments remove", "remove users from a static segment", *_MEMBERS)
@with_database
async def remove(db: Database, args: argparse.Namespace) -> int:
    return await _change_members(db, args, "remove")


async def _change_members(db: Database, args: argparse.Namespace, verb: str) -> int:
    # Imported here: see plugin.core.commands.
    from plugin.audience import segments
    from plugin.audience.spec import find_segment

    segment = await find_segment(db, args.bot, args.segment)
    change = segments.add_members if verb == "add" else segments.remove_members
    result = await change(db, args.bot, segment["_id"], args.users)
    print(f"{verb}: {result.get('added', result.get('removed'))}")
    if result["unknown"]:
        print(f"unknown users: {', '.join(result['unknown'])}", file=sys.stderr)
    return EXIT_OK
