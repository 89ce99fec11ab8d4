"""API keys: roles, the bots a key may touch, creation and lookup.

A key is shown once, when created; only its SHA-256 is stored. Keys are 256
random bits, so a plain hash (no salt, no stretching) is enough to make a
stolen database useless for calling the API.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from plugin.access.store import KeyStore
from plugin.core.bot_ids import ALL_BOTS, check_bot_id
from plugin.core.errors import Forbidden, InvalidRequest, NotFound, Unauthorized
from plugin.core.events import utc_now
from plugin.db.database import Database

__all__ = ["Role", "Principal", "ALL_BOTS", "create_key", "authenticate", "hash_key"]

_PREFIX = "aud_"


class Role(StrEnum):
    VIEWER = "viewer"
    EDITOR = "editor"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)


@dataclass(frozen=True, slots=True)
class Principal:
    role: Role
    bots: frozenset[str]

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


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


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
        return Principal(Role.ADMIN, frozenset({ALL_BOTS}))
    doc = await KeyStore.of(db).find_api_key(hash_key(token))
    if doc is None or doc.get("revoked"):
        raise Unauthorized("unknown or revoked API key")
    return Principal(Role(doc["role"]), frozenset(doc["bots"]))
