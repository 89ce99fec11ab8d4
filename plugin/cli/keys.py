"""``audience keys create|list|revoke``: API keys. A key is printed once, when
created (only its hash is kept); listed, it shows its id, role, bots, label
and when it was created, last used (to the minute) and revoked; revoked by its
id, it is refused from its next request on. The command line acts as an admin
of every bot: it holds the database itself."""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import TYPE_CHECKING

from plugin.cli.exits import EXIT_OK
from plugin.cli.output import print_table
from plugin.cli.running import with_database
from plugin.core.commands import CommandTable, Lazy, arg

if TYPE_CHECKING:
    from plugin.access.keys import Principal
    from plugin.db.database import Database

__all__ = ["commands"]

commands = CommandTable()
commands.group("keys", "manage API keys")


@commands.command(
    "keys create", "create a key and print it",
    arg("--role", required=True, choices=Lazy("plugin.access.keys:Role")),
    arg("--bot", action="append", required=True, dest="bots",
        type=Lazy("plugin.core.bot_ids:key_bot_argument"),
        help="a bot the key may touch; repeat for several, '*' for all"),
    arg("--label", default="", help="a note to recognise the key by"))
@with_database
async def create(db: Database, args: argparse.Namespace) -> int:
    # Imported here: see plugin.core.commands.
    from plugin.access.keys import create_key

    print(await create_key(db, args.role, args.bots, args.label))
    return EXIT_OK


@commands.command("keys list", "every key: id, role, bots, label, created, last used, revoked")
@with_database
async def list_keys(db: Database, args: argparse.Namespace) -> int:
    # Imported here: see plugin.core.commands.
    from plugin.access import keys

    rows = [["id", "role", "bots", "label", "created", "last_used", "revoked"]]
    for key in await keys.list_keys(db, _every_bot_admin()):
        rows.append([key.id, str(key.role), ",".join(key.bots), key.label or "-",
                     _when(key.created_at), _when(key.last_used_at), _when(key.revoked_at)])
    print_table(rows)
    return EXIT_OK


@commands.command("keys revoke", "revoke a key: it is refused from its next request on",
                  arg("key", help="its id, as 'keys list' shows it"))
@with_database
async def revoke(db: Database, args: argparse.Namespace) -> int:
    # Imported here: see plugin.core.commands.
    from plugin.access import keys

    revoked = await keys.revoke_key(db, _every_bot_admin(), args.key)
    print(f"revoked key {revoked.id} ({revoked.role} of {','.join(revoked.bots)})")
    return EXIT_OK


def _every_bot_admin() -> Principal:
    """The command line holds the database itself: an admin of every bot."""
    from plugin.access.keys import ALL_BOTS, Principal, Role

    return Principal(Role.ADMIN, frozenset({ALL_BOTS}))


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.strftime("%Y-%m-%d %H:%M")
