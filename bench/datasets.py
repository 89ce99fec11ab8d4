"""Benchmark datasets: fixed seeds and sizes, so runs compare."""

from __future__ import annotations

import random

from plugin import events as ev
from plugin.events import Event


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
