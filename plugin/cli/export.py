"""``audience export`` and ``audience import``, run in this process straight
on the store (no server needed).

``export`` writes the audience of a segment or a filter to CSV or XLSX with
a progress bar on stderr; the file is written beside ``-o`` and renamed into
place when complete. ``import`` reads a CSV or XLSX file with the same
checks as the API (see :mod:`plugin.transfer.imports`), shows a bar while it
validates and writes, and prints the report.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from pathlib import Path
from typing import Any

from plugin.core import constants as c
from plugin.core.errors import InvalidRequest
from plugin.db.store import Store
from plugin.jobs import actions as bulk
from plugin.transfer import export as exporting
from plugin.transfer import imports as importing

__all__ = ["add_commands"]

_BAR_WIDTH = 30


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser],
                 data: argparse.ArgumentParser) -> None:
    from plugin.cli.bulk import sync_command

    export = commands.add_parser(
        "export", parents=[data], help="write a segment's or a filter's users to CSV or XLSX",
        description="Conditions as for `audience query`: --where 'age gt 17' --expr '1'.")
    export.add_argument("--bot", required=True)
    export.add_argument("--segment", default=None, help="its name (or id)")
    export.add_argument("--where", action="append", default=[],
                        metavar="'PROPERTY OPERATOR [VALUE]'")
    export.add_argument("--expr", default=None)
    export.add_argument("--filter", type=argparse.FileType("r"), default=None)
    export.add_argument("--format", choices=sorted(exporting.FORMATS), default=None,
                        help="default: from the file name, else csv")
    export.add_argument("--column", dest="columns", action="append", default=None,
                        help="a column (property); repeatable; default: the usual ones and "
                             "every custom property")
    export.add_argument("--limit", type=int, default=None,
                        help=f"at most this many rows (default: all, up to "
                             f"{c.EXPORT_MAX_ROWS:,} unless AUDIENCE_EXPORT_MAX_ROWS says)")
    export.add_argument("-o", "--output", required=True)
    export.set_defaults(run_command=sync_command(_export))

    load = commands.add_parser(
        "import", parents=[data], help="set properties from a CSV or XLSX file",
        description="Without --map, prints the mapping proposed from the header and changes "
                    "nothing. Every row is checked before anything is written.")
    load.add_argument("file")
    load.add_argument("--bot", required=True)
    load.add_argument("--key", choices=importing.KEYS, default="user_id")
    load.add_argument("--map", dest="mapping", action="append", default=[],
                      metavar="COLUMN=PROPERTY", help="repeatable; PROPERTY may be 'ignore'; "
                                                      "unmapped columns are ignored")
    load.add_argument("--dry-run", action="store_true", help="report, write nothing")
    load.set_defaults(run_command=sync_command(_import))


async def _export(store: Store, args: argparse.Namespace) -> int:
    from plugin.cli.main import (
        _filter_from_args,  # the `audience query` options, parsed the same way
    )
    from plugin.core.settings import Settings

    if args.segment and (args.where or args.filter):
        raise InvalidRequest("give either --segment or --where/--expr/--filter, not both")
    if args.segment:
        segment = await bulk.find_segment_by_name(store, args.bot, args.segment)
        spec: dict[str, Any] = {"segment": segment["_id"]}
    else:
        spec = {"filter": _filter_from_args(args)}
    fmt = args.format or ("xlsx" if args.output.lower().endswith(".xlsx") else "csv")
    maximum = Settings.from_env().export_max_rows
    limit = args.limit if args.limit is not None else maximum
    if not 0 < limit <= maximum:
        raise InvalidRequest(f"--limit is between 1 and {maximum}")
    columns = await exporting.export_columns(store, args.bot, args.columns)
    _, query = await bulk.resolve_audience(store, args.bot, spec)
    total = min(await store.count_profiles(query), limit)
    bar = _Bar(total, sys.stderr)
    partial = args.output + ".part"
    rows = exporting.profile_rows(store, query, columns, total, for_xlsx=fmt == "xlsx")
    out = await asyncio.to_thread(open, partial, "wb")
    try:
        with out:
            written = await exporting.write_rows(fmt, out, columns, rows, bar.show)
        await asyncio.to_thread(os.replace, partial, args.output)
    finally:
        with contextlib.suppress(FileNotFoundError):
            await asyncio.to_thread(os.remove, partial)
    bar.show(written, final=True)
    print(f"{args.output}: {written} rows, {len(columns)} columns ({fmt})")
    return 0


class _Bar:
    """A progress bar over ``total`` items; with no total (0), a running count."""

    def __init__(self, total: int, out: Any, unit: str = "rows") -> None:
        self.total, self.out, self.unit = total, out, unit

    def show(self, done: int, *, final: bool = False) -> bool:
        if not self.total:
            line = f"{done} {self.unit}"
        else:
            filled = _BAR_WIDTH * done // self.total
            line = f"[{'#' * filled}{'.' * (_BAR_WIDTH - filled)}] {done}/{self.total} {self.unit}"
        tty = self.out.isatty()
        self.out.write(("\r" if tty else "") + line + ("\n" if final or not tty else ""))
        self.out.flush()
        return True


async def _import(store: Store, args: argparse.Namespace) -> int:
    path = Path(args.file)
    data = await asyncio.to_thread(path.read_bytes)
    mapping: dict[str, str] | None = None
    if args.mapping:
        mapping = {}
        for item in args.mapping:
            column, sep, prop = item.partition("=")
            if not sep or not column or not prop:
                raise InvalidRequest(f"--map {item!r}: write COLUMN=PROPERTY")
            mapping[column] = prop
    bar = _Bar(0, sys.stderr, "users written")

    async def progress(users: int) -> bool:
        return bar.show(users)

    report = await importing.run_import(store, args.bot, data, path.name, mapping, args.key,
                                        args.dry_run, progress)
    if mapping is not None and not args.dry_run:
        bar.show(report["created"] + report["updated"], final=True)
    print(f"{path.name}: {report['format']}"
          + (f", {report['encoding']}, delimiter {report['delimiter']!r}"
             if report["format"] == "csv" else "") + f", {report['rows']} rows")
    if mapping is None:
        print("proposed mapping (pass it with --map COLUMN=PROPERTY …):")
        for column, prop in report["proposed_mapping"].items():
            print(f"  {column} = {prop}")
        return 0
    print(("dry run, nothing written: " if args.dry_run else "")
          + f"created {report['created']}, updated {report['updated']}, "
          f"unchanged {report['unchanged']}, rejected {report['rejected']}")
    for rejection in report["rejections"][:50]:
        print(f"  row {rejection['row']}, {rejection['column'] or '-'}: {rejection['reason']}")
    if len(report["rejections"]) > 50:
        print(f"  … {len(report['rejections']) - 50} more")
    return 0 if not report["rejected"] else 1
