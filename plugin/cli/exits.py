"""Exit statuses, the same for every ``audience`` command, and the one place that
picks them for an error.

* 0 — it worked.
* 1 — the operation failed: a job failed or was cancelled, the database or
  RabbitMQ cannot be used, the port is taken.
* 2 — the command line is wrong: a usage error (argparse's own), or input that
  does not parse or names something that is not there.

A mistake is reported as one line, ``audience: <message>``, with no
traceback. Imported by every ``audience`` call: it imports no more than
:mod:`plugin.core.errors`.
"""

from __future__ import annotations

import sys

from plugin.core.errors import (
    AudienceError,
    Conflict,
    DatabaseUnavailable,
    EmbeddedServerError,
    Forbidden,
    InvalidRequest,
    NotFound,
    Unauthorized,
)

__all__ = ["EXIT_OK", "EXIT_FAILED", "EXIT_USAGE", "CommandFailed", "exit_status", "report"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class CommandFailed(AudienceError):
    """The command was right but could not be carried out (a port in use, RabbitMQ away)."""

    code = "command_failed"


# Looked up along the error's MRO, so a subclass (FilterError, a document
# error) takes its base's status unless it is listed itself.
_STATUS: dict[type[AudienceError], int] = {
    AudienceError: EXIT_FAILED,
    CommandFailed: EXIT_FAILED,
    DatabaseUnavailable: EXIT_FAILED,
    EmbeddedServerError: EXIT_FAILED,
    # What was typed: a bad value, a name or id that is not there, a change
    # the current state refuses (a segment name taken), a key that may not.
    InvalidRequest: EXIT_USAGE,
    NotFound: EXIT_USAGE,
    Conflict: EXIT_USAGE,
    Unauthorized: EXIT_USAGE,
    Forbidden: EXIT_USAGE,
}


def exit_status(error: AudienceError) -> int:
    """The exit status for ``error``: 1 or 2."""
    return next(_STATUS[c] for c in type(error).__mro__ if c in _STATUS)


def report(error: AudienceError) -> int:
    """Print ``error`` as ``audience: <message>`` on stderr; its exit status."""
    print(f"audience: {error.message}", file=sys.stderr)
    return exit_status(error)
