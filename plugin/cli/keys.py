"""``audience keys create``: an API key, printed once (only its hash is kept)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from plugin.cli.exits import EXIT_OK
from plugin.cli.running import with_database
from plugin.core.commands import CommandTable, Lazy, arg

if TYPE_CHECKING:
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
