"""What ``audience lint`` can find: every rule with its id, severity and fix
hint, and the :class:`Finding` a rule reports at a place in the bot file.

A rule is data (:data:`RULES`), so the command's ``--rules`` listing, the
README and the tests read the same table. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = ["Severity", "Rule", "RULES", "Finding", "rule"]


class Severity(StrEnum):
    ERROR = "error"  # the bot breaks for some users: lint exits 1
    WARNING = "warning"  # likely a mistake, or a gap a user will meet


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    severity: Severity
    summary: str
    hint: str


RULES: dict[str, Rule] = {r.id: r for r in (
    # Loading: what the runtime itself refuses.
    Rule("yaml", Severity.ERROR, "the file is not YAML",
         "fix the YAML syntax at the line shown"),
    Rule("schema", Severity.ERROR, "the file does not have a bot's shape",
         "see runtime/schemas/bot.schema.json for what goes where"),
    Rule("invalid-bot", Severity.ERROR, "the runtime refuses this definition",
         "the reason says what to change; the runtime will not load the bot until then"),
    Rule("template-unknown-property", Severity.ERROR,
         "a template names a property the bot does not declare",
         "declare it under 'properties', or fix the name in {{…}}"),
    # Flows.
    Rule("flow-without-cta", Severity.ERROR,
         "a flow can end without a call to action",
         "end the flow on a message with buttons or quick replies, or hand over to a person"),
    Rule("unreachable-module", Severity.WARNING, "no path reaches this module",
         "start it (keywords, patterns, or a payload a reachable button offers), "
         "lead to it (goto, branch, on_success/on_failure, on_give_up), or delete it"),
    Rule("goto-loop", Severity.ERROR,
         "modules lead to each other forever without asking the user anything",
         "break the cycle: ask something, or end one of the modules"),
    Rule("goto-loop-conditional", Severity.WARNING,
         "modules can lead to each other without asking the user anything; only a "
         "branch or call outcome leaves the cycle",
         "make sure the cycle changes what its branch or call decides, or ask the user"),
    Rule("branch-never-holds", Severity.ERROR, "a branch arm's condition can never hold",
         "compare with a declared property and a value the property can take"),
    # Channels.
    Rule("too-many-buttons", Severity.ERROR, "more buttons than the channel shows",
         "keep at most the channel's limit of buttons (link buttons count), or use "
         "quick replies"),
    Rule("too-many-quick-replies", Severity.ERROR, "more quick replies than the channel shows",
         "keep at most the channel's limit of quick replies"),
    Rule("quick-replies-unsupported", Severity.WARNING,
         "the channel has no quick replies: they become numbered options in the text",
         "use buttons (up to the channel's limit), or check the numbered options read well"),
    Rule("text-too-long", Severity.ERROR, "a text longer than the channel takes",
         "shorten it or split it into several 'say' steps"),
    # Questions, calls and declarations.
    Rule("ask-without-validation", Severity.WARNING,
         "a question whose answer is taken whatever it is",
         "add 'validation' (min_length, max_length or regex) to the property"),
    Rule("ask-without-error-message", Severity.WARNING,
         "a refused answer gets the runtime's generic message",
         "add 'error_message' to the property, saying what a good answer looks like"),
    Rule("call-without-on-failure", Severity.WARNING,
         "when the call fails the flow goes on as if it had worked",
         "add 'on_failure' (one module, or one per reason: status, timeout, connection, "
         "invalid_response)"),
    Rule("unused-property", Severity.WARNING, "a property nothing asks, sets, saves or reads",
         "use it or delete it"),
    Rule("unused-api", Severity.WARNING, "an api no step calls", "call it or delete it"),
)}


def rule(rule_id: str) -> Rule:
    return RULES[rule_id]


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing lint found: which rule, where (file, line, path in the
    document), what exactly, and how to fix it."""

    rule: str
    file: str
    line: int | None
    path: str
    message: str
    channel: str | None = None

    @property
    def severity(self) -> Severity:
        return RULES[self.rule].severity

    @property
    def hint(self) -> str:
        return RULES[self.rule].hint

    def describe(self) -> str:
        """``file:line: error flow-without-cta: message`` and the hint below it."""
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.severity} {self.rule}: {self.message}\n    fix: {self.hint}"

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "severity": str(self.severity), "file": self.file,
                "line": self.line, "path": self.path, "message": self.message,
                "hint": self.hint, "channel": self.channel}
