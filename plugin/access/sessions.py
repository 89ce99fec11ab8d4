"""Web tab sessions: signing in with an API key, finding the session a browser
holds, signing out.

The browser holds a random token (256 bits); the database holds only its
SHA-256, the hash of the key it was opened with, a CSRF token and when it
expires. Nothing of the key itself is kept, so a session is exactly as good
as its key: every time it is used the key is looked up again, and a revoked
key ends its sessions at once. A session ends when it expires
(``WEB_SESSION_TTL_S`` after sign-in, however active), or on sign-out.

A service over the :class:`~plugin.db.database.Database`; it knows no HTTP
and no cookie.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from plugin.access.keys import Principal, admin_principal, authenticate, hash_key, principal_of
from plugin.access.session_store import SessionStore
from plugin.access.store import KeyStore
from plugin.core.constants import WEB_SESSION_TTL_S
from plugin.core.errors import Unauthorized
from plugin.core.events import to_utc, utc_now
from plugin.db.database import Database

__all__ = ["WebSession", "MAX_KEY_LENGTH", "sign_in", "find_session", "sign_out"]

MAX_KEY_LENGTH = 200


@dataclass(frozen=True, slots=True)
class WebSession:
    principal: Principal
    csrf_token: str  # every state-changing request carries it
    expires_at: datetime

    def csrf_matches(self, sent: str | None) -> bool:
        return sent is not None and hmac.compare_digest(sent.encode(), self.csrf_token.encode())


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def sign_in(db: Database, key: str, admin_key: str | None,
                  ttl_s: float = WEB_SESSION_TTL_S) -> tuple[str, WebSession]:
    """Open a session for ``key``; the token the browser keeps, and the session.

    Raises:
        Unauthorized: an empty, malformed, unknown or revoked key.
    """
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH or not (key.isascii() and key.isprintable()):
        raise Unauthorized("that is not an API key: paste the whole key, as it was given")
    principal = await authenticate(db, f"Bearer {key}", admin_key)
    token, now = secrets.token_urlsafe(32), utc_now()
    session = WebSession(principal, secrets.token_urlsafe(32), now + timedelta(seconds=ttl_s))
    await SessionStore.of(db).insert_session({
        "_id": _token_hash(token), "key_hash": hash_key(key), "csrf": session.csrf_token,
        "created_at": now, "expires_at": session.expires_at})
    return token, session


async def find_session(db: Database, token: str | None,
                       admin_key: str | None) -> WebSession | None:
    """The live session ``token`` names, or None: no such session, expired, or
    its key revoked since."""
    if not token or len(token) > 100:
        return None
    doc = await SessionStore.of(db).find_session(_token_hash(token))
    if doc is None or to_utc(doc["expires_at"]) <= utc_now():
        return None
    principal = await _principal(db, doc["key_hash"], admin_key)
    if principal is None:
        await SessionStore.of(db).delete_session(doc["_id"])
        return None
    return WebSession(principal, doc["csrf"], to_utc(doc["expires_at"]))


async def sign_out(db: Database, token: str | None) -> None:
    if token and len(token) <= 100:
        await SessionStore.of(db).delete_session(_token_hash(token))


async def _principal(db: Database, key_hash: str, admin_key: str | None) -> Principal | None:
    if admin_key and hmac.compare_digest(key_hash, hash_key(admin_key)):
        return admin_principal()
    doc = await KeyStore.of(db).find_api_key(key_hash)
    if doc is None or doc.get("revoked"):
        return None
    return principal_of(doc)
