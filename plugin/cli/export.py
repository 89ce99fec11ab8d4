"""``audience export`` and ``audience import``, run in this process straight
on the database (no server needed).

``export`` writes the audience of a segment or a filter to CSV or XLSX with
a progress bar on stderr; the file is written beside ``-o`` and renamed into
place when complete. ``import`` reads a CSV or XLSX file with the same
checks as the API (see :mod:`plugin.transfer.imports`), shows a bar while it
validates and writes, and prints the report; exit status 1 when it rejected
rows. Files that cannot be read or written are reported before the database
is opened.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from plugin.cli.exits import EXIT_FAILED, EXIT_OK
from plugin.cli.filters import FILTER_ARGUMENTS, filter_from_args, with_segment_ids
from plugin.cli.output import progress_bar
from plugin.cli.running import on_database
from plugin.core import constants as c
from plugin.core.commands import BOT_ID, CommandTable, Lazy, arg
from plugin.core.errors import InvalidRequest

if TYPE_CHECKING:
    from plugin.core.settings import Settings
    from plugin.db.database import Database

__all__ = ["commands"]

_REJECTIONS_SHOWN = 50

commands = CommandTable()


@commands.command(
    "export", "write a segment's or a filter's users to CSV or XLSX",
    arg("--bot", required=True, type=BOT_ID),
    arg("--segment", default=None, help="its name (or id)"),
    *FILTER_ARGUMENTS,
    arg("--format", choices=Lazy("plugin.transfer.writers:FORMATS"), default=None,
        help="default: from the file name, else csv"),
    arg("--column", dest="columns", action="append", default=None,
        help="a column (property); repeatable; default: the usual ones and every custom "
             "property"),
    arg("--limit", type=int, default=None,
        help=f"at most this many rows (default: all, up to {c.EXPORT_MAX_ROWS:,} unless "
             "AUDIENCE_EXPORT_MAX_ROWS says)"),
    arg("-o", "--output", required=True, metavar="FILE"),
    description="Conditions as for `audience query`: --where 'age gt 17' --expr '1'.")
def export(args: argparse.Namespace, settings: Settings) -> int:
    if args.segment and (args.where or args.expr or args.filter):
        raise InvalidRequest("give either --segment or --where/--expr/--filter, not both")
    filter_ = None if args.segment else filter_from_args(args)
    maximum = settings.export_max_rows
    limit = args.limit if args.limit is not None else maximum
    if not 0 < limit <= maximum:
        raise InvalidRequest(f"--limit is between 1 and {maximum}")
    output = Path(args.output)
    if output.is_dir():
        raise InvalidRequest(f"-o {output} is a folder: name the file to write")
    if not output.parent.is_dir():
        raise InvalidRequest(f"-o {output}: there is no folder {output.parent}")
    fmt = args.format or ("xlsx" if output.suffix.lower() == ".xlsx" else "csv")
    return on_database(settings, lambda db: _export(db, args, filter_, fmt, limit))


async def _export(db: Database, args: argparse.Namespace, filter_: dict[str, Any] | None,
                  fmt: str, limit: int) -> int:
    # Imported here: see plugin.core.commands.
    from plugin.audience.profile_store import ProfileStore
    from plugin.audience.spec import find_segment, resolve_audience
    from plugin.transfer import export as exporting
    from plugin.transfer import writers

    if filter_ is None:
        segment = await find_segment(db, args.bot, args.segment)
        spec: dict[str, Any] = {"segment": segment["_id"]}
    else:
        spec = {"filter": await with_segment_ids(db, args.bot, filter_)}
    columns = await exporting.export_columns(db, args.bot, args.columns)
    _, query = await resolve_audience(db, args.bot, spec)
    total = min(await ProfileStore.of(db).count_profiles(query), limit)
    bar = _Bar(total, sys.stderr)
    partial = args.output + ".part"
    rows = exporting.profile_rows(db, query, columns, total, for_xlsx=fmt == "xlsx")
    try:
        out = await asyncio.to_thread(open, partial, "wb")
    except OSError as exc:
        raise InvalidRequest(f"cannot write {partial}: {exc.strerror}") from None
    try:
        with out:
            written = await writers.write_rows(fmt, out, columns, rows, bar.show)
        await asyncio.to_thread(os.replace, partial, args.output)
    finally:
        with contextlib.suppress(FileNotFoundError):
            await asyncio.to_thread(os.remove, partial)
    bar.show(written, final=True)
    print(f"{args.output}: {written} rows, {len(columns)} columns ({fmt})")
    return EXIT_OK


class _Bar:
    """A progress bar over ``total`` items; with no total (0), a running count."""

    def __init__(self, total: int, out: TextIO, unit: str = "rows") -> None:
        self.total, self.out, self.unit = total, out, unit

    def show(self, done: int, *, final: bool = False) -> bool:
        if not self.total:
            line = f"{done} {self.unit}"
        else:
            line = f"{progress_bar(done, self.total)} {self.unit}"
        tty = self.out.isatty()
        self.out.write(("\r" if tty else "") + line + ("\n" if final or not tty else ""))
        self.out.flush()
        return True


@commands.command(
    "import", "set properties from a CSV or XLSX file",
    arg("file"),
    arg("--bot", required=True, type=BOT_ID),
    arg("--key", choices=Lazy("plugin.transfer.imports:KEYS"), default="user_id"),
    arg("--map", dest="mapping", action="append", default=[], metavar="COLUMN=PROPERTY",
        help="repeatable; PROPERTY may be 'ignore'; unmapped columns are ignored"),
    arg("--dry-run", action="store_true", help="report, write nothing"),
    arg("--update-all-matches", action="store_true",
        help="a row whose --key (email or phone) several users share updates them all "
             "(default: it is rejected as ambiguous and none of them changes)"),
    description="Without --map, prints the mapping proposed from the header and changes "
                "nothing. Every row is checked before anything is written.")
def import_(args: argparse.Namespace, settings: Settings) -> int:
    path = Path(args.file)
    mapping: dict[str, str] | None = None
    if args.mapping:
        mapping = {}
        for item in args.mapping:
            column, sep, prop = item.partition("=")
            if not sep or not column or not prop:
                raise InvalidRequest(f"--map {item!r}: write COLUMN=PROPERTY")
            mapping[column] = prop
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidRequest(f"cannot read {path}: {exc.strerror}") from None
    return on_database(settings, lambda db: _import(db, args, path.name, data, mapping))


async def _import(db: Database, args: argparse.Namespace, filename: str, data: bytes,
                  mapping: dict[str, str] | None) -> int:
    # Imported here: see plugin.core.commands.
    from plugin.transfer import imports as importing

    bar = _Bar(0, sys.stderr, "users written")

    async def progress(users: int) -> bool:
        return bar.show(users)

    report = await importing.run_import(db, args.bot, data, filename, mapping, args.key,
                                        args.dry_run, progress,
                                        update_all_matches=args.update_all_matches)
    if mapping is not None and not args.dry_run:
        bar.show(report["created"] + report["updated"], final=True)
    print(f"{filename}: {report['format']}"
          + (f", {report['encoding']}, delimiter {report['delimiter']!r}"
             if report["format"] == "csv" else "") + f", {report['rows']} rows")
    if mapping is None:
        print("proposed mapping (pass it with --map COLUMN=PROPERTY …):")
        for column, prop in report["proposed_mapping"].items():
            print(f"  {column} = {prop}")
        return EXIT_OK
    print(("dry run, nothing written: " if args.dry_run else "")
          + f"created {report['created']}, updated {report['updated']}, "
          f"unchanged {report['unchanged']}, rejected {report['rejected']}"
          + (f" ({report['ambiguous']} ambiguous)" if report["ambiguous"] else ""))
    for rejection in report["rejections"][:_REJECTIONS_SHOWN]:
        print(f"  row {rejection['row']}, {rejection['column'] or '-'}: {rejection['reason']}")
    if len(report["rejections"]) > _REJECTIONS_SHOWN:
        print(f"  … {len(report['rejections']) - _REJECTIONS_SHOWN} more")
    return EXIT_OK if not report["rejected"] else EXIT_FAILED
