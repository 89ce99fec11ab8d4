"""``audience lint``'s checks: a bot of the reference runtime read before
anything runs, each finding with its file, line, rule id and a fix hint.

The flow rules (:mod:`runtime.lint.rules`) need no channel; the channel rules
(:mod:`runtime.lint.channels`) take the channels' limits from the caller.
Every rule is listed in :data:`runtime.lint.findings.RULES`.
"""

from runtime.lint.channels import ChannelLimits
from runtime.lint.check import LintReport, lint_file, lint_text
from runtime.lint.findings import RULES, Finding, Rule, Severity

__all__ = ["RULES", "ChannelLimits", "Finding", "LintReport", "Rule", "Severity", "lint_file",
           "lint_text"]
