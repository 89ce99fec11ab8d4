"""The demo: the backend the example bot calls, and simulated users who talk
to it through the dummy channel, so ``audience demo`` has real traffic.

The demo API answers like a small CRM and pricing service, and fails on
purpose for some inputs (``@flaky.example`` emails: the CRM answers 500; 13
seats: the quote service answers 503), so the audience holds API failures
too.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

__all__ = ["demo_api_routes", "DEMO_API_PREFIX", "drive_demo_users"]

DEMO_API_PREFIX = "/demo-api"
demo_api_routes = web.RouteTableDef()
_CUSTOMERS = {"ada@acme-customer.example": "business", "linus@acme-customer.example": "starter"}
_PRICE_PER_SEAT = {"starter": 10, "business": 18, "enterprise": 30}


@demo_api_routes.get(f"{DEMO_API_PREFIX}/crm/lookup")
async def crm_lookup(request: web.Request) -> web.Response:
    email = request.query.get("email", "").lower()
    if email.endswith("@flaky.example"):
        return web.json_response({"error": "crm unavailable"}, status=500)
    plan = _CUSTOMERS.get(email)
    return web.json_response({"known": plan is not None, "plan": plan or ""})


@demo_api_routes.post(f"{DEMO_API_PREFIX}/quote")
async def quote(request: web.Request) -> web.Response:
    body = await request.json()
    seats, plan = int(body.get("seats") or 0), str(body.get("plan") or "starter")
    if seats == 13:
        return web.json_response({"error": "pricing engine down"}, status=503)
    return web.json_response({"price": seats * _PRICE_PER_SEAT.get(plan, 10)})


Say = Callable[..., Awaitable[list[dict[str, Any]]]]

_NAMES = ["Ada", "Bo", "Chen", "Dara", "Eli", "Fatima", "Gus", "Hana", "Ivo", "Jun", "Kai", "Lea"]
_CHANNELS = ["web", "web", "whatsapp", "messenger"]


async def drive_demo_users(say: Say, count: int = 200, seed: int = 5,
                           concurrency: int = 20) -> int:
    """Talk to the example bot as ``count`` varied users; returns the messages sent.

    ``say(user_id, channel, text=... | payload=..., profile=...)`` delivers one
    user message through the dummy channel. Some users share an email, some
    a phone, some both, some neither; some hit API failures, some give up.
    """
    rng = random.Random(seed)
    shared_emails = [f"team{i}@shared.example" for i in range(10)]
    shared_phones = [f"+4420794600{i:02d}" for i in range(10)]
    gate = asyncio.Semaphore(concurrency)
    sent = 0

    async def one(n: int) -> None:
        nonlocal sent
        user, channel = f"demo-{n:03d}", rng.choice(_CHANNELS)
        name = rng.choice(_NAMES)
        email = rng.choice([f"{name.lower()}{n}@example.com", rng.choice(shared_emails),
                            f"{name.lower()}@flaky.example", "ada@acme-customer.example"])
        phone = rng.choice([f"+4479460{n:05d}", rng.choice(shared_phones)])
        seats = rng.choice(["5", "20", "13", "150", "many"])
        plan = rng.choice(["starter", "business", "enterprise"])
        path = rng.choice(["quote", "quote", "demo", "both", "sales", "abandon", "faq"])
        script: list[dict[str, Any]] = [{"text": "hi", "profile": {"first_name": name}},
                                        {"text": name}]
        if path in ("quote", "both"):
            script += [{"payload": "QUOTE"}, {"text": email}]
            if seats == "many":  # refused by validation, then answered
                script += [{"text": seats}]
            script += [{"text": seats if seats != "many" else "12"}, {"payload": plan}]
        if path in ("demo", "both"):
            script += [{"payload": "DEMO"}, {"text": phone}]
        elif path == "sales":
            script += [{"payload": "SALES"}]
        elif path == "faq":
            script += [{"payload": "QUOTE"}, {"text": "what about pricing?"}, {"text": email}]
        async with gate:
            for message in script:
                await say(user, channel, **message)
                sent += 1

    await asyncio.gather(*(one(n) for n in range(count)))
    return sent
