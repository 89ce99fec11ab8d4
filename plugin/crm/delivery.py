"""The delivery worker: sends the outbox to the webhooks, at least once, in
order per user.

Every ``serve`` process runs one. Each round it reads, for each webhook that
is not paused, its oldest pending entries (``seq`` order; per webhook, so a
receiver that is down holds up only its own) and groups them in *lanes*,
one per (webhook, user).
Only a lane's first pending entry may go: a lane whose head is waiting for a
retry, or is held by another worker, waits as a whole, so a user's changes
reach the CRM in the order they happened. Lanes go concurrently.

A lane's entries are claimed a few at a time with a lease, sent one after
the other, and settled together; a worker that dies in between leaves the
lease to run out, and they are sent again (at least once: receivers
deduplicate on the delivery id). A
failed attempt (non-2xx, timeout, connection error) is retried after an
exponential delay with jitter; after ``webhook_max_attempts`` the entry is
dead-lettered, which frees its lane, and stays so until replayed.

The webhook's audience, if it has one, is checked against the profile as it
is when the entry is sent; entries of users outside it are ``skipped``.

Only public addresses are reached (:mod:`plugin.crm.addresses`): an address
in the URL is checked before sending, a name's addresses when it is resolved
(:mod:`plugin.crm.resolver`). An entry refused so is dead-lettered at once,
with the reason. Of a receiver's answer the log keeps the status as the
attempt's ``error`` (``HTTP 403``) and the first bytes of its body apart
(``response``), which only admins are shown (:func:`plugin.crm.webhooks.shown_delivery`).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import random
import socket
import time
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import aiohttp

from plugin.audience import query as audience
from plugin.audience.filters import parse_filter
from plugin.audience.filters.evaluate import evaluate
from plugin.audience.profile_store import ProfileStore
from plugin.audience.spec import audience_filter
from plugin.core import constants as c
from plugin.core.background import drain_then_cancel, sleep_unless
from plugin.core.errors import FilterError
from plugin.core.events import utc_now
from plugin.core.json_format import dumps
from plugin.core.settings import Settings
from plugin.crm.outbox import (
    ATTEMPT_HEADER,
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    DeliveryState,
    retry_delay,
    signature_header,
)
from plugin.crm.resolver import PublicResolver, address_refusal, refused_by
from plugin.crm.store import WebhookStore
from plugin.db.database import Database

__all__ = ["DeliveryWorker"]

log = logging.getLogger(__name__)
_USER_AGENT = "Audience-Webhooks/1"
_ERROR_TEXT_KEPT = 300


class _Audiences:
    """The round's webhooks and their parsed audiences."""

    def __init__(self, db: Database, now: datetime) -> None:
        self.db = db
        self.now = now
        self._webhooks: dict[str, dict[str, Any]] = {}
        self._parsed: dict[str, Any] = {}

    def remember(self, webhook: dict[str, Any]) -> None:
        self._webhooks[webhook["_id"]] = webhook

    def webhook(self, webhook_id: str) -> dict[str, Any]:
        return self._webhooks[webhook_id]

    async def admits(self, webhook: Mapping[str, Any], profile: Mapping[str, Any]) -> bool:
        """Whether the profile is in the webhook's audience (no audience: everyone).

        Raises:
            FilterError: the audience no longer compiles (a deleted segment or property).
        """
        spec = webhook.get("audience")
        if not spec:
            return True
        if webhook["_id"] not in self._parsed:
            bot_id = webhook["bot_id"]
            self._parsed[webhook["_id"]] = parse_filter(
                audience_filter(spec), await audience.catalog(self.db, bot_id),
                now=self.now, segments=await audience.segment_refs(self.db, bot_id))
        return evaluate(self._parsed[webhook["_id"]], profile)


