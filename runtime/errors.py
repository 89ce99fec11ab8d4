"""Errors of the bot runtime. Subclasses of the Audience hierarchy, so that an
HTTP layer answers them like its own (a bad bot file is a 400)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from plugin.core.errors import InvalidRequest

__all__ = ["Problem", "DocumentError", "BotDefinitionError"]


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a bot file: where (JSON path, 1-based line) and why."""

    path: str
    line: int | None
    reason: str

    def describe(self, source: str) -> str:
        where = f"{source}:{self.line}" if self.line is not None else source
        return f"{where}: {self.path or '(document)'}: {self.reason}"

    def to_dict(self) -> dict[str, object]:
        return {"path": self.path, "line": self.line, "reason": self.reason}


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
