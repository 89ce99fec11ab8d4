"""Benchmark datasets: fixed seeds and sizes, so runs compare."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from plugin.core import events as ev
from plugin.core.events import Event
from plugin.core.profiles import profile_id


def conversation_events(count: int, users: int, bot_id: str = "bench",
                        seed: int = 7) -> list[Event]:
    """A mix like real traffic: mostly messages, some modules and properties."""
    rng = random.Random(seed)
    made: list[Event] = []
    for i in range(count):
        user = f"user-{rng.randrange(users)}"
        roll = rng.random()
        if roll < 0.45:
            made.append(ev.user_message(bot_id, user, f"message {i}", channel="web"))
        elif roll < 0.85:
            made.append(ev.bot_message(bot_id, user, f"reply {i}",
                                       quick_replies=[{"title": "Yes", "payload": "yes"}]))
        elif roll < 0.95:
            made.append(ev.module_entered(bot_id, user, f"module-{rng.randrange(10)}"))
        else:
            made.append(ev.property_set(bot_id, user, "score", rng.randrange(100)))
    return made


def profile_documents(count: int, bot_id: str = "bench", seed: int = 11,
                      now: datetime | None = None, first: int = 0) -> list[dict[str, Any]]:
    """Profiles as capture stores them: a mix of channels, modules and collected data.
    Users are numbered from ``first`` on, so a population can be grown in chunks
    (give each chunk its own ``seed``)."""
    rng = random.Random(seed)
    now = now or datetime.now(UTC)
    channels = ["web", "web", "whatsapp", "messenger"]
    modules = ["welcome", "pricing", "support", "checkout", "faq"]
    docs = []
    for i in range(count):
        user_id = f"user-{first + i:06d}"
        created = now - timedelta(minutes=rng.randrange(90 * 24 * 60))
        last = created + timedelta(minutes=rng.randrange(60 * 24))
        attributes: dict[str, Any] = {"first_name": rng.choice(["Ann", "Bob", "Cy", "Dee"])}
        if rng.random() < 0.6:
            attributes["email"] = f"{user_id}@example.com"
        if rng.random() < 0.4:
            attributes["phone"] = f"+44{rng.randrange(10**9, 10**10)}"
        if rng.random() < 0.5:
            attributes["age"] = rng.randrange(18, 80)
        docs.append({
            "_id": profile_id(bot_id, user_id),
            "bot_id": bot_id,
            "user_id": user_id,
            "channel": rng.choice(channels),
            "source": "api",
            "created_at": created,
            "updated_at": last,
            "last_message_at": min(last, now),
            "current_module": rng.choice(modules),
            "message_count": rng.randrange(1, 60),
            "assigned_to": "bot",
            "attributes": attributes,
            "segments": [],
            "test": False,
        })
    return docs
