"""Keyset pages both ways: reading back with ``previous`` gives exactly the pages
read forward, whatever the sort, with ties and missing values included."""

from __future__ import annotations

import pytest

from plugin.audience.query import query_audience
from plugin.capture.store import CaptureStore
from plugin.core import events as ev
from plugin.db.database import Database

KEY = b"k" * 32


@pytest.mark.parametrize("sort", ["email", "-email", "channel", "-last_message_at"])
async def test_previous_pages_are_the_pages_read_forward(db: Database, bot_id: str,
                                                         sort: str) -> None:
    batch = []
    for n in range(23):
        batch.append(ev.user_message(bot_id, f"u{n:02d}", "hi", channel=["web", "sms"][n % 2]))
        if n % 3:  # a third have no email: nulls sort first going up, last going down
            batch.append(ev.property_set(bot_id, f"u{n:02d}", "email", f"e{n % 5}@x.io"))
    await CaptureStore.of(db).ingest(batch)

    forward, cursor = [], None
    while True:
        page = await query_audience(db, bot_id, None, sort=sort, limit=5, cursor=cursor,
                                    cursor_key=KEY)
        forward.append([u["user_id"] for u in page.users])
        assert (page.previous is None) == (cursor is None)
        if page.next is None:
            break
        cursor = page.next
    assert sorted(u for users in forward for u in users) == [f"u{n:02d}" for n in range(23)]

    backward, previous = [forward[-1]], page.previous
    while previous is not None:
        page = await query_audience(db, bot_id, None, sort=sort, limit=5, cursor=previous,
                                    cursor_key=KEY, backward=True)
        backward.append([u["user_id"] for u in page.users])
        assert page.next is not None
        previous = page.previous
    assert backward[::-1] == forward
