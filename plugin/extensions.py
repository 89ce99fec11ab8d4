"""The one plugin seam: packages that add to an Audience server.

A connector package (the dummy channel with the reference runtime, a Rasa
adapter, …) declares an entry point in the ``audience.extensions`` group whose
value is a factory returning an :class:`Extension`. ``audience serve`` finds
them, lets them add command-line options, and installs them into the app.
``plugin`` itself imports none of them.
"""

from __future__ import annotations

import argparse
import logging
from importlib.metadata import entry_points

from aiohttp import web

__all__ = ["Extension", "GROUP", "load_extensions"]

GROUP = "audience.extensions"
log = logging.getLogger(__name__)


class Extension:
    """A base whose every hook does nothing: an extension overrides the ones it needs."""

    name: str = ""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Add this extension's options to ``audience serve`` and ``audience demo``."""

    def add_commands(self, commands: argparse._SubParsersAction[argparse.ArgumentParser],
                     data_options: argparse.ArgumentParser) -> None:
        """Add commands of its own (``audience simulate``). A command's parser sets
        ``run_command=fn(args, settings) -> exit status`` as a default;
        ``data_options`` is the parent parser holding ``--data-dir``/``--db-name``."""

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
