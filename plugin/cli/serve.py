"""``audience serve`` and ``audience demo``: the HTTP API, with what the
extensions add (``--bot FILE`` deploys a bot on the dummy channel), until
SIGINT or SIGTERM. ``--workers N`` runs N such servers on the port
(:mod:`plugin.cli.workers`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import logging
import os
import signal
import socket
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from plugin.cli.exits import EXIT_OK, CommandFailed
from plugin.cli.running import log_progress
from plugin.core.commands import CommandTable, arg, int_between

if TYPE_CHECKING:
    from aiohttp import web

    from plugin.core.settings import Settings
    from plugin.extensions import Extension

__all__ = ["commands"]

_HOST = arg("--host", default="127.0.0.1")
_PORT = arg("--port", type=int_between(0, 65535), default=8080, help="0 for any free port")
_WORKERS = arg("--workers", type=int_between(1, 64), default=1, metavar="N",
               help="N server processes on the port, sharing the database (see docs/deploy.md)")

commands = CommandTable()


@commands.command("serve", "run the HTTP API", _HOST, _PORT, _WORKERS, extension_options=True)
def serve(args: argparse.Namespace, settings: Settings) -> int:
    from plugin.cli.workers import WORKER_FD

    if args.workers > 1 and WORKER_FD not in os.environ:
        return _supervise(args, settings)
    return _run(args, settings, demo=False)


def _supervise(args: argparse.Namespace, settings: Settings) -> int:
    from plugin.cli.workers import supervise
    from plugin.extensions import load_extensions

    for extension in load_extensions():
        extension.configure(args)  # a bad option is reported once, not by every worker

    async def run() -> int:
        with _stop_on_signal() as stop:
            return await supervise(settings, args.workers, args.command_line, stop)

    return asyncio.run(run())


@commands.command("demo", "serve with a demo bot's traffic and print an admin key", _HOST,
                  _PORT, extension_options=True)
def demo(args: argparse.Namespace, settings: Settings) -> int:
    # The demo's own traffic would bury what it prints.
    for noisy in ("aiohttp.access", "runtime"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return _run(args, settings, demo=True)


def _run(args: argparse.Namespace, settings: Settings, *, demo: bool) -> int:
    from plugin.extensions import load_extensions

    extensions = load_extensions()
    for extension in extensions:
        extension.configure(args)
    asyncio.run(_serve(settings, extensions, demo=demo))
    return EXIT_OK


async def _serve(settings: Settings, extensions: Sequence[Extension], *, demo: bool) -> None:
    # Imported here: see plugin.core.commands.
    from aiohttp import web

    from plugin.access.keys import ALL_BOTS, Role, create_key
    from plugin.cli.workers import WORKER_FD, stop_when_orphaned
    from plugin.db.database import Database
    from plugin.http.app import create_app
    from plugin.web import install_web

    db = await Database.open(settings)
    app = create_app(settings, db, extensions)
    install_web(app)
    runner = web.AppRunner(app)
    try:
        await runner.setup()
        # Signals are handled before the server says it is up, so that one sent
        # as soon as it has is a clean stop.
        with _stop_on_signal() as stop:
            # A --workers worker says only that it is up (the parent speaks for
            # all), and stops when its parent is gone.
            worker = WORKER_FD in os.environ
            orphaned = asyncio.create_task(stop_when_orphaned(stop)) if worker else None
            site = _site(runner, settings)
            try:
                await site.start()
            except OSError as exc:
                raise CommandFailed(f"cannot listen on {settings.host}:{settings.port}: "
                                    f"{_why_not(exc)}") from None
            host, port = runner.addresses[0][:2]
            url = f"http://{host}:{port}"
            print(f"Audience is serving on {url}  (health: {url}/health, "
                  f"API: {url}/openapi.json)", flush=True)
            if not worker:
                print(f"The Audience tab: {url}/  (sign in with an API key)", flush=True)
            log_progress()
            if demo:
                key = await create_key(db, Role.ADMIN, [ALL_BOTS], label="demo")
                print(f"Admin API key: {key}")
                print(f"Open {url}/ in a browser and sign in with that key.")
                for extension in extensions:
                    for line in await extension.demo(app, url, key):
                        print(line)
            if not worker:
                print("Press Ctrl-C to stop.", flush=True)
            await stop.wait()
            if orphaned is not None:
                orphaned.cancel()
    finally:
        await runner.cleanup()
        await db.close()


def _site(runner: web.AppRunner, settings: Settings) -> web.BaseSite:
    """Where to listen: the port, or the socket a ``--workers`` parent hands down."""
    from aiohttp import web

    from plugin.cli.workers import WORKER_FD

    inherited = os.environ.get(WORKER_FD)
    if inherited is not None:
        return web.SockSite(runner, socket.socket(fileno=int(inherited)))
    return web.TCPSite(runner, settings.host, settings.port)


def _why_not(exc: OSError) -> str:
    """Why binding failed, in words (asyncio's own message repeats the address)."""
    if exc.errno == errno.EADDRINUSE:
        return "the port is in use (is another `audience serve` running? try --port 0)"
    if exc.errno == errno.EADDRNOTAVAIL:
        return "the address is not one of this machine's"
    if exc.errno == errno.EACCES:
        return "permission denied (ports below 1024 need privileges)"
    return exc.strerror or str(exc)


@contextlib.contextmanager
def _stop_on_signal() -> Iterator[asyncio.Event]:
    """An event that SIGINT or SIGTERM sets, while in the block."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        yield stop
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError):
                loop.remove_signal_handler(sig)
