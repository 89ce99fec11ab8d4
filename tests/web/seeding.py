"""Data for the web tests, written through the capture service as a bot would."""

from __future__ import annotations

import uuid
from typing import Any

from plugin.capture.store import CaptureStore
from plugin.core import events as ev
from plugin.db.database import Database

XSS_NAME = "<img src=x onerror=alert(1)>"


def new_bot_id(what: str) -> str:
    return f"web-{what}-{uuid.uuid4().hex[:8]}"


async def seed_users(db: Database, bot_id: str,
                     people: dict[str, dict[str, Any]]) -> None:
    """One profile per entry: ``{"user": {"channel": ..., "messages": n, "first_name": ...,
    "email": ..., "phone": ...}}``; properties are set in the order given."""
    batch = []
    for user, facts in people.items():
        channel = facts.get("channel", "web")
        for i in range(facts.get("messages", 1)):
            batch.append(ev.user_message(bot_id, user, f"hello {i} from {user}", channel=channel))
        for name, value in facts.items():
            if name not in ("channel", "messages"):
                batch.append(ev.property_set(bot_id, user, name, value, channel=channel))
    await CaptureStore.of(db).ingest(batch)
