"""What capture stored, read straight from the database (the way the tests
check what a write left behind, under the API)."""

from __future__ import annotations

from typing import Any

from plugin.capture.chunks import stored_events
from plugin.core import constants as c
from plugin.db.database import Database


async def stored_event_docs(db: Database, query: dict[str, Any] | None = None,
                            **data: Any) -> list[dict[str, Any]]:
    """The stored events (each as its own document) of the chunks matching
    ``query``, whose data holds ``data``, in timeline order."""
    chunk_query = dict(query or {})
    chunk_query.update({f"events.data.{name}": value for name, value in data.items()})
    docs = [doc async for chunk in db[c.EVENTS].find(chunk_query)
            for doc in stored_events(chunk)
            if all(doc["data"].get(name) == value for name, value in data.items())]
    return sorted(docs, key=lambda doc: (doc["ts"], doc["seq"]))