class DeliveryWorker:
    def __init__(self, db: Database, settings: Settings, *,
                 rng: random.Random | None = None) -> None:
        self.db = db
        self.settings = settings
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self._rng = rng or random.Random()
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._limit = asyncio.Semaphore(c.DELIVERY_CONCURRENCY)
        self._claims = itertools.count()

    async def start(self) -> DeliveryWorker:
        allow_private = self.settings.webhook_allow_private
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(resolver=PublicResolver(allow_private=allow_private)),
            timeout=aiohttp.ClientTimeout(total=self.settings.webhook_timeout_s),
            headers={"User-Agent": _USER_AGENT})
        self._task = asyncio.create_task(self._run_forever(), name="audience-delivery")
        return self

    async def close(self, drain_s: float = c.DELIVERY_DRAIN_S) -> None:
        """Stop taking lanes; let the round in flight settle its claims for up
        to ``drain_s`` seconds, then cancel it (its leases then run out)."""
        self._stopping.set()
        task, self._task = self._task, None
        if task is not None:
            await drain_then_cancel(task, drain_s)
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _run_forever(self) -> None:
        while not self._stopping.is_set():
            try:
                sent = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("the delivery round failed; trying again")
                sent = 0
            if not sent:
                await sleep_unless(self._stopping, c.DELIVERY_POLL_INTERVAL_S)

    async def run_once(self) -> int:
        """One round: every lane whose head is due goes as far as it can; the
        number of entries settled."""
        now = utc_now()
        audiences = _Audiences(self.db, now)
        lanes: dict[tuple[str, str], list[dict[str, Any]]] = {}
        webhooks = WebhookStore.of(self.db)
        for webhook in await webhooks.active_webhooks():
            audiences.remember(webhook)
            for entry in await webhooks.pending_deliveries(webhook["_id"], c.DELIVERY_BATCH):
                lanes.setdefault((entry["webhook_id"], entry["user_id"]), []).append(entry)
        due = [lane for lane in lanes.values()
               if lane[0]["next_attempt_at"] <= now and lane[0]["lease_until"] <= now]
        if not due:
            return 0
        # The profile each payload carries (and the audience is checked on), as
        # it is at the start of the round: one read for every lane.
        profiles = await ProfileStore.of(self.db).profiles_by_key(
            {(lane[0]["bot_id"], lane[0]["user_id"]) for lane in due})
        settled = await asyncio.gather(*(
            self._run_lane(lane, audiences,
                           profiles.get((lane[0]["bot_id"], lane[0]["user_id"])))
            for lane in due))
        return sum(settled)

    async def _run_lane(self, lane: list[dict[str, Any]], audiences: _Audiences,
                        profile: Mapping[str, Any] | None) -> int:
        shown = audience.public_profile(profile) if profile is not None else None
        webhook = audiences.webhook(lane[0]["webhook_id"])
        settled = 0
        async with self._limit:
            for start in range(0, len(lane), c.DELIVERY_CLAIM_ENTRIES):
                count, go_on = await self._run_claim(
                    lane[start:start + c.DELIVERY_CLAIM_ENTRIES], webhook, audiences, shown)
                settled += count
                if not go_on:
                    break
        return settled

    async def _run_claim(self, entries: list[dict[str, Any]], webhook: Mapping[str, Any],
                         audiences: _Audiences,
                         profile: Mapping[str, Any] | None) -> tuple[int, bool]:
        """Claim consecutive entries of a lane, send them one after the other
        until one fails, settle them all at once; (entries settled, whether
        the lane may go on)."""
        claim = f"{self.owner}:{next(self._claims)}"
        now = utc_now()
        # Long enough for every entry to time out: the lease must outlast the claim.
        lease_s = len(entries) * self.settings.webhook_timeout_s + self.settings.delivery_lease_s
        owned = await WebhookStore.of(self.db).claim_deliveries(
            [e["_id"] for e in entries], claim, now, now + timedelta(seconds=lease_s))
        # Only from the lane's head on: an entry after one held elsewhere must wait.
        mine = list(itertools.takewhile(lambda e: e["_id"] in owned, entries))
        outcomes: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = []
        go_on = len(mine) == len(entries)
        for entry in mine:
            outcome, passed = await self._attempt(entry, webhook, audiences, profile)
            outcomes.append(outcome)
            if not passed:
                go_on = False
                break
        attempted = {entry_id for entry_id, _, _ in outcomes}
        released: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = [
            (entry_id, {"lease_until": now}, None) for entry_id in owned
            if entry_id not in attempted]
        await WebhookStore.of(self.db).settle_deliveries(claim, outcomes + released)
        return len(outcomes), go_on

    async def _attempt(
        self, entry: Mapping[str, Any], webhook: Mapping[str, Any], audiences: _Audiences,
        profile: Mapping[str, Any] | None,
    ) -> tuple[tuple[str, dict[str, Any], dict[str, Any] | None], bool]:
        """Send one entry: (its settlement, whether the lane may go on)."""
        try:
            admitted = profile is not None and await audiences.admits(webhook, profile)
        except FilterError as exc:
            return self._outcome(entry, DeliveryState.DEAD, reason=(
                f"the webhook's audience is no longer valid: {exc.message}")), True
        if not admitted:
            return self._outcome(entry, DeliveryState.SKIPPED,
                                 reason="the user is not in the webhook's audience"), True
        attempt = await self._post(entry, webhook, profile)
        attempts = entry["attempts"] + 1
        if attempt["refused"]:  # trying again would change nothing
            log.warning("webhook %s: delivery %s refused (%s)", webhook["_id"], entry["_id"],
                        attempt["error"])
            return self._outcome(entry, DeliveryState.DEAD, attempt, reason=attempt["error"]), True
        if attempt["ok"]:
            return self._outcome(entry, DeliveryState.DELIVERED, attempt,
                                 delivered_at=attempt["at"]), True
        if attempts >= self.settings.webhook_max_attempts:
            log.warning("webhook %s: delivery %s dead-lettered after %d attempts (%s)",
                        webhook["_id"], entry["_id"], attempts, attempt["error"])
            return self._outcome(entry, DeliveryState.DEAD, attempt, reason=(
                f"gave up after {attempts} attempts; the last: {attempt['error']}")), True
        wait = retry_delay(attempts, self.settings.webhook_backoff_s,
                           self.settings.webhook_backoff_max_s, self._rng)
        return self._outcome(entry, DeliveryState.PENDING, attempt,
                             next_attempt_at=utc_now() + timedelta(seconds=wait)), False

    @staticmethod
    def _outcome(entry: Mapping[str, Any], state: DeliveryState,
                 attempt: dict[str, Any] | None = None,
                 **fields: Any) -> tuple[str, dict[str, Any], dict[str, Any] | None]:
        now = utc_now()
        fields.setdefault("next_attempt_at", now)
        return entry["_id"], {"state": str(state), "lease_until": now, **fields}, attempt

    async def _post(self, entry: Mapping[str, Any], webhook: Mapping[str, Any],
                    profile: Mapping[str, Any] | None) -> dict[str, Any]:
        assert self._session is not None, "start() the worker first"
        body = dumps({
            "id": entry["_id"],
            "event": entry["event"],
            "bot_id": entry["bot_id"],
            "user_id": entry["user_id"],
            "occurred_at": entry["occurred_at"],
            "data": entry["data"],
            "profile": profile,
        }).encode()
        headers = {
            "Content-Type": "application/json",
            DELIVERY_HEADER: entry["_id"],
            EVENT_HEADER: entry["event"],
            ATTEMPT_HEADER: str(entry["attempts"] + 1),
            SIGNATURE_HEADER: signature_header(webhook["secret"], body, int(time.time())),
        }
        at = utc_now()
        started = time.perf_counter()
        status: int | None = None
        error: str | None = None
        response_head: str | None = None
        refused = address_refusal(webhook["url"],
                                  allow_private=self.settings.webhook_allow_private)
        try:
            if refused is None:
                async with self._session.post(webhook["url"], data=body, headers=headers,
                                              allow_redirects=False) as response:
                    status = response.status
                    if not 200 <= status < 300:
                        error = f"HTTP {status}"
                        # Only the start of it: a receiver's error page can be any size.
                        head = await response.content.read(_ERROR_TEXT_KEPT)
                        response_head = head.decode("utf-8", "replace") or None
        except TimeoutError:
            error = f"no answer within {self.settings.webhook_timeout_s:g} s"
        except aiohttp.ClientError as exc:
            cause = refused_by(exc)
            if cause is not None:
                refused = str(cause)
            else:
                error = f"{type(exc).__name__}: {exc}"[:_ERROR_TEXT_KEPT]
        if refused is not None:
            error = f"refused: {refused}"
        attempt = {"at": at, "status": status, "error": error, "ok": error is None,
                   "refused": refused is not None,
                   "ms": round((time.perf_counter() - started) * 1000, 1)}
        if response_head is not None:
            attempt["response"] = response_head
        return attempt
