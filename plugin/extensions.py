"""The one plugin seam: packages that add to an Audience server.

A connector package (the dummy channel with the reference runtime, a Rasa
adapter, …) declares an entry point in the ``audience.extensions`` group whose
value is a factory returning an :class:`Extension`. Every ``audience`` call
loads them (commands of their own, ``audience simulate``, fit the same
dispatcher as the built-in ones); ``audience serve`` lets them add options and
installs them into the app. ``plugin`` itself imports none of them.

Loading happens for ``audience --help`` too, so an extension's module, like
this one, imports aiohttp, the database and its runtime only inside the hooks
that run the server or a command.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

from plugin.core.commands import Record

if TYPE_CHECKING:
    from aiohttp import web

__all__ = ["Extension", "GROUP", "load_extensions"]

GROUP = "audience.extensions"
log = logging.getLogger(__name__)


class Extension:
    """A base whose every hook does nothing: an extension overrides the ones it needs."""

    name: str = ""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Add this extension's options to ``audience serve`` and ``audience demo``."""

    def commands(self) -> Sequence[Record]:
        """Commands of its own (``audience simulate``), as records
        (:mod:`plugin.core.commands`): the dispatcher gives each ``--data-dir``
        and ``--db-name``, runs its handler and turns its errors into exit
        statuses as for the built-in commands."""
        return ()

    def add_commands(self, commands: argparse._SubParsersAction[argparse.ArgumentParser],
                     data_options: argparse.ArgumentParser) -> None:
        """Add commands straight to argparse, for extensions written before
        :meth:`commands`. A command's parser sets ``run_command=fn(args,
        settings) -> exit status`` as a default; ``data_options`` is the parent
        parser holding ``--data-dir``/``--db-name``."""

    def configure(self, args: argparse.Namespace) -> None:
        """Take the parsed options."""

    def install(self, app: web.Application) -> None:
        """Add routes, cleanup contexts and connectors to the app before it starts."""

    async def demo(self, app: web.Application, base_url: str, api_key: str) -> list[str]:
        """For ``audience demo``: make demo traffic; return lines to show the user."""
        return []


def load_extensions() -> list[Extension]:
    found: list[Extension] = []
    for entry in sorted(entry_points(group=GROUP), key=lambda e: e.name):
        factory = entry.load()
        found.append(factory())
        log.debug("extension %s from %s", entry.name, entry.value)
    return found
