"""``Database.open`` on a ``MONGODB_URI``: the options the URI names win over
Audience's defaults (a deployment that tunes its timeouts in the URI gets them)."""

from __future__ import annotations

import pytest

from plugin.core.settings import Settings
from plugin.db.database import Database


@pytest.mark.parametrize(("options", "seconds"), [
    ("", 10.0),  # Audience's default: long enough for a replica set's election
    ("serverSelectionTimeoutMS=1500", 1.5),
    ("appName=x&SERVERSELECTIONTIMEOUTMS=2500", 2.5),  # option names ignore case
])
async def test_a_server_selection_timeout_in_the_uri_is_kept(
        mongo_uri: str, options: str, seconds: float) -> None:
    uri = mongo_uri if not options else (
        f"{mongo_uri}{'&' if '?' in mongo_uri else '?'}{options}")
    db = await Database.open(Settings(mongodb_uri=uri, db_name="open_options"))
    try:
        assert db.client.options.server_selection_timeout == seconds
    finally:
        await db.close()
