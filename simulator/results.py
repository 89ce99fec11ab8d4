"""What a scenario run and a suite came to: the :class:`Outcome`, where it
failed (:class:`Failure`), the :class:`RunResult` with a failed run's
transcript, and the :class:`SuiteResult`. Pure values; the reports
(:mod:`simulator.report`) show them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from .assertions import describe_replies

__all__ = ["Outcome", "Failure", "RunResult", "SuiteResult", "describe_transcript"]


class Outcome(StrEnum):
    PASSED = "passed"
    FAILED = "failed"  # an expectation did not hold, or a step timed out
    ERROR = "error"  # the scenario could not run (target unreachable, bot broken)
    FLAKY = "flaky"  # passed and failed in the attempts of one run (--repeat, --retries)


@dataclass(frozen=True, slots=True)
class Failure:
    """Where and how a scenario failed. ``step`` is 1-based; ``None`` means the
    end-of-scenario checks (or opening the conversation, for an error)."""

    step: int | None
    step_text: str
    what: str
    expected: str
    actual: str
    line: int | None = None

    def describe(self) -> str:
        where = f"step {self.step} ({self.step_text})" if self.step else self.step_text
        return f"{where}: {self.what}\n  expected: {self.expected}\n  got: " + (
            self.actual.replace("\n", "\n       "))


@dataclass(frozen=True, slots=True)
class RunResult:
    scenario: str
    source: str
    line: int
    channel: str
    target: str
    bot_id: str | None
    user_id: str
    outcome: Outcome
    steps_run: int
    steps_total: int
    seconds: float
    target_seconds: float  # time spent waiting on the bot (its turns)
    failure: Failure | None = None
    capture_seconds: float = 0.0  # time spent reading the captured profile and timeline
    attempts: tuple[RunResult, ...] = ()  # every attempt, when it was run more than once
    transcript: tuple[dict[str, Any], ...] = ()  # a failed run's conversation, step by step
    timeline_kept: bool = True  # False: captured into a database thrown away at the end

    @property
    def title(self) -> str:
        return f"{self.scenario} [{self.channel}]"

    def describe_failure(self) -> str:
        if self.failure is None:
            return ""
        where = f"{self.source}:{self.failure.line or self.line}"
        said = f"{self.outcome.upper()} {self.title} ({where})"
        if self.attempts:
            failed = sum(a.outcome is not Outcome.PASSED for a in self.attempts)
            said += f": {failed} of {len(self.attempts)} attempts failed, the first"
        said += f"\n  {self.failure.describe()}"
        if self.timeline_kept:
            said += f"\n  timeline: bot {self.bot_id!r}, user {self.user_id!r}"
        if self.transcript:
            said += "\n  transcript:\n" + describe_transcript(self.transcript, indent="    ")
        return said

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "scenario": self.scenario, "file": self.source, "line": self.line,
            "channel": self.channel, "target": self.target, "bot_id": self.bot_id,
            "user_id": self.user_id, "outcome": str(self.outcome), "steps_run": self.steps_run,
            "steps_total": self.steps_total, "seconds": round(self.seconds, 4),
            "target_seconds": round(self.target_seconds, 4),
            "capture_seconds": round(self.capture_seconds, 4), "failure": None,
        }
        if self.failure is not None:
            f = self.failure
            body["failure"] = {"step": f.step, "step_text": f.step_text, "what": f.what,
                               "expected": f.expected, "actual": f.actual, "line": f.line}
        if self.transcript:
            body["transcript"] = list(self.transcript)
        if self.attempts:
            body["attempts"] = [a.to_dict() for a in self.attempts]
        return body


def describe_transcript(transcript: Iterable[Mapping[str, Any]], indent: str = "") -> str:
    """A conversation as lines: ``user: ...`` then ``bot: ...`` for each message."""
    lines = []
    for entry in transcript:
        user = entry.get("user") or {}
        if user.get("given") is not None:
            said = f"[starts mid-flow at module {user['given']!r}]"
        elif user.get("payload") is not None:
            said = f"[tap {user['payload']}]"
        else:
            said = repr(user.get("text"))
        lines.append(f"{indent}user: {said}")
        for reply in entry.get("bot") or []:
            lines.append(f"{indent}bot:  " + describe_replies([reply]).replace(
                "\n", "\n" + indent + "      "))
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class SuiteResult:
    results: list[RunResult]
    seconds: float

    @property
    def failed(self) -> list[RunResult]:
        """Runs that failed or broke (in every attempt: a flaky run is not among them)."""
        return [r for r in self.results if r.outcome in (Outcome.FAILED, Outcome.ERROR)]

    @property
    def flaky(self) -> list[RunResult]:
        return [r for r in self.results if r.outcome is Outcome.FLAKY]

    @property
    def steps(self) -> int:
        return sum(r.steps_run for r in self.results)

    @property
    def target_seconds(self) -> float:
        return sum(r.target_seconds for r in self.results)

    @property
    def capture_seconds(self) -> float:
        return sum(r.capture_seconds for r in self.results)
