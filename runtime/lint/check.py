"""Linting one bot file: read it as far as it goes, map what the loader
refuses to rule ids, run the flow rules and the channel rules, and return the
findings sorted by line.

>>> report = lint_text("bot: {id: b, name: B}\\nmodules:\\n  m: {default: true, "
...                    "steps: [{say: Bye}]}\\n", "b.yaml")
>>> [f.rule for f in report.findings]
['flow-without-cta']

Reads only the file it is given.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from runtime.errors import Problem
from runtime.loader import read_bot

from .channels import ChannelLimits, check_channel
from .findings import Finding, Severity
from .rules import FLOW_RULES, Context

__all__ = ["LintReport", "lint_text", "lint_file"]

# What the loader says, as the rule it breaks (first match wins).
_LOADER_RULES = (
    ("template names undeclared property", "template-unknown-property"),
    ("invalid condition: condition", "branch-never-holds"),
)


@dataclass(frozen=True, slots=True)
class LintReport:
    """The findings of one bot file, sorted by line; ``loaded`` says whether
    the runtime would load the file (only then do the flow rules run)."""

    file: str
    findings: tuple[Finding, ...]
    loaded: bool
    channels: tuple[str, ...] = ()

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.WARNING]


def lint_file(path: str | Path, channels: Sequence[ChannelLimits] = ()) -> LintReport:
    """Lint the bot file at ``path`` for ``channels`` (none: the channel rules are skipped).

    Raises:
        OSError: the file cannot be read.
        UnicodeDecodeError: it is not UTF-8 text.
    """
    return lint_text(Path(path).read_text("utf-8"), str(path), channels)


def lint_text(text: str, file: str = "<bot>",
              channels: Sequence[ChannelLimits] = ()) -> LintReport:
    reading = read_bot(text, file)
    names = tuple(c.name for c in channels)
    if reading.bot is None or reading.lines is None:
        rule_id = "schema" if reading.lines is not None else "yaml"
        found = [_loader_finding(file, p, rule_id) for p in reading.problems]
        return LintReport(file, tuple(found), False, names)
    ctx = Context(reading.bot, reading.lines, file)
    for problem in reading.problems:
        ctx.findings.append(_loader_finding(file, problem, "invalid-bot"))
    if any(m.default for m in reading.bot.modules.values()):
        for check in FLOW_RULES:
            check(ctx)
    for channel in channels:
        check_channel(ctx, channel)
    unique = list(dict.fromkeys(ctx.findings))
    unique.sort(key=lambda f: (f.line or 0, f.rule, f.channel or "", f.message))
    return LintReport(file, tuple(unique), not reading.problems, names)


def _loader_finding(file: str, problem: Problem, default: str) -> Finding:
    rule_id = next((r for prefix, r in _LOADER_RULES if problem.reason.startswith(prefix)),
                   default)
    return Finding(rule_id, file, problem.line, problem.path, problem.reason)
