"""Running a command on the deployment's database: open it, run, close it.

The database is the one ``audience serve`` uses with the same ``--data-dir``
(or ``MONGODB_URI``): the embedded server is shared, not started twice.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from plugin.core.commands import Handler

if TYPE_CHECKING:
    from plugin.core.settings import Settings
    from plugin.db.database import Database

__all__ = ["log_progress", "on_database", "with_database"]


def on_database(settings: Settings, work: Callable[[Database], Awaitable[int]]) -> int:
    """Run ``work(db)`` on the deployment's database; its exit status."""
    return asyncio.run(_on_database(settings, work))


def with_database(command: Callable[[Database, argparse.Namespace], Awaitable[int]]) -> Handler:
    """A handler that runs ``command(db, args)`` on the deployment's database."""

    @functools.wraps(command)
    def run(args: argparse.Namespace, settings: Settings) -> int:
        return on_database(settings, lambda db: command(db, args))

    return run


def log_progress() -> None:
    """Log at INFO from now on: for a server or consumer that has started.
    Until then every command logs warnings only, so that a mistake found while
    starting (a port in use) is the one line on stderr."""
    logging.getLogger().setLevel(logging.INFO)


async def _on_database(settings: Settings, work: Callable[[Database], Awaitable[int]]) -> int:
    # Imported here: command modules, which use this one, are imported for
    # `audience --help` (see plugin.core.commands).
    from plugin.db.database import Database

    db = await Database.open(settings)
    try:
        return await work(db)
    finally:
        await db.close()
