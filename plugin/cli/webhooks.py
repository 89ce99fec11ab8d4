"""``audience webhooks list|create|deliveries|replay|pause|resume|delete``: real-time CRM
sync from the command line, on the same deployment as ``audience serve``
(``--data-dir`` or ``MONGODB_URI``), whose delivery worker sends what capture
queues."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from plugin.cli.exits import EXIT_OK
from plugin.cli.output import print_table
from plugin.cli.running import on_database, with_database
from plugin.core.commands import BOT_ID, CommandTable, Lazy, arg

if TYPE_CHECKING:
    from plugin.core.settings import Settings
    from plugin.db.database import Database

__all__ = ["commands"]

MAX_LIMIT = 500
_BOT = arg("--bot", required=True, type=BOT_ID)
_WEBHOOK = arg("--webhook", required=True, help="its id")

commands = CommandTable()
commands.group("webhooks", "real-time CRM sync: webhooks and deliveries")


@commands.command("webhooks list", "the bot's webhooks with their pending and dead deliveries",
                  _BOT)
@with_database
async def list_webhooks(db: Database, args: argparse.Namespace) -> int:
    # Imported here: see plugin.core.commands.
    from plugin.crm import webhooks
    from plugin.crm.outbox import DeliveryState
    from plugin.crm.store import WebhookStore

    rows = [["id", "url", "events", "active", "pending", "dead"]]
    for hook in await webhooks.list_webhooks(db, args.bot):
        counts = await WebhookStore.of(db).count_deliveries(hook["id"])
        rows.append([hook["id"], hook["url"], ",".join(hook["events"]),
                     "yes" if hook["active"] else "paused",
                     str(counts.get(DeliveryState.PENDING, 0)),
                     str(counts.get(DeliveryState.DEAD, 0))])
    print_table(rows)
    return EXIT_OK


@commands.command(
    "webhooks create", "send events to a URL",
    _BOT, arg("--url", required=True),
    arg("--event", dest="events", action="append", required=True,
        choices=Lazy("plugin.crm.outbox:WebhookEvent"), help="repeatable"),
    arg("--secret", default=None,
        help="signs each delivery (default: generated and shown once)"),
    arg("--segment", default=None, help="only users in this segment (its name or id)"),
    arg("--paused", action="store_true", help="queue deliveries but send none until resumed"))
def create(args: argparse.Namespace, settings: Settings) -> int:
    # Loopback and private URLs only with AUDIENCE_WEBHOOK_ALLOW_PRIVATE, as in the API.
    return on_database(settings, lambda db: _create(db, args, settings.webhook_allow_private))


async def _create(db: Database, args: argparse.Namespace, allow_private: bool) -> int:
    # Imported here: see plugin.core.commands.
    from plugin import schemas
    from plugin.audience.spec import find_segment
    from plugin.crm import webhooks

    body: dict[str, Any] = {"url": args.url, "events": args.events, "active": not args.paused}
    if args.secret is not None:
        body["secret"] = args.secret
    if args.segment is not None:
        segment = await find_segment(db, args.bot, args.segment)
        body["audience"] = {"segment": segment["_id"]}
    schemas.check("webhook.create", body, "the webhook")
    hook = await webhooks.create_webhook(db, args.bot, body, allow_private=allow_private)
    print(f"webhook {hook['id']}: {', '.join(hook['events'])} → {hook['url']}")
    print(f"secret (shown once; it signs X-Audience-Signature): {hook['secret']}")
    return EXIT_OK


@commands.command(
    "webhooks deliveries", "a webhook's delivery log",
    _BOT, _WEBHOOK,
    arg("--state", choices=Lazy("plugin.crm.outbox:DeliveryState"), default=None),
    arg("--limit", type=int, default=50, help=f"newest first, at most {MAX_LIMIT}"))
@with_database
async def deliveries(db: Database, args: argparse.Namespace) -> int:
    # Imported here: see plugin.core.commands.
    from plugin.crm import webhooks

    page = await webhooks.list_deliveries(db, args.bot, args.webhook, state=args.state,
                                          limit=max(1, min(args.limit, MAX_LIMIT)), before=None,
                                          responses=True)
    rows = [["id", "event", "user", "state", "attempts", "last"]]
    rows += [[d["id"], d["event"], d["user_id"], d["state"], str(d["attempts"]),
              d["last_error"] or (str(d["last_status"]) if d["last_status"] else "")]
             for d in page["deliveries"]]
    print_table(rows)
    return EXIT_OK


@commands.command("webhooks replay", "send dead-lettered deliveries again (or one, by id)",
                  _BOT, _WEBHOOK, arg("--delivery", default=None, help="one delivery's id"))
@with_database
async def replay(db: Database, args: argparse.Namespace) -> int:
    # Imported here: see plugin.core.commands.
    from plugin.crm import webhooks

    if args.delivery is not None:
        await webhooks.replay_delivery(db, args.bot, args.webhook, args.delivery)
        print("replayed: 1")
    else:
        print(f"replayed: {await webhooks.replay_dead(db, args.bot, args.webhook)}")
    return EXIT_OK


@commands.command("webhooks pause", "queue deliveries but send none", _BOT, _WEBHOOK)
@with_database
async def pause(db: Database, args: argparse.Namespace) -> int:
    return await _set_active(db, args, False)


@commands.command("webhooks resume", "send what a paused webhook queued", _BOT, _WEBHOOK)
@with_database
async def resume(db: Database, args: argparse.Namespace) -> int:
    return await _set_active(db, args, True)


async def _set_active(db: Database, args: argparse.Namespace, active: bool) -> int:
    # Imported here: see plugin.core.commands.
    from plugin.crm import webhooks

    hook = await webhooks.update_webhook(db, args.bot, args.webhook, {"active": active})
    print(f"webhook {hook['id']}: {'active' if hook['active'] else 'paused'}")
    return EXIT_OK


@commands.command("webhooks delete", "delete a webhook and its delivery log", _BOT, _WEBHOOK)
@with_database
async def delete(db: Database, args: argparse.Namespace) -> int:
    # Imported here: see plugin.core.commands.
    from plugin.crm import webhooks

    await webhooks.delete_webhook(db, args.bot, args.webhook)
    print(f"deleted webhook {args.webhook}")
    return EXIT_OK
