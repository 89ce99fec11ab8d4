"""``audience webhooks list|create|deliveries|replay|pause|resume|delete``: real-time CRM
sync from the command line, on the same deployment as ``audience serve``
(``--data-dir`` or ``MONGODB_URI``), whose delivery worker sends what capture
queues."""

from __future__ import annotations

import argparse
from typing import Any

from plugin import schemas
from plugin.cli.bulk import print_table, sync_command
from plugin.crm import webhooks
from plugin.crm.outbox import DeliveryState, WebhookEvent
from plugin.db.store import Store
from plugin.jobs import actions as bulk

__all__ = ["add_commands"]


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser],
                 data: argparse.ArgumentParser) -> None:
    hooks = commands.add_parser("webhooks", help="real-time CRM sync: webhooks and deliveries")
    verbs = hooks.add_subparsers(dest="webhooks_command", required=True)

    listing = verbs.add_parser("list", parents=[data],
                               help="the bot's webhooks with their pending and dead deliveries")
    listing.add_argument("--bot", required=True)
    listing.set_defaults(run_command=sync_command(_list))

    create = verbs.add_parser("create", parents=[data], help="send events to a URL")
    create.add_argument("--bot", required=True)
    create.add_argument("--url", required=True)
    create.add_argument("--event", dest="events", action="append", required=True,
                        choices=[str(e) for e in WebhookEvent], help="repeatable")
    create.add_argument("--secret", default=None,
                        help="signs each delivery (default: generated and shown once)")
    create.add_argument("--segment", default=None,
                        help="only users in this segment (its name or id)")
    create.add_argument("--paused", action="store_true",
                        help="queue deliveries but send none until resumed")
    create.set_defaults(run_command=sync_command(_create))

    log = verbs.add_parser("deliveries", parents=[data], help="a webhook's delivery log")
    log.add_argument("--bot", required=True)
    log.add_argument("--webhook", required=True, help="its id")
    log.add_argument("--state", choices=[str(s) for s in DeliveryState], default=None)
    log.add_argument("--limit", type=int, default=50)
    log.set_defaults(run_command=sync_command(_deliveries))

    replay = verbs.add_parser("replay", parents=[data],
                              help="send dead-lettered deliveries again (or one, by id)")
    replay.add_argument("--bot", required=True)
    replay.add_argument("--webhook", required=True, help="its id")
    replay.add_argument("--delivery", default=None, help="one delivery's id")
    replay.set_defaults(run_command=sync_command(_replay))

    for verb, active, what in (("pause", False, "queue deliveries but send none"),
                               ("resume", True, "send what a paused webhook queued")):
        toggle = verbs.add_parser(verb, parents=[data], help=what)
        toggle.add_argument("--bot", required=True)
        toggle.add_argument("--webhook", required=True, help="its id")
        toggle.set_defaults(run_command=sync_command(_set_active), active=active)

    delete = verbs.add_parser("delete", parents=[data],
                              help="delete a webhook and its delivery log")
    delete.add_argument("--bot", required=True)
    delete.add_argument("--webhook", required=True, help="its id")
    delete.set_defaults(run_command=sync_command(_delete))


async def _list(store: Store, args: argparse.Namespace) -> int:
    rows = [["id", "url", "events", "active", "pending", "dead"]]
    for hook in await webhooks.list_webhooks(store, args.bot):
        counts = await store.count_deliveries(hook["id"])
        rows.append([hook["id"], hook["url"], ",".join(hook["events"]),
                     "yes" if hook["active"] else "paused",
                     str(counts.get(DeliveryState.PENDING, 0)),
                     str(counts.get(DeliveryState.DEAD, 0))])
    print_table(rows)
    return 0


async def _create(store: Store, args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"url": args.url, "events": args.events, "active": not args.paused}
    if args.secret is not None:
        body["secret"] = args.secret
    if args.segment is not None:
        segment = await bulk.find_segment_by_name(store, args.bot, args.segment)
        body["audience"] = {"segment": segment["_id"]}
    schemas.check("webhook.create", body, "the webhook")
    hook = await webhooks.create_webhook(store, args.bot, body)
    print(f"webhook {hook['id']}: {', '.join(hook['events'])} → {hook['url']}")
    print(f"secret (shown once; it signs X-Audience-Signature): {hook['secret']}")
    return 0


async def _deliveries(store: Store, args: argparse.Namespace) -> int:
    page = await webhooks.list_deliveries(store, args.bot, args.webhook, state=args.state,
                                          limit=max(1, min(args.limit, 500)), before=None)
    rows = [["id", "event", "user", "state", "attempts", "last"]]
    rows += [[d["id"], d["event"], d["user_id"], d["state"], str(d["attempts"]),
              d["last_error"] or (str(d["last_status"]) if d["last_status"] else "")]
             for d in page["deliveries"]]
    print_table(rows)
    return 0


async def _replay(store: Store, args: argparse.Namespace) -> int:
    if args.delivery is not None:
        await webhooks.replay_delivery(store, args.bot, args.webhook, args.delivery)
        print("replayed: 1")
    else:
        print(f"replayed: {await webhooks.replay_dead(store, args.bot, args.webhook)}")
    return 0


async def _set_active(store: Store, args: argparse.Namespace) -> int:
    hook = await webhooks.update_webhook(store, args.bot, args.webhook, {"active": args.active})
    print(f"webhook {hook['id']}: {'active' if hook['active'] else 'paused'}")
    return 0


async def _delete(store: Store, args: argparse.Namespace) -> int:
    await webhooks.delete_webhook(store, args.bot, args.webhook)
    print(f"deleted webhook {args.webhook}")
    return 0
