"""The one handle on MongoDB: client, embedded server, indexes, health.

It knows no capability. Each capability keeps a small repository of its own
(a :class:`Repository` subclass) over this handle; ``SegmentStore.of(db)``
gives the one instance of a repository per handle, so the caches a
repository keeps are shared by everyone using the same database.

It accepts a PyMongo ``AsyncMongoClient`` (its own, or one handed in) or a
Motor client handed in by a host runtime; the two differ in ``aggregate``
(awaited in PyMongo) and ``close`` (a coroutine in PyMongo), which
:func:`maybe_await` papers over.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import re
from collections.abc import Awaitable, Callable
from typing import Any, Self, TypeVar
from urllib.parse import parse_qsl, urlsplit

from pymongo import AsyncMongoClient
from pymongo.errors import (
    BulkWriteError,
    ConnectionFailure,
    ExecutionTimeout,
    PyMongoError,
    WriteConcernError,
)

from plugin.core import constants as c
from plugin.core.errors import DatabaseUnavailable
from plugin.core.settings import Settings, mask_uri
from plugin.db.embedded import EmbeddedServer
from plugin.db.indexes import INDEXES, RETIRED
from plugin.db.upgrades import run_upgrades

__all__ = ["Database", "Repository", "duplicate_key_indexes", "maybe_await",
           "reports_unavailable"]

_DUPLICATE_KEY = 11000
# Long enough for a replica set to elect a primary; a URI may name its own.
_SERVER_SELECTION_TIMEOUT_MS = 10_000
# Failures after which the same operation may simply be tried again later.
_TRANSIENT = (ConnectionFailure, ExecutionTimeout, WriteConcernError)
_Method = TypeVar("_Method", bound=Callable[..., Awaitable[Any]])
_Repo = TypeVar("_Repo", bound="Repository")


class Database:
    def __init__(
        self,
        client: Any,
        db_name: str,
        *,
        embedded: EmbeddedServer | None = None,
        owns_client: bool = True,
    ) -> None:
        self.client = client
        self.mongo = client[db_name]
        self.embedded = embedded
        self._owns_client = owns_client
        self._repositories: dict[type[Repository], Repository] = {}

    @classmethod
    async def open(cls, settings: Settings) -> Database:
        """Connect to ``MONGODB_URI``, or to the embedded server for the data dir."""
        embedded = None
        uri = settings.mongodb_uri
        if uri is None:
            embedded = await EmbeddedServer.attach_or_start(settings.data_dir)
            uri = embedded.uri
        defaults: dict[str, Any] = {} if _names_option(uri, "serverSelectionTimeoutMS") else {
            "serverSelectionTimeoutMS": _SERVER_SELECTION_TIMEOUT_MS}
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            uri, tz_aware=True, **defaults)
        db = cls(client, settings.db_name, embedded=embedded)
        try:
            await db.ensure_indexes()
        except PyMongoError as exc:
            await db.close()
            raise DatabaseUnavailable(f"the database at {mask_uri(uri)} does not answer: "
                                      f"{_first_line(exc)}") from exc
        except BaseException:
            await db.close()
            raise
        return db

    @classmethod
    async def from_client(cls, client: Any, db_name: str = c.DEFAULT_DB_NAME) -> Database:
        """Use a client the host runtime owns (PyMongo async or Motor); we never close it."""
        db = cls(client, db_name, owns_client=False)
        await db.ensure_indexes()
        return db

    async def close(self) -> None:
        if self._owns_client:
            await maybe_await(self.client.close())
        if self.embedded is not None:
            await self.embedded.stop()
            self.embedded = None

    def __getitem__(self, collection: str) -> Any:
        return self.mongo[collection]

    def shared(self, repository: type[_Repo]) -> _Repo:
        """The one instance of ``repository`` over this handle."""
        found = self._repositories.get(repository)
        if found is None:
            found = self._repositories[repository] = repository(self)
        return found  # type: ignore[return-value]  # keyed by its own type

    async def ensure_indexes(self) -> None:
        await run_upgrades(self.mongo)
        for collection, names in RETIRED.items():
            # index_information: awaitable on PyMongo's async API and on Motor alike.
            existing = await self.mongo[collection].index_information()
            for name in set(names) & set(existing):
                await self.mongo[collection].drop_index(name)
        for collection, indexes in INDEXES.items():
            await self.mongo[collection].create_indexes(indexes)

    async def ping(self, timeout: float = 2.0) -> None:
        try:
            await asyncio.wait_for(self.mongo.command("ping"), timeout)
        except (PyMongoError, TimeoutError) as exc:
            raise DatabaseUnavailable(f"the database does not answer: {exc or 'timeout'}") from exc


class Repository:
    """A capability's collections, over a shared :class:`Database` handle."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @classmethod
    def of(cls, db: Database) -> Self:
        return db.shared(cls)


async def maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


def reports_unavailable(method: _Method) -> _Method:
    """Report a database that is away as :class:`DatabaseUnavailable`."""

    @functools.wraps(method)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return await method(*args, **kwargs)
        except _TRANSIENT as exc:
            raise DatabaseUnavailable(f"the database is unavailable: {exc}") from exc

    return wrapper  # type: ignore[return-value]


def _names_option(uri: str, option: str) -> bool:
    """Whether ``uri`` sets ``option`` (PyMongo lets a keyword argument
    override the URI, so a default is given only where the URI is silent)."""
    query = urlsplit(uri).query
    return option.lower() in (name.lower() for name, _ in parse_qsl(query))


def _first_line(exc: Exception) -> str:
    """pymongo's selection errors run on into timeouts and a topology dump."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return re.split(r" \(configured timeouts|, Timeout: |, Topology Description: ", text)[0]


def duplicate_key_indexes(exc: BulkWriteError) -> list[int]:
    """Indexes of the operations that hit a unique index; any other error is re-raised."""
    errors = exc.details.get("writeErrors", [])
    if any(err.get("code") != _DUPLICATE_KEY for err in errors) or exc.details.get(
        "writeConcernErrors"
    ):
        raise exc
    return [err["index"] for err in errors]
