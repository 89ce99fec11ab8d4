"""``audience rasa consume``: the broker consumer as a command, added through the
extension seam (``audience.extensions`` entry point ``rasa``).

It takes ``--data-dir`` / ``MONGODB_URI`` like ``audience serve`` and writes
to the same deployment. It runs until SIGINT or SIGTERM, then finishes the
batch in hand and stops. Exit status (:mod:`plugin.cli.exits`): 0 when
stopped, 1 when RabbitMQ or the database cannot be used, 2 for a bad option.

Every ``audience`` call loads this module, ``--help`` included: aio-pika, the
consumer and the database are imported only when the command runs, so
``audience`` works without the ``rasa`` extra installed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Coroutine, Sequence
from typing import Any

from plugin.cli.exits import EXIT_FAILED, EXIT_OK, CommandFailed
from plugin.cli.running import log_progress
from plugin.core.commands import BOT_ID, CommandTable, Record, arg
from plugin.core.errors import InvalidRequest
from plugin.core.settings import Settings, mask_uri
from plugin.extensions import Extension

from . import DEFAULT_EXCHANGE, DEFAULT_QUEUE

__all__ = ["RasaExtension", "commands", "run_consume"]

log = logging.getLogger(__name__)
_AMQP_SCHEMES = ("amqp://", "amqps://")
_AMQP_URL_ENV = "AUDIENCE_AMQP_URL"

commands = CommandTable()
commands.group("rasa", "capture a Rasa bot")


class RasaExtension(Extension):
    """Adds ``audience rasa consume``; nothing to ``serve``."""

    name = "rasa"

    def commands(self) -> Sequence[Record]:
        return commands


@commands.command(
    "rasa consume", "store the events Rasa's event broker publishes to RabbitMQ",
    arg("--amqp-url", default=None,
        help=f"RabbitMQ, e.g. amqp://user:password@host:5672/ (default ${_AMQP_URL_ENV})"),
    arg("--bot", required=True, type=BOT_ID, help="the Audience bot id to record under"),
    arg("--queue", default=DEFAULT_QUEUE,
        help=f"the queue in endpoints.yml (default {DEFAULT_QUEUE})"),
    arg("--exchange", default=DEFAULT_EXCHANGE,
        help=f"its exchange_name (default {DEFAULT_EXCHANGE})"),
    arg("--batch-size", type=int, default=None, metavar="N",
        help="events per database write (default 2000)"),
    description="Consume the queue Rasa's pika event broker publishes tracker events to, and "
                "record them as the bot's users' timelines and profiles. Malformed messages go "
                "to the queue '<queue>.dead-letter' with the reason in their "
                "'x-audience-error' header.")
def run_consume(args: argparse.Namespace, settings: Settings) -> int:
    """The ``rasa consume`` command; returns its exit status."""
    url = args.amqp_url = args.amqp_url or os.environ.get(_AMQP_URL_ENV)
    if not url:
        raise InvalidRequest(f"--amqp-url is required (or set {_AMQP_URL_ENV})")
    if not url.startswith(_AMQP_SCHEMES):
        raise InvalidRequest(
            f"--amqp-url must start with amqp:// or amqps://, not {mask_uri(url)!r}")
    if not args.queue.strip():
        raise InvalidRequest("--queue must not be empty")
    if args.batch_size is not None and not 1 <= args.batch_size <= 10_000:
        raise InvalidRequest("--batch-size must be between 1 and 10000")
    try:
        import aio_pika  # noqa: F401
    except ImportError:
        raise CommandFailed(
            "aio-pika is not installed: pip install 'bot-audience[rasa]'") from None
    return asyncio.run(_consume(args, settings))


async def _consume(args: argparse.Namespace, settings: Settings) -> int:
    from aiormq.exceptions import AMQPError

    from plugin.db.database import Database

    from .consumer import BrokerConsumer

    db = await Database.open(settings)
    try:
        options = {"batch_size": args.batch_size} if args.batch_size else {}
        consumer = BrokerConsumer(db, args.bot, amqp_url=args.amqp_url, queue=args.queue,
                                  exchange=args.exchange, **options)
        aiormq_log = logging.getLogger("aiormq.connection")
        level = aiormq_log.level
        # aiormq logs a refused connection as an ERROR before raising it; the
        # raise is what is reported, as one line.
        aiormq_log.setLevel(logging.CRITICAL)
        try:
            await consumer.start()
        except (AMQPError, OSError, ConnectionError) as exc:
            raise CommandFailed(
                f"cannot use RabbitMQ at {mask_uri(args.amqp_url)}: {exc}") from None
        finally:
            aiormq_log.setLevel(level)
        print(f"Consuming {args.queue} for bot {args.bot}; Ctrl-C to stop.", flush=True)
        log_progress()
        try:
            stopped = await _until_signalled_or(consumer.wait())
        finally:
            await consumer.close()
        stats = consumer.stats
        print(f"Stopped: {stats.received} messages, {stats.stored} events stored, "
              f"{stats.duplicates} already stored, {stats.dead_lettered} dead-lettered.",
              flush=True)
        return EXIT_OK if stopped else EXIT_FAILED
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
