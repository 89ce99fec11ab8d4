"""A scenario run's conversation in progress (:class:`LiveConversation`):
say, tap, start mid-flow, check. What the YAML runner, the Gherkin steps and
the other tools' scripts all drive; :class:`RunWatch` follows every run
(coverage)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from runtime.model import Bot
from runtime.observer import Observer

from .assertions import check_captured, check_ends_with_cta, check_replies, resolve_tap
from .model import Expect, Given, ScenarioRun, Step, StepKind
from .stubs import StubServer
from .targets import Captured, Conversation

__all__ = ["LiveConversation", "RunWatch"]


class RunWatch(Protocol):
    """Follows every run of a simulator (coverage): an observer for the
    runtime of an in-process run, and a call when any run closes."""

    def observer(self, run: ScenarioRun, bot: Bot) -> Observer | None: ...

    async def finished(self, live: LiveConversation) -> None: ...


@dataclass(slots=True)
class LiveConversation:
    """A scenario run's conversation in progress: say, tap, check. What the YAML
    runner and the Gherkin steps both drive."""

    run: ScenarioRun
    conversation: Conversation
    stubs: StubServer
    target: str
    bot: Bot | None = None
    watch: RunWatch | None = None
    replies: list[dict[str, Any]] = field(default_factory=list)  # the last step's
    last_bot_replies: list[dict[str, Any]] = field(default_factory=list)  # last non-empty ones
    # What was said, step by step: {"user": {text or payload}, "bot": [replies]}.
    transcript: list[dict[str, Any]] = field(default_factory=list)
    target_seconds: float = 0.0
    capture_seconds: float = 0.0

    @property
    def user_id(self) -> str:
        return self.conversation.user_id

    @property
    def bot_id(self) -> str:
        return self.conversation.bot_id

    async def say(self, text: str) -> list[dict[str, Any]]:
        return await self._send(text=text)

    async def tap(self, label: str) -> list[dict[str, Any]]:
        """Tap the button, quick reply or numbered option titled (or with payload)
        ``label`` among the bot's last replies."""
        return await self._send(**resolve_tap(label, self.last_bot_replies))

    async def tap_earlier(self, label: str) -> list[dict[str, Any]]:
        """Tap ``label`` on the most recent bot message that offers it, however
        long ago (a button of an earlier message)."""
        return await self._send(**resolve_tap(label, self.last_bot_replies,
                                              earlier=self.bot_messages()))

    async def send(self, **message: str) -> list[dict[str, Any]]:
        """Send ``text=`` or ``payload=`` as it is."""
        return await self._send(**message)

    async def collect_late(self, quiet: float | None = None) -> list[dict[str, Any]]:
        """Bot messages sent after the last answer, collected until the bot has
        been quiet for ``quiet`` seconds (default: the scenario's quiet period);
        they join the last step's replies. None on a target that answers all at
        once."""
        wait = self.run.scenario.quiet if quiet is None else quiet
        started = time.perf_counter()
        try:
            late = await self.conversation.late(wait)
        finally:
            self.target_seconds += time.perf_counter() - started
        if late:
            self.replies = [*self.replies, *late]
            self.last_bot_replies = list(self.replies)
            if self.transcript:
                self.transcript[-1]["bot"] = [*self.transcript[-1]["bot"], *late]
            else:
                self.transcript.append({"user": {}, "bot": list(late)})
        return late

    async def begin(self, given: Given) -> list[dict[str, Any]]:
        """Start mid-flow at ``given``; its replies are the conversation's first."""
        started = time.perf_counter()
        try:
            replies = await self.conversation.start(given.module, given.properties)
        finally:
            self.target_seconds += time.perf_counter() - started
        self.replies = replies
        if replies:
            self.last_bot_replies = replies
        self.transcript.append({"user": {"given": given.module}, "bot": replies})
        return replies

    async def send_payload(self, payload: str) -> list[dict[str, Any]]:
        """Send ``payload`` as a button tap, whether or not a message offers it."""
        return await self._send(payload=payload)

    def bot_messages(self) -> list[dict[str, Any]]:
        """Every bot message of the conversation so far, oldest first."""
        return [reply for entry in self.transcript for reply in entry["bot"]]

    async def step(self, step: Step) -> list[dict[str, Any]]:
        if step.kind is StepKind.SAY:
            return await self.say(step.value)
        if step.earlier:
            return await self.tap_earlier(step.value)
        return await self.tap(step.value)

    async def _send(self, **message: str) -> list[dict[str, Any]]:
        started = time.perf_counter()
        try:
            replies = await self.conversation.send(**message)
        finally:
            self.target_seconds += time.perf_counter() - started
        self.replies = replies
        if replies:
            self.last_bot_replies = replies
        self.transcript.append({"user": dict(message), "bot": replies})
        return replies

    async def captured(self) -> Captured:
        started = time.perf_counter()
        try:
            return await self.conversation.captured()
        finally:
            self.capture_seconds += time.perf_counter() - started

    async def check(self, expect: Expect, *, whole_conversation: bool = False) -> None:
        """Check ``expect`` against the last step's replies and the captured profile.

        Raises:
            ExpectationFailed: the first expectation that does not hold.
        """
        __tracebackhide__ = True
        check_replies(expect, self.replies)
        if expect.needs_capture:
            captured = await self.captured()
            check_captured(expect, captured, whole_conversation=whole_conversation)

    def check_ends_with_cta(self) -> None:
        check_ends_with_cta(self.last_bot_replies)

    async def close(self) -> None:
        try:
            if self.watch is not None:
                await self.watch.finished(self)
        finally:
            try:
                await self.conversation.close()
            finally:
                self.stubs.unregister(self.run.run_id)
