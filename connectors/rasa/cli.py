"""``audience rasa consume``: the broker consumer as a command, added through the
extension seam (``audience.extensions`` entry point ``rasa``).

It takes ``--data-dir`` / ``MONGODB_URI`` like ``audience serve`` and writes
to the same deployment. It runs until SIGINT or SIGTERM, then finishes the
batch in hand and stops. Exit status: 0 when stopped, 1 when RabbitMQ or the
database cannot be used, 2 for a bad option.

aio-pika is imported only when the command runs, so ``audience`` works
without the ``rasa`` extra installed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Coroutine
from typing import Any

from plugin.core.errors import AudienceError
from plugin.core.settings import Settings, mask_uri
from plugin.db.database import Database
from plugin.extensions import Extension

from . import DEFAULT_EXCHANGE, DEFAULT_QUEUE

__all__ = ["RasaExtension", "run_consume"]

log = logging.getLogger(__name__)
EXIT_STOPPED, EXIT_FAILED, EXIT_INVALID = 0, 1, 2
_AMQP_SCHEMES = ("amqp://", "amqps://")


class RasaExtension(Extension):
    """Adds ``audience rasa consume``; nothing to ``serve``."""

    name = "rasa"

    def add_commands(self, commands: argparse._SubParsersAction[argparse.ArgumentParser],
                     data_options: argparse.ArgumentParser) -> None:
        rasa = commands.add_parser("rasa", help="capture a Rasa bot")
        rasa_commands = rasa.add_subparsers(dest="rasa_command", required=True)
        consume = rasa_commands.add_parser(
            "consume", parents=[data_options],
            help="store the events Rasa's event broker publishes to RabbitMQ",
            description="Consume the queue Rasa's pika event broker publishes tracker events "
                        "to, and record them as the bot's users' timelines and profiles. "
                        "Malformed messages go to the queue '<queue>.dead-letter' with the "
                        "reason in their 'x-audience-error' header.")
        consume.add_argument("--amqp-url", default=os.environ.get("AUDIENCE_AMQP_URL"),
                             help="RabbitMQ, e.g. amqp://user:password@host:5672/ "
                                  "(default $AUDIENCE_AMQP_URL)")
        consume.add_argument("--bot", required=True, help="the Audience bot id to record under")
        consume.add_argument("--queue", default=DEFAULT_QUEUE,
                             help=f"the queue in endpoints.yml (default {DEFAULT_QUEUE})")
        consume.add_argument("--exchange", default=DEFAULT_EXCHANGE,
                             help=f"its exchange_name (default {DEFAULT_EXCHANGE})")
        consume.add_argument("--batch-size", type=int, default=None, metavar="N",
                             help="events per database write (default 2000)")
        consume.set_defaults(run_command=run_consume)



def run_consume(args: argparse.Namespace, settings: Settings) -> int:
    """The ``rasa consume`` command; returns its exit status."""
    url = args.amqp_url
    if not url:
        return _invalid("--amqp-url is required (or set AUDIENCE_AMQP_URL)")
    if not url.startswith(_AMQP_SCHEMES):
        return _invalid(f"--amqp-url must start with amqp:// or amqps://, not {mask_uri(url)!r}")
    if not args.bot.strip():
        return _invalid("--bot must not be empty")
    if not args.queue.strip():
        return _invalid("--queue must not be empty")
    if args.batch_size is not None and not 1 <= args.batch_size <= 10_000:
        return _invalid("--batch-size must be between 1 and 10000")
    try:
        import aio_pika  # noqa: F401
    except ImportError:
        print("audience rasa: aio-pika is not installed: pip install 'bot-audience[rasa]'",
              file=sys.stderr)
        return EXIT_FAILED
    return asyncio.run(_consume(args, settings))


def _invalid(message: str) -> int:
    print(f"audience rasa consume: {message}", file=sys.stderr)
    return EXIT_INVALID


async def _consume(args: argparse.Namespace, settings: Settings) -> int:
    from aiormq.exceptions import AMQPError

    from .consumer import BrokerConsumer

    try:
        db = await Database.open(settings)
    except AudienceError as exc:
        print(f"audience rasa consume: {exc.message}", file=sys.stderr)
        return EXIT_FAILED
    try:
        options = {"batch_size": args.batch_size} if args.batch_size else {}
        consumer = BrokerConsumer(db, args.bot, amqp_url=args.amqp_url, queue=args.queue,
                                  exchange=args.exchange, **options)
        try:
            await consumer.start()
        except (AMQPError, OSError, ConnectionError) as exc:
            print(f"audience rasa consume: cannot use RabbitMQ at {mask_uri(args.amqp_url)}: "
                  f"{exc}", file=sys.stderr)
            return EXIT_FAILED
        print(f"Consuming {args.queue} for bot {args.bot}; Ctrl-C to stop.", flush=True)
        try:
            stopped = await _until_signalled_or(consumer.wait())
        finally:
            await consumer.close()
        stats = consumer.stats
        print(f"Stopped: {stats.received} messages, {stats.stored} events stored, "
              f"{stats.duplicates} already stored, {stats.dead_lettered} dead-lettered.",
              flush=True)
        return EXIT_STOPPED if stopped else EXIT_FAILED
    finally:
        await db.close()


async def _until_signalled_or(work: Coroutine[Any, Any, None]) -> bool:
    """Wait for SIGINT/SIGTERM (→ True) or for ``work`` to end (→ False, logged)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    waiter = asyncio.create_task(stop.wait())
    worker = asyncio.create_task(work)
    try:
        done, _ = await asyncio.wait({waiter, worker}, return_when=asyncio.FIRST_COMPLETED)
        if worker in done:
            if worker.exception() is not None:
                log.error("the consumer stopped", exc_info=worker.exception())
            return False
        return True
    finally:
        for task in (waiter, worker):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError):
                loop.remove_signal_handler(sig)
