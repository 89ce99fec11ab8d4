"""Bot ids: the one rule every face checks a bot id against.

A bot id is 1 to 64 characters — letters, digits, ``_``, ``-`` and ``.`` —
and starts with a letter or a digit. So ``*`` (the all-bots marker of API
keys), ``$ne``, a NUL, ``..`` or an option-like ``-x`` never name a bot, and a
bot id is safe in a URL path, a file name and a log line as it is. The bot
file schema (``runtime/schemas/bot.schema.json``) states the same pattern; a
test keeps the two equal.

The API checks the ``{bot_id}`` of every route in its auth middleware, the
CLI checks ``--bot`` with :func:`bot_id_argument`, and key creation checks
each bot a key is for (where ``*`` still means every bot).

Pure: imports only the standard library and :mod:`plugin.core.errors`.
"""

from __future__ import annotations

import argparse
import re

from plugin.core.errors import InvalidRequest

__all__ = ["ALL_BOTS", "BOT_ID_PATTERN", "BOT_ID_RULE", "bot_id_argument", "check_bot_id",
           "is_bot_id", "key_bot_argument"]

# An API key's bots may also be this: every bot (it is never a bot id).
ALL_BOTS = "*"

# JSON Schema form (ECMA-262: "$" is the end of the text). Python's "$" would
# also match before a final newline, hence fullmatch on the bare pattern below.
BOT_ID_PATTERN = "^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
BOT_ID_RULE = ("a bot id is 1 to 64 letters, digits, '_', '-' or '.', "
               "starting with a letter or digit")
_BOT_ID = re.compile(BOT_ID_PATTERN[1:-1])
_SHOWN_CHARS = 40


def is_bot_id(value: object) -> bool:
    """Whether ``value`` is a well-formed bot id."""
    return isinstance(value, str) and _BOT_ID.fullmatch(value) is not None


def check_bot_id(value: object, *, field: str = "bot_id") -> str:
    """``value`` if it is a well-formed bot id.

    Raises:
        InvalidRequest: it is not; the message shows (the start of) the value
            and states the rule, ``details`` name ``field``.
    """
    if is_bot_id(value):
        return str(value)
    raise InvalidRequest(f"{_shown(value)} is not a valid bot id: {BOT_ID_RULE}", field=field)


def bot_id_argument(text: str) -> str:
    """An argparse ``type`` for ``--bot``: a well-formed bot id."""
    if is_bot_id(text):
        return text
    raise argparse.ArgumentTypeError(f"{_shown(text)} is not a valid bot id: {BOT_ID_RULE}")


def key_bot_argument(text: str) -> str:
    """An argparse ``type`` for the bots of a key: a bot id or ``*``."""
    return text if text == ALL_BOTS else bot_id_argument(text)


def _shown(value: object) -> str:
    if not isinstance(value, str):
        return f"a {type(value).__name__}"
    if len(value) > _SHOWN_CHARS:
        return f"{value[:_SHOWN_CHARS]!r}… ({len(value)} characters)"
    return repr(value)
