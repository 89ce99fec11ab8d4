"""The ``audience`` command line.

Every command that touches data takes ``--data-dir`` (or ``MONGODB_URI``) and
works on the same deployment as a running ``audience serve`` given the same
one: the embedded database is shared, not opened twice.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Sequence

from aiohttp import web

from . import events as ev
from .app import create_app
from .constants import DEFAULT_DATA_DIR
from .errors import AudienceError
from .keys import ALL_BOTS, Role, create_key
from .settings import Settings
from .store import Store

__all__ = ["main"]

DEMO_BOT = "demo"


def _parser() -> argparse.ArgumentParser:
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

    keys = commands.add_parser("keys", help="manage API keys")
    key_commands = keys.add_subparsers(dest="keys_command", required=True)
    create = key_commands.add_parser("create", parents=[data], help="create a key and print it")
    create.add_argument("--role", required=True, choices=[str(r) for r in Role])
    create.add_argument("--bot", action="append", required=True, dest="bots",
                        help=f"a bot the key may touch; repeat for several, '{ALL_BOTS}' for all")
    create.add_argument("--label", default="", help="a note to recognise the key by")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings.from_env(
        data_dir=args.data_dir, db_name=args.db_name,
        host=getattr(args, "host", None), port=getattr(args, "port", None),
    )
    try:
        if args.command in ("serve", "demo"):
            asyncio.run(_serve(settings, demo=args.command == "demo"))
        elif args.command == "keys":
            print(asyncio.run(_create_key(settings, args.role, args.bots, args.label)))
    except AudienceError as exc:
        print(f"audience: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


async def _create_key(settings: Settings, role: str, bots: list[str], label: str) -> str:
    store = await Store.open(settings)
    try:
        return await create_key(store, role, bots, label)
    finally:
        await store.close()


async def _serve(settings: Settings, *, demo: bool) -> None:
    store = await Store.open(settings)
    runner = web.AppRunner(create_app(settings, store))
    try:
        await runner.setup()
        site = web.TCPSite(runner, settings.host, settings.port)
        await site.start()
        host, port = runner.addresses[0][:2]
        url = f"http://{host}:{port}"
        print(f"Audience is serving on {url}  (health: {url}/health, API: {url}/openapi.json)")
        if demo:
            key = await create_key(store, Role.ADMIN, [ALL_BOTS], label="demo")
            await _seed_demo_traffic(store)
            print(f"Admin API key: {key}")
            profile_url = f"{url}/v1/bots/{DEMO_BOT}/users/alice"
            print(f"Try: curl -H 'Authorization: Bearer {key}' {profile_url}")
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


async def _seed_demo_traffic(store: Store) -> None:
    """A short conversation, captured like real traffic, so the API has something to show."""
    b, u = DEMO_BOT, "alice"
    meta = {"channel": "web", "source": "demo"}
    await store.ingest([
        ev.user_message(b, u, "hi", event_id="demo-1", **meta),
        ev.module_entered(b, u, "welcome", event_id="demo-2", **meta),
        ev.bot_message(b, u, "Hello! What's your email?", event_id="demo-3",
                       quick_replies=[{"title": "Skip", "payload": "skip"}], **meta),
        ev.user_message(b, u, "alice@example.com", event_id="demo-4", **meta),
        ev.property_set(b, u, "email", "alice@example.com", event_id="demo-5", **meta),
        ev.bot_message(b, u, "Thanks! Want to see our plans?", event_id="demo-6",
                       buttons=[{"title": "Show plans", "payload": "plans"}], **meta),
    ])
