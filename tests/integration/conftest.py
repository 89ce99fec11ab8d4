"""Fixtures shared by the integration tests: a scratch profiles collection
with the production indexes, and a CRM-like webhook receiver on loopback."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import pytest_asyncio
from pymongo import MongoClient
from pymongo.collection import Collection

from plugin.core import constants
from plugin.db.indexes import INDEXES as _INDEXES
from tests.loopback import Received, Receiver, receiving

__all__ = ["Received", "Receiver", "profiles_collection", "receiver"]


@pytest.fixture(scope="module")
def profiles_collection(mongo_uri: str) -> Iterator[Collection[dict[str, Any]]]:
    """An empty profiles collection of its own, indexed as in production."""
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri)
    db_name = f"audience_profiles_{uuid.uuid4().hex[:8]}"
    collection = client[db_name][constants.PROFILES]
    collection.create_indexes(_INDEXES[constants.PROFILES])
    yield collection
    client.drop_database(db_name)
    client.close()


@pytest_asyncio.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with receiving() as found:
        yield found
