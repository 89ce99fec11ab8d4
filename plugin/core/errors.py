"""The Audience error hierarchy.

Domain errors carry a machine-readable ``code``, a human ``message`` and
structured ``details`` (field paths, positions, indexes). They know nothing
about HTTP: ``plugin.http.errors`` is the one place that maps them to status
codes.
"""

from __future__ import annotations

__all__ = [
    "AudienceError",
    "InvalidRequest",
    "FilterError",
    "PayloadTooLarge",
    "Unauthorized",
    "Forbidden",
    "NotFound",
    "Conflict",
    "DatabaseUnavailable",
    "ShuttingDown",
    "EmbeddedServerError",
]


class AudienceError(Exception):
    code = "audience_error"

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, object]:
        body: dict[str, object] = {"error": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return body


class InvalidRequest(AudienceError):
    code = "invalid_request"


class FilterError(InvalidRequest):
    """A filter that cannot be compiled; details hold position and token or condition."""

    code = "invalid_filter"


class PayloadTooLarge(InvalidRequest):
    code = "payload_too_large"


class Unauthorized(AudienceError):
    code = "unauthorized"


class Forbidden(AudienceError):
    code = "forbidden"


class NotFound(AudienceError):
    code = "not_found"


class Conflict(AudienceError):
    code = "conflict"


class DatabaseUnavailable(AudienceError):
    code = "database_unavailable"


class ShuttingDown(AudienceError):
    """Asked of a part that is closing (a recorder after ``close()``)."""

    code = "shutting_down"


class EmbeddedServerError(AudienceError):
    """The embedded database process could not be started or reached."""

    code = "embedded_server_error"
