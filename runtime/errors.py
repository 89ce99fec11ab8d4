"""Errors of the bot runtime. Subclasses of the Audience hierarchy, so that an
HTTP layer answers them like its own (a bad bot file is a 400). A
:class:`Problem` (what is wrong, and where) is :mod:`plugin.core.documents`'
own, shared by every document reader."""

from __future__ import annotations

from collections.abc import Sequence

from plugin.core.documents import Problem, first_problems
from plugin.core.errors import InvalidRequest

__all__ = ["Problem", "DocumentError", "BotDefinitionError"]


class DocumentError(InvalidRequest):
    """A YAML document (a bot, a scenario file) that cannot be loaded. The
    message has one line per problem, ``file:line: path/in/document: reason``;
    the first problem is also in ``path``, ``line`` and ``reason``. Every
    problem is in ``problems``; the message and ``details`` show the first
    :data:`~plugin.core.documents.MAX_PROBLEMS_SHOWN` and end with
    ``… and N more`` (``details["more"]``)."""

    def __init__(self, source: str, problems: Sequence[Problem]) -> None:
        if not problems:
            raise ValueError(f"a {type(self).__name__} needs at least one problem")
        self.source = source
        self.problems = tuple(problems)
        first = self.problems[0]
        self.path, self.line, self.reason = first.path, first.line, first.reason
        shown, more = first_problems(self.problems)
        message = "\n".join([*(p.describe(source) for p in shown), *([more] if more else [])])
        details: dict[str, object] = {"file": source, "errors": [p.to_dict() for p in shown]}
        if more:
            details["more"] = len(self.problems) - len(shown)
        super().__init__(message, **details)


class BotDefinitionError(DocumentError):
    """A bot file that cannot be loaded (see :class:`DocumentError`)."""

    code = "invalid_bot"
