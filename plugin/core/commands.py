"""Commands as data: what each ``audience`` command is called, what it takes and
which function runs it, declared the way aiohttp declares routes. Shared by
the built-in commands (:mod:`plugin.cli`) and by extensions
(``Extension.commands``), so it lives below both.

A command module keeps a :class:`CommandTable` and decorates its handlers::

    commands = CommandTable()
    commands.group("keys", "manage API keys")

    @commands.command("keys create", "create a key and print it",
                      arg("--role", required=True, choices=Lazy("plugin.access.keys:Role")))
    def create(args: argparse.Namespace, settings: Settings) -> int:
        ...

Nothing reaches argparse until :mod:`plugin.cli.main` adds the tables; a
command's own options are added only when that command is parsed or its help
is shown. A handler takes the parsed options and the settings and returns the
exit status (:mod:`plugin.cli.exits`); it reports a mistake by raising an
:class:`~plugin.core.errors.AudienceError`.

Every ``audience`` call, ``--help`` included, imports every command module
(and every extension's), so at their top command modules import only the
standard library, this module, :mod:`plugin.cli`'s exits, filters, output and
running modules, and :mod:`plugin.core`'s errors, settings and constants.
Handlers import the database, the web server and the services when they run,
and an option whose choices live in such a module names them with
:class:`Lazy`.

This module imports nothing of Audience at run time.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, overload

if TYPE_CHECKING:
    from plugin.core.settings import Settings

__all__ = ["BOT_ID", "Arg", "Command", "CommandTable", "Group", "Handler", "Lazy", "Record", "arg",
           "int_between"]

Handler = Callable[[argparse.Namespace, "Settings"], int]


@dataclass(frozen=True, slots=True)
class Lazy:
    """A value imported from ``"module:name"`` when its command's parser is built;
    for ``choices``, an iterable whose items are offered as text."""

    target: str

    def load(self) -> Any:
        module, _, name = self.target.partition(":")
        return getattr(importlib.import_module(module), name)


@dataclass(frozen=True, slots=True)
class Arg:
    """One ``add_argument`` call. ``signed``: the value may start with ``-``
    (``--sort -message_count``), which argparse would otherwise take for an option."""

    flags: tuple[str, ...]
    options: Mapping[str, Any]
    signed: bool = False

    def add_to(self, parser: argparse.ArgumentParser) -> None:
        options = dict(self.options)
        for key, value in options.items():
            if isinstance(value, Lazy):
                loaded = value.load()
                options[key] = [str(v) for v in loaded] if key == "choices" else loaded
        parser.add_argument(*self.flags, **options)


# The ``type`` of every option that names a bot (``--bot``): the one bot-id rule.
BOT_ID = Lazy("plugin.core.bot_ids:bot_id_argument")


def arg(*flags: str, signed: bool = False, **options: Any) -> Arg:
    """An option or positional, with ``add_argument``'s keywords."""
    return Arg(flags, options, signed)


def int_between(low: int, high: int) -> Callable[[str], int]:
    """An argparse ``type``: a whole number from ``low`` to ``high``, both included."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low} and {high}, not {value}")
        return value

    return parse


@dataclass(frozen=True, slots=True)
class Group:
    """A word that only leads to commands (``audience segments …``)."""

    path: tuple[str, ...]
    help: str


@dataclass(frozen=True, slots=True)
class Command:
    """A command: the words that name it, what it takes, and its handler.

    ``extension_options``: extensions add their options to it
    (``Extension.add_arguments``: ``serve --bot FILE``). ``data_dir_help``:
    what ``--data-dir`` means for it, when not the deployment's database
    (``simulate`` runs in memory unless given one).
    """

    path: tuple[str, ...]
    help: str
    handler: Handler
    arguments: tuple[Arg, ...] = ()
    description: str | None = None
    extension_options: bool = False
    data_dir_help: str | None = None

    @property
    def signed_flags(self) -> frozenset[str]:
        return frozenset(f for a in self.arguments if a.signed for f in a.flags)


Record = Group | Command


class CommandTable(Sequence[Record]):
    """The commands of one module, in the order declared; a group before its commands."""

    def __init__(self) -> None:
        self._records: list[Record] = []

    def group(self, path: str, help: str) -> None:
        self._records.append(Group(tuple(path.split()), help))

    def command(self, path: str, help: str, *arguments: Arg, description: str | None = None,
                extension_options: bool = False,
                data_dir_help: str | None = None) -> Callable[[Handler], Handler]:
        """Register the decorated function as the handler of ``path`` (its words)."""

        def register(handler: Handler) -> Handler:
            self._records.append(Command(tuple(path.split()), help, handler, arguments,
                                         description, extension_options, data_dir_help))
            return handler

        return register

    @overload
    def __getitem__(self, index: int) -> Record: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Record]: ...

    def __getitem__(self, index: int | slice) -> Record | Sequence[Record]:
        return self._records[index]

    def __len__(self) -> int:
        return len(self._records)

    def __iter__(self) -> Iterator[Record]:
        return iter(self._records)
