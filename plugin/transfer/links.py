"""Signed, expiring links to an export's file.

The link is the credential: anyone holding it may download the file until
it expires, so it can be mailed and opened in a browser. :func:`sign_link`
HMAC-SHA256s the job id and the expiry time with the settings' link key
(``AUDIENCE_LINK_SECRET``, or a random secret of the process);
:func:`check_link` checks the two parts a link brings back.

Where a link points is the face's business (``plugin.http``): this module
deals in :class:`SignedLink` values and knows no URL.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from plugin.core.errors import Forbidden
from plugin.core.settings import Settings

__all__ = ["SignedLink", "check_link", "sign_link"]


@dataclass(frozen=True, slots=True)
class SignedLink:
    job_id: str
    expires: int  # Unix time
    signature: str  # hex HMAC-SHA256 of "<job_id>:<expires>"


def _signature(settings: Settings, job_id: str, expires: int) -> str:
    return hmac.new(settings.link_key(), f"{job_id}:{expires}".encode(),
                    hashlib.sha256).hexdigest()


def sign_link(settings: Settings, job_id: str, *, now: float | None = None) -> SignedLink:
    """A link to ``job_id``'s file that works for ``settings.link_ttl_s`` from ``now``."""
    expires = int((now if now is not None else time.time()) + settings.link_ttl_s)
    return SignedLink(job_id, expires, _signature(settings, job_id, expires))


def check_link(settings: Settings, job_id: str, expires: str | None, signature: str | None,
               *, now: float | None = None) -> None:
    """Check the expiry and signature a link to ``job_id``'s file came with.

    Raises:
        Forbidden: the link is incomplete, tampered with or expired.
    """
    if not expires or not signature:
        raise Forbidden("the download link is incomplete: it needs its 'expires' and "
                        "'signature'; the export's status gives a complete one")
    try:
        moment = int(expires)
    except ValueError:
        raise Forbidden("the download link is invalid: 'expires' is not a time") from None
    # Bytes: compare_digest refuses str with non-ASCII characters (a 500 otherwise).
    if not hmac.compare_digest(_signature(settings, job_id, moment).encode(),
                               signature.encode("utf-8", "replace")):
        raise Forbidden("the download link is invalid: its signature does not match")
    if moment < (now if now is not None else time.time()):
        at = datetime.fromtimestamp(moment, UTC).isoformat()
        raise Forbidden(f"the download link expired at {at}; the export's status gives a "
                        "new one", expired_at=at)
