"""The audience command line.

Every command that touches data takes ``--data-dir`` (or ``MONGODB_URI``) and
works on the same deployment as a running ``audience serve`` given the same
one: the embedded database is shared, not opened twice.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from aiohttp import web

from plugin.access.keys import ALL_BOTS, Role, create_key
from plugin.audience import query as audience
from plugin.cli import bulk as cli_bulk
from plugin.cli import export as cli_export
from plugin.cli import webhooks as cli_webhooks
from plugin.core.constants import DEFAULT_DATA_DIR
from plugin.core.errors import AudienceError, InvalidRequest
from plugin.core.json_format import isoformat
from plugin.core.settings import Settings
from plugin.db.store import Store
from plugin.extensions import Extension, load_extensions
from plugin.http.app import create_app

__all__ = ["main"]


def _parser(extensions: Sequence[Extension]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="audience", description=__doc__.splitlines()[0])
    data = argparse.ArgumentParser(add_help=False)
    data.add_argument("--data-dir", default=None,
                      help=f"embedded database directory (default {DEFAULT_DATA_DIR}; "
                           "':memory:' for a throw-away one); ignored when MONGODB_URI is set")
    data.add_argument("--db-name", default=None, help="database name (default audience)")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", parents=[data], help="run the HTTP API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)

    demo = commands.add_parser("demo", parents=[data],
                               help="serve with a demo bot's traffic and print an admin key")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8080)
    for extension in extensions:
        extension.add_arguments(serve)
        extension.add_arguments(demo)
        extension.add_commands(commands, data)

    query = commands.add_parser(
        "query", parents=[data], help="count and list the users matching a filter",
        description="Conditions are numbered in the order given: --where 'email is_set' "
                    "--where 'phone is_set' --expr '1 or 2'. A condition's value is read as "
                    "JSON when it parses (numbers, lists, {\"amount\": 7, \"unit\": \"days\"}), "
                    "as text otherwise.")
    query.add_argument("--bot", required=True)
    query.add_argument("--where", action="append", default=[],
                       metavar="'PROPERTY OPERATOR [VALUE]'")
    query.add_argument("--expr", default=None, help="e.g. '1 or 2', '(A and B) or C'")
    query.add_argument("--filter", type=argparse.FileType("r"), default=None,
                       help="a JSON file holding {conditions, expression} instead of --where")
    query.add_argument("--sort", default=audience.DEFAULT_SORT)
    query.add_argument("--limit", type=int, default=20)

    cli_bulk.add_commands(commands, data)
    cli_export.add_commands(commands, data)
    cli_webhooks.add_commands(commands, data)

    keys = commands.add_parser("keys", help="manage API keys")
    key_commands = keys.add_subparsers(dest="keys_command", required=True)
    create = key_commands.add_parser("create", parents=[data], help="create a key and print it")
    create.add_argument("--role", required=True, choices=[str(r) for r in Role])
    create.add_argument("--bot", action="append", required=True, dest="bots",
                        help=f"a bot the key may touch; repeat for several, '{ALL_BOTS}' for all")
    create.add_argument("--label", default="", help="a note to recognise the key by")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    extensions = load_extensions()
    args = _parser(extensions).parse_args(argv)
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings.from_env(
        data_dir=args.data_dir, db_name=args.db_name,
        host=getattr(args, "host", None), port=getattr(args, "port", None),
    )
    try:
        if args.command == "demo":
            # The demo's own traffic would bury what it prints.
            for noisy in ("aiohttp.access", "runtime"):
                logging.getLogger(noisy).setLevel(logging.WARNING)
        if args.command in ("serve", "demo"):
            for extension in extensions:
                extension.configure(args)
            asyncio.run(_serve(settings, extensions, demo=args.command == "demo"))
        elif args.command == "query":
            filter_ = _filter_from_args(args)
            print(asyncio.run(_query(settings, args.bot, filter_, args.sort, args.limit)))
        elif args.command == "keys":
            print(asyncio.run(_create_key(settings, args.role, args.bots, args.label)))
        elif hasattr(args, "run_command"):
            return int(args.run_command(args, settings))
    except AudienceError as exc:
        print(f"audience: {exc.message}", file=sys.stderr)
        return 2 if isinstance(exc, InvalidRequest) else 1
    except KeyboardInterrupt:
        return 130
    return 0


def _filter_from_args(args: argparse.Namespace) -> dict[str, Any]:
    if args.filter is not None:
        if args.where or args.expr:
            raise InvalidRequest("give either --filter or --where/--expr, not both")
        try:
            loaded = json.load(args.filter)
        except json.JSONDecodeError as exc:
            raise InvalidRequest(f"{args.filter.name} is not JSON: {exc}") from None
        if not isinstance(loaded, dict):
            raise InvalidRequest(f"{args.filter.name} must hold a JSON object")
        return loaded
    return {"conditions": [_condition(text, n) for n, text in enumerate(args.where, 1)],
            "expression": args.expr}


def _condition(text: str, number: int) -> dict[str, Any]:
    parts = text.split(None, 2)
    if len(parts) < 2:
        raise InvalidRequest(f"--where {number} ({text!r}) needs a property and an operator")
    condition: dict[str, Any] = {"property": parts[0], "operator": parts[1]}
    if len(parts) == 3:
        try:
            condition["value"] = json.loads(parts[2])
        except json.JSONDecodeError:
            condition["value"] = parts[2]
    return condition


async def _query(settings: Settings, bot_id: str, filter_: dict[str, Any], sort: str,
                 limit: int) -> str:
    if not 1 <= limit <= 500:
        raise InvalidRequest("--limit must be between 1 and 500")
    store = await Store.open(settings)
    try:
        page = await audience.query_audience(store, bot_id, filter_, sort=sort, limit=limit)
    finally:
        await store.close()
    used = [c.get("property") for c in filter_.get("conditions", []) if isinstance(c, dict)]
    return f"Total: {page.total}\n" + _table(page.users, used)


def _table(users: list[dict[str, Any]], extra: list[Any]) -> str:
    columns = ["user_id", "channel", "current_module", "last_message_at", "message_count"]
    columns += [p for p in dict.fromkeys(extra) if isinstance(p, str) and p not in columns]
    rows = [[_cell(u.get(c, u["attributes"].get(c))) for c in columns] for u in users]
    widths = [max([len(c)] + [len(r[i]) for r in rows]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(line.rstrip() for line in lines)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return isoformat(value)
    return str(value)


async def _create_key(settings: Settings, role: str, bots: list[str], label: str) -> str:
    store = await Store.open(settings)
    try:
        return await create_key(store, role, bots, label)
    finally:
        await store.close()


async def _serve(settings: Settings, extensions: Sequence[Extension], *, demo: bool) -> None:
    store = await Store.open(settings)
    app = create_app(settings, store, extensions)
    runner = web.AppRunner(app)
    try:
        await runner.setup()
        site = web.TCPSite(runner, settings.host, settings.port)
        await site.start()
        host, port = runner.addresses[0][:2]
        url = f"http://{host}:{port}"
        print(f"Audience is serving on {url}  (health: {url}/health, API: {url}/openapi.json)")
        if demo:
            key = await create_key(store, Role.ADMIN, [ALL_BOTS], label="demo")
            print(f"Admin API key: {key}")
            for extension in extensions:
                for line in await extension.demo(app, url, key):
                    print(line)
        print("Press Ctrl-C to stop.", flush=True)
        await _until_signalled()
    finally:
        await runner.cleanup()
        await store.close()


async def _until_signalled() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError):
                loop.remove_signal_handler(sig)
