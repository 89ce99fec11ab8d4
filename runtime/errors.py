"""Errors of the bot runtime. Subclasses of the Audience hierarchy, so that an
HTTP layer answers them like its own (a bad bot file is a 400). A
:class:`Problem` (what is wrong, and where) is :mod:`plugin.core.documents`'
own, shared by every document reader."""

from __future__ import annotations

from collections.abc import Sequence

from plugin.core.documents import Problem
from plugin.core.errors import InvalidRequest

__all__ = ["Problem", "DocumentError", "BotDefinitionError"]


class DocumentError(InvalidRequest):
    """A YAML document (a bot, a scenario file) that cannot be loaded. The
    message has one line per problem, ``file:line: path/in/document: reason``;
    the first problem is also in ``path``, ``line`` and ``reason``."""

    def __init__(self, source: str, problems: Sequence[Problem]) -> None:
        if not problems:
            raise ValueError(f"a {type(self).__name__} needs at least one problem")
        self.source = source
        self.problems = tuple(problems)
        first = self.problems[0]
        self.path, self.line, self.reason = first.path, first.line, first.reason
        message = "\n".join(p.describe(source) for p in self.problems)
        super().__init__(message, file=source, errors=[p.to_dict() for p in self.problems])


class BotDefinitionError(DocumentError):
    """A bot file that cannot be loaded (see :class:`DocumentError`)."""

    code = "invalid_bot"
