"""Runtime settings: one frozen dataclass, read from the environment once."""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from plugin.core import constants
from plugin.core.errors import InvalidRequest

__all__ = ["Settings", "mask_uri"]

_N = TypeVar("_N", int, float)

log = logging.getLogger(__name__)


@functools.cache
def _process_link_secret() -> str:
    """A random secret made once per process, on first use."""
    log.warning("AUDIENCE_LINK_SECRET is not set: download links and paging cursors are "
                "signed with a random secret of this process; they fail on other processes "
                "and after a restart")
    return secrets.token_hex(32)


@dataclass(frozen=True, slots=True)
class Settings:
    mongodb_uri: str | None = None
    data_dir: str = constants.DEFAULT_DATA_DIR
    db_name: str = constants.DEFAULT_DB_NAME
    host: str = "127.0.0.1"
    port: int = 8080
    admin_key: str | None = field(default=None, repr=False)
    max_body_bytes: int = constants.MAX_BODY_BYTES
    export_max_rows: int = constants.EXPORT_MAX_ROWS
    # None: links are signed with a random secret of this process (see link_key()).
    link_secret: str | None = field(default=None, repr=False)
    link_ttl_s: int = constants.LINK_TTL_S
    export_retention_s: int = constants.EXPORT_RETENTION_S
    smtp_url: str | None = None  # smtp://host:port; no e-mail without it
    public_url: str | None = None  # the base of links sent by e-mail
    # CRM sync: attempts before a delivery is dead-lettered, the first retry's
    # delay (doubling each time, up to the cap), and each request's timeout.
    webhook_max_attempts: int = constants.WEBHOOK_MAX_ATTEMPTS
    webhook_backoff_s: float = constants.WEBHOOK_BACKOFF_S
    webhook_backoff_max_s: float = constants.WEBHOOK_BACKOFF_MAX_S
    webhook_timeout_s: float = constants.WEBHOOK_TIMEOUT_S
    # Let webhooks reach loopback and private addresses (development, tests);
    # metadata, link-local and reserved ones stay refused (plugin.crm.addresses).
    webhook_allow_private: bool = False
    # How long a job's claim lasts without renewal: a worker that dies mid-job
    # holds it this long before another resumes it (AUDIENCE_JOB_LEASE_S).
    job_lease_s: float = constants.JOB_LEASE_S
    # How long a webhook delivery's claim outlasts its requests' timeouts: a
    # server that dies mid-delivery holds it this long (AUDIENCE_DELIVERY_LEASE_S).
    delivery_lease_s: float = constants.DELIVERY_LEASE_S

    def __post_init__(self) -> None:
        # Absolute once, here, from the folder the command runs in: the embedded
        # database runs elsewhere (the temp folder), and a command run from
        # another folder with the same absolute --data-dir must find the same files.
        if self.data_dir != constants.MEMORY:
            absolute = os.path.abspath(os.path.expanduser(self.data_dir))
            object.__setattr__(self, "data_dir", absolute)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        env = os.environ if env is None else env
        settings = cls(
            mongodb_uri=env.get("MONGODB_URI") or None,
            data_dir=env.get("AUDIENCE_DATA_DIR", constants.DEFAULT_DATA_DIR),
            db_name=env.get("AUDIENCE_DB_NAME", constants.DEFAULT_DB_NAME),
            admin_key=env.get("AUDIENCE_ADMIN_KEY") or None,
            export_max_rows=_number(env, "AUDIENCE_EXPORT_MAX_ROWS",
                                    constants.EXPORT_MAX_ROWS, int),
            link_secret=env.get("AUDIENCE_LINK_SECRET") or None,
            link_ttl_s=_number(env, "AUDIENCE_LINK_TTL_S", constants.LINK_TTL_S, int),
            export_retention_s=_number(env, "AUDIENCE_EXPORT_RETENTION_S",
                                       constants.EXPORT_RETENTION_S, int),
            smtp_url=env.get("AUDIENCE_SMTP_URL") or None,
            public_url=env.get("AUDIENCE_PUBLIC_URL") or None,
            webhook_max_attempts=_number(env, "AUDIENCE_WEBHOOK_MAX_ATTEMPTS",
                                         constants.WEBHOOK_MAX_ATTEMPTS, int),
            webhook_backoff_s=_number(env, "AUDIENCE_WEBHOOK_BACKOFF_S",
                                      constants.WEBHOOK_BACKOFF_S, float),
            webhook_backoff_max_s=_number(env, "AUDIENCE_WEBHOOK_BACKOFF_MAX_S",
                                          constants.WEBHOOK_BACKOFF_MAX_S, float),
            webhook_timeout_s=_number(env, "AUDIENCE_WEBHOOK_TIMEOUT_S",
                                      constants.WEBHOOK_TIMEOUT_S, float),
            webhook_allow_private=_flag(env, "AUDIENCE_WEBHOOK_ALLOW_PRIVATE"),
            job_lease_s=_number(env, "AUDIENCE_JOB_LEASE_S", constants.JOB_LEASE_S, float),
            delivery_lease_s=_number(env, "AUDIENCE_DELIVERY_LEASE_S", constants.DELIVERY_LEASE_S,
                                     float),
        )
        given = {k: v for k, v in overrides.items() if v is not None}
        return replace(settings, **given) if given else settings

    def link_key(self) -> bytes:
        """The key download links are signed with: ``link_secret``, or else a random
        secret of this process (logged once: links then fail on other processes
        and after a restart)."""
        return (self.link_secret or _process_link_secret()).encode()

    def cursor_key(self) -> bytes:
        """The key paging cursors are signed with: derived from the link key (one
        secret to set, ``AUDIENCE_LINK_SECRET``), but never equal to it, so that a
        download link's signature cannot pass for a cursor's, or the reverse."""
        return hmac.new(self.link_key(), b"audience paging cursors", hashlib.sha256).digest()

    def __repr__(self) -> str:
        uri = mask_uri(self.mongodb_uri) if self.mongodb_uri else None
        return (
            f"Settings(mongodb_uri={uri!r}, data_dir={self.data_dir!r}, db_name={self.db_name!r}, "
            f"host={self.host!r}, port={self.port!r})"
        )


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise InvalidRequest(f"{name} must be 1 or 0 (true or false), got {env[name]!r}",
                         variable=name)


def _number(env: Mapping[str, str], name: str, default: _N, kind: Callable[[str], _N]) -> _N:
    raw = env.get(name)
    if raw is None:
        return default
    try:
        return kind(raw)
    except ValueError:
        raise InvalidRequest(f"{name} must be a number, got {raw!r}", variable=name) from None


def mask_uri(uri: str) -> str:
    """``uri`` with any password replaced by ``***``, safe for logs."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
