"""``audience query``: count and list the users a filter matches.

The filter options are :mod:`plugin.cli.filters`'; the page is one page of
the API's ``POST /v1/bots/{bot}/audience/query``.
"""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import TYPE_CHECKING, Any

from plugin.cli.exits import EXIT_OK
from plugin.cli.filters import FILTER_ARGUMENTS, filter_from_args, with_segment_ids
from plugin.cli.output import format_table
from plugin.cli.running import on_database
from plugin.core.commands import BOT_ID, CommandTable, arg, int_between

if TYPE_CHECKING:
    from plugin.core.settings import Settings
    from plugin.db.database import Database

__all__ = ["commands"]

MAX_LIMIT = 500
_COLUMNS = ("user_id", "channel", "current_module", "last_message_at", "message_count")

commands = CommandTable()


@commands.command(
    "query", "count and list the users matching a filter",
    arg("--bot", required=True, type=BOT_ID),
    *FILTER_ARGUMENTS,
    arg("--sort", default=None, signed=True, metavar="[-]PROPERTY",
        help="'-' first for the highest first (default: -last_message_at, the latest first)"),
    arg("--limit", type=int_between(1, MAX_LIMIT), default=20,
        help=f"users listed, 1 to {MAX_LIMIT} (default 20)"),
    description="Conditions are numbered in the order given: --where 'email is_set' "
                "--where 'phone is_set' --expr '1 or 2'. A condition's value is read as "
                "JSON when it parses (numbers, lists, {\"amount\": 7, \"unit\": \"days\"}), "
                "as text otherwise; a segment may be given by name: --where 'segment in VIP'.")
def query(args: argparse.Namespace, settings: Settings) -> int:
    filter_ = filter_from_args(args)  # before the database starts: a typo shows at once
    return on_database(settings, lambda db: _query(db, args, filter_))


async def _query(db: Database, args: argparse.Namespace, filter_: dict[str, Any]) -> int:
    # Imported here: see plugin.core.commands.
    from plugin.audience import query as audience

    filter_ = await with_segment_ids(db, args.bot, filter_)
    page = await audience.query_audience(db, args.bot, filter_,
                                         sort=args.sort or audience.DEFAULT_SORT,
                                         limit=args.limit)
    used = [c.get("property") for c in filter_.get("conditions", []) if isinstance(c, dict)]
    print(f"Total: {page.total}\n" + _table(page.users, used))
    return EXIT_OK


def _table(users: list[dict[str, Any]], extra: list[Any]) -> str:
    columns = [*_COLUMNS]
    columns += [p for p in dict.fromkeys(extra) if isinstance(p, str) and p not in columns]
    rows = [[_cell(u.get(c, u["attributes"].get(c))) for c in columns] for u in users]
    return format_table([columns, *rows])


def _cell(value: Any) -> str:
    # Imported here: see plugin.core.commands (it pulls in bson).
    from plugin.core.json_format import isoformat

    if value is None:
        return "-"
    if isinstance(value, datetime):
        return isoformat(value)
    return str(value)
