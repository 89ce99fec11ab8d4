"""API keys: roles, the bots a key may touch, creation, lookup, listing and
revocation.

A key is shown once, when created; only its SHA-256 is stored. Keys are 256
random bits, so a plain hash (no salt, no stretching) is enough to make a
stolen database useless for calling the API. A key is named by its id, the
first 16 hex digits of that hash, which tells nothing of the key.

Roles, each with the rights of the ones before it: a *viewer* reads; an
*editor* changes the audience's data — ingests events, manages segments,
runs bulk actions, imports, exports, takes conversations over; an *admin*
configures — bot definitions, properties, webhooks, API keys. Each route's
role is on its record (:mod:`plugin.http.endpoint`).

A revoked key is refused from its next request on: every request looks its
key up. The time a key was last used is written at most once a
``KEY_USE_RECORD_S`` per key, so using a key costs no write per request.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from plugin.access.store import KeyStore
from plugin.core import constants as c
from plugin.core.bot_ids import ALL_BOTS, check_bot_id
from plugin.core.errors import Forbidden, InvalidRequest, NotFound, Unauthorized
from plugin.core.events import utc_now
from plugin.db.database import Database

__all__ = ["Role", "Principal", "ALL_BOTS", "ADMIN_KEY_ID", "ApiKey", "create_key",
           "authenticate", "hash_key", "key_id", "list_keys", "revoke_key", "principal_of",
           "admin_principal"]

_PREFIX = "aud_"
_ID_DIGITS = 16
_KEY_ID = re.compile(f"[0-9a-f]{{{_ID_DIGITS}}}")


class Role(StrEnum):
    VIEWER = "viewer"
    EDITOR = "editor"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)


ADMIN_KEY_ID = "admin"  # the server's admin key (AUDIENCE_ADMIN_KEY), which has no record


@dataclass(frozen=True, slots=True)
class Principal:
    role: Role
    bots: frozenset[str]
    # Who this is, as what they start records it (a job's ``started_by``): the
    # key's id (see :func:`key_id`) and label; never the key.
    key_id: str = ""
    label: str = ""

    def identity(self) -> dict[str, str]:
        """The key's id, label and role: how a job records who started it."""
        return {"key_id": self.key_id, "label": self.label, "role": str(self.role)}

    def authorize(self, bot_id: str, needed: Role) -> None:
        """Raise unless this key may act on ``bot_id`` with ``needed``'s rights.

        A bot the key does not cover answers 404, the same as a bot that does
        not exist: a key must not reveal which other bots there are.
        """
        if ALL_BOTS not in self.bots and bot_id not in self.bots:
            raise NotFound(f"bot {bot_id!r} not found")
        self.authorize_role(needed)

    def authorize_role(self, needed: Role) -> None:
        """Raise unless the key has ``needed``'s rights (on the bots it covers)."""
        if self.role.rank < needed.rank:
            raise Forbidden(f"this needs the {needed} role; the key has {self.role}")

    def covers(self, bots: Iterable[str]) -> bool:
        """Whether this key may touch every one of ``bots`` (``*`` only if it has ``*``)."""
        return ALL_BOTS in self.bots or set(bots) <= self.bots


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A stored key as it may be shown: never the key, nor its hash."""

    id: str
    prefix: str  # the key's first characters, to recognise it by
    role: Role
    bots: tuple[str, ...]
    label: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, doc: Mapping[str, Any]) -> ApiKey:
        return cls(key_id(doc["_id"]), doc.get("prefix", ""), Role(doc["role"]),
                   tuple(doc["bots"]), doc.get("label", ""), doc["created_at"],
                   doc.get("last_used_at"), doc.get("revoked_at"))


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def key_id(key_hash: str) -> str:
    """The id a key is shown and revoked by: the start of its hash."""
    return key_hash[:_ID_DIGITS]


async def create_key(db: Database, role: Role | str, bots: Iterable[str], label: str = "") -> str:
    """Store a new key and return it (the only time it is seen in clear).

    Raises:
        InvalidRequest: no bots, or one that is neither a bot id nor ``*``.
    """
    bot_list = sorted({b if b == ALL_BOTS else check_bot_id(b, field="bots") for b in bots})
    if not bot_list:
        raise InvalidRequest("a key needs at least one bot (or '*' for every bot)")
    key = _PREFIX + secrets.token_urlsafe(32)
    await KeyStore.of(db).insert_api_key({
        "_id": hash_key(key),
        "prefix": key[:10],
        "role": str(Role(role)),
        "bots": bot_list,
        "label": label,
        "created_at": utc_now(),
    })
    return key


async def authenticate(db: Database, authorization: str | None, admin_key: str | None) -> Principal:
    if not authorization:
        raise Unauthorized("missing Authorization header (expected 'Bearer <key>')")
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("the Authorization header must be 'Bearer <key>'")
    if admin_key and hmac.compare_digest(token.encode(), admin_key.encode()):
        return admin_principal()
    keys = KeyStore.of(db)
    doc = await keys.find_api_key(hash_key(token))
    if doc is None or doc.get("revoked"):
        raise Unauthorized("unknown or revoked API key")
    now = utc_now()
    every = timedelta(seconds=c.KEY_USE_RECORD_S)
    if doc.get("last_used_at") is None or doc["last_used_at"] <= now - every:
        await keys.record_use(doc["_id"], now, now - every)
    return principal_of(doc)


def principal_of(doc: Mapping[str, Any]) -> Principal:
    """The principal of a stored key."""
    return Principal(Role(doc["role"]), frozenset(doc["bots"]), key_id(doc["_id"]),
                     doc.get("label", ""))


def admin_principal() -> Principal:
    """The principal of the server's admin key."""
    return Principal(Role.ADMIN, frozenset({ALL_BOTS}), ADMIN_KEY_ID, "admin key")


async def list_keys(db: Database, holder: Principal) -> list[ApiKey]:
    """The keys ``holder`` may see — those whose bots it covers — oldest first,
    revoked ones included."""
    return [ApiKey.of(doc) for doc in await KeyStore.of(db).list_api_keys()
            if holder.covers(doc["bots"])]


async def revoke_key(db: Database, holder: Principal, key: str) -> ApiKey:
    """Revoke the key with id ``key`` (see :func:`key_id`): it is refused from
    its next request on. Revoking a revoked key changes nothing.

    Raises:
        NotFound: no such key, or one for bots ``holder`` does not cover.
    """
    doc = await KeyStore.of(db).find_by_id(key) if _KEY_ID.fullmatch(key) else None
    if doc is None or not holder.covers(doc["bots"]):
        raise NotFound(f"no API key {key!r}", key=key)
    if not doc.get("revoked"):
        doc = await KeyStore.of(db).revoke(doc["_id"], utc_now()) or doc
    return ApiKey.of(doc)
