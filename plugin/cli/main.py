"""The ``audience`` command line: one dispatcher for every command.

Commands are records (:mod:`plugin.core.commands`) declared by one module
per group — serve and demo, query, keys, segments, broadcast, export and
import, webhooks — and by extensions (``Extension.commands``). :func:`main`
builds argparse from them, runs the chosen command's handler and turns what it
raises into the exit status (:mod:`plugin.cli.exits`): 0 done, 1 failed, 2 a
mistake on the command line, reported as one line ``audience: <message>``.

Every command takes ``--data-dir`` (or ``MONGODB_URI``) and works on the same
deployment as a running ``audience serve`` given the same one: the embedded
database is shared, not opened twice.

``audience --help`` imports this module, the command modules and the
extensions' modules; none of them imports aiohttp, pymongo or xlsxwriter at its
top (see :mod:`plugin.core.commands`), so the help shows at once.
"""

from __future__ import annotations

import argparse
import functools
import logging
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from plugin.cli import bulk, export, keys, query, segments, serve, webhooks
from plugin.cli.exits import EXIT_USAGE, report
from plugin.core.commands import Command, Group, Record
from plugin.core.constants import DEFAULT_DATA_DIR, MEMORY
from plugin.core.errors import AudienceError, InvalidRequest
from plugin.core.settings import Settings
from plugin.extensions import Extension, load_extensions

__all__ = ["BUILT_IN", "build_parser", "main"]

BUILT_IN: tuple[Sequence[Record], ...] = (
    serve.commands, query.commands, segments.commands, bulk.commands, export.commands,
    webhooks.commands, keys.commands,
)
_DESCRIPTION = ("Capture what chatbots do into one profile per user; query, segment, export "
                "and act on those users.")
_COMMAND = "audience_command"  # where the parsed options keep the chosen Command
_INTERRUPTED = 130  # as a shell reports a process stopped by Ctrl-C


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``audience`` with ``argv`` (default: the process's arguments); the exit status."""
    extensions = load_extensions()
    records = [r for table in BUILT_IN for r in table]
    records += [r for extension in extensions for r in extension.commands()]
    try:
        args = build_parser(records, extensions).parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error argparse has reported
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    command: Command | None = getattr(args, _COMMAND, None)
    # As given: `serve --workers N` runs the same command line again in each worker.
    args.command_line = list(sys.argv[1:] if argv is None else argv)
    # Warnings only, so that what a command prints is all there is and a mistake
    # is one line; a server turns INFO on once it is up (running.log_progress).
    logging.basicConfig(level=logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    handler: Callable[[argparse.Namespace, Settings], int] = (
        command.handler if command is not None else args.run_command)
    try:
        return int(handler(args, _settings(args)))
    except AudienceError as exc:
        return report(exc)
    except KeyboardInterrupt:
        return _INTERRUPTED


def build_parser(records: Iterable[Record], extensions: Sequence[Extension] = (),
                 ) -> argparse.ArgumentParser:
    """argparse for ``records`` (each group before its commands) and for the
    commands ``extensions`` add straight to argparse."""
    parser = _Parser(prog="audience", description=_DESCRIPTION)
    levels: dict[tuple[str, ...], argparse._SubParsersAction[argparse.ArgumentParser]] = {
        (): _subcommands(parser, "command")}
    for record in records:
        siblings = levels.get(record.path[:-1])
        if siblings is None:
            raise ValueError(f"{' '.join(record.path)!r} is declared before its group")
        if isinstance(record, Group):
            group = siblings.add_parser(record.path[-1], help=record.help,
                                        description=record.help)
            levels[record.path] = _subcommands(group, "_".join((*record.path, "command")))
        else:
            fill = functools.partial(_fill, command=record, extensions=extensions)
            chosen = siblings.add_parser(record.path[-1], help=record.help,
                                         description=record.description or record.help,
                                         fill=fill, signed=record.signed_flags)
            chosen.set_defaults(**{_COMMAND: record})
    data = argparse.ArgumentParser(add_help=False)
    _add_data_options(data)
    for extension in extensions:
        extension.add_commands(levels[()], data)
    return parser


def _subcommands(parser: argparse.ArgumentParser,
                 dest: str) -> argparse._SubParsersAction[argparse.ArgumentParser]:
    # argparse makes the parsers it adds of the class of ``parser``: _Parser.
    return parser.add_subparsers(dest=dest, required=True, metavar="COMMAND")


def _fill(parser: argparse.ArgumentParser, *, command: Command,
          extensions: Sequence[Extension]) -> None:
    _add_data_options(parser, command.data_dir_help)
    for argument in command.arguments:
        argument.add_to(parser)
    if command.extension_options:
        for extension in extensions:
            extension.add_arguments(parser)


def _add_data_options(parser: argparse.ArgumentParser, data_dir_help: str | None = None) -> None:
    parser.add_argument("--data-dir", default=None,
                        help=data_dir_help or (
                            f"embedded database directory (default {DEFAULT_DATA_DIR}; "
                            "':memory:' for a throw-away one); ignored when MONGODB_URI is set"))
    parser.add_argument("--db-name", default=None, help="database name (default audience)")


def _settings(args: argparse.Namespace) -> Settings:
    settings = Settings.from_env(
        data_dir=getattr(args, "data_dir", None), db_name=getattr(args, "db_name", None),
        host=getattr(args, "host", None), port=getattr(args, "port", None))
    if settings.mongodb_uri is None and settings.data_dir != MEMORY:
        # The embedded database makes the folder; one under a file it cannot.
        path = Path(settings.data_dir)
        found = next((p for p in (path, *path.parents) if p.exists()), None)
        if found is not None and not found.is_dir():
            raise InvalidRequest(f"--data-dir {path}: {found} is a file, not a folder")
    return settings


class _Parser(argparse.ArgumentParser):
    """argparse that adds a command's own options only when that command is
    parsed or its help shown (``fill``), reads ``--sort -message_count`` as
    meant, and reports a usage error in one line."""

    def __init__(self, *args: Any, fill: Callable[[argparse.ArgumentParser], None] | None = None,
                 signed: frozenset[str] = frozenset(), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._fill = fill
        self._signed = signed

    def _filled(self) -> None:
        fill, self._fill = self._fill, None
        if fill is not None:
            fill(self)

    def parse_known_args(self, args: Sequence[str] | None = None,  # type: ignore[override]
                         namespace: argparse.Namespace | None = None,
                         ) -> tuple[argparse.Namespace, list[str]]:
        self._filled()
        if args is not None and self._signed:
            args = _glued(args, self._signed)
        return super().parse_known_args(args, namespace)

    def format_usage(self) -> str:
        self._filled()
        return super().format_usage()

    def format_help(self) -> str:
        self._filled()
        return super().format_help()

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"audience: {message} (see '{self.prog} --help')\n")


def _glued(args: Sequence[str], signed: frozenset[str]) -> list[str]:
    """``--sort -message_count`` as ``--sort=-message_count``: argparse takes a
    separate value starting with ``-`` for an option, and says one is missing."""
    out: list[str] = []
    rest = iter(args)
    for item in rest:
        if item == "--":
            out += [item, *rest]
            break
        if item in signed:
            value = next(rest, None)
            if value is None:
                out.append(item)
            elif value.startswith("-") and not value.startswith("--") and value != "-h":
                out.append(f"{item}={value}")
            else:
                out += [item, value]
            continue
        out.append(item)
    return out
