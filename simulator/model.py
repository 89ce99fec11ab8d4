"""The scenario model: what a loaded scenario file means, as frozen values.

A :class:`Scenario` is a user's scripted conversation with one bot: the
user's :class:`Step` inputs, an :class:`Expect` after each, API stubs and a
starting profile. :meth:`Scenario.runs` expands it into one
:class:`ScenarioRun` per channel. Pure: no I/O; imports nothing from the rest
of the project.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

__all__ = [
    "StubFailure",
    "ApiStub",
    "Choice",
    "ApiExpect",
    "Expect",
    "StepKind",
    "Step",
    "Given",
    "AudienceTarget",
    "WebhookTarget",
    "RasaTarget",
    "Target",
    "Scenario",
    "ScenarioRun",
    "Script",
    "DEFAULT_STEP_TIMEOUT",
]

DEFAULT_STEP_TIMEOUT = 15.0  # seconds; above the runtime's default api timeout (5 s)


class StubFailure(StrEnum):
    TIMEOUT = "timeout"  # never answers: the bot's own api timeout fires
    RESET = "reset"  # the connection is dropped (RST) before any answer
    REFUSED = "refused"  # sent on to a closed port, where the connection is refused


@dataclass(frozen=True, slots=True)
class ApiStub:
    """How one backend API answers during a scenario."""

    api: str
    status: int = 200
    body: Any = None  # JSON; None with no ``text`` means ``{}``
    text: str | None = None  # a raw body that is not JSON
    delay: float = 0.0
    fail: StubFailure | None = None

    def describe(self) -> str:
        if self.fail is not None:
            return f"{self.api}: {self.fail}"
        shown = "non-JSON body" if self.text is not None else "JSON body"
        return f"{self.api}: {self.status} with a {shown}"


@dataclass(frozen=True, slots=True)
class Choice:
    """An expected button, quick reply or option: each given field must match."""

    title: str | None = None
    payload: str | None = None
    url: str | None = None

    def matches(self, offered: Mapping[str, Any]) -> bool:
        return all(
            want is None or offered.get(key) == want
            for key, want in (("title", self.title), ("payload", self.payload), ("url", self.url))
        )

    def describe(self) -> str:
        if self.payload is None and self.url is None:
            return repr(self.title)
        fields = {"title": self.title, "payload": self.payload, "url": self.url}
        return "{" + ", ".join(f"{k}: {v!r}" for k, v in fields.items() if v is not None) + "}"


@dataclass(frozen=True, slots=True)
class ApiExpect:
    """What the most recent call of an API (in the expectation's scope) did."""

    status: int | None = None
    status_given: bool = False  # ``status: null`` (no answer at all) is a real expectation
    failed: str | None = None  # a failure reason: status, timeout, connection, invalid_response
    ok: bool | None = None
    called: bool = True


@dataclass(frozen=True, slots=True)
class Expect:
    """Expectations after a step (scope: that step's turn) or at the end of a
    scenario (scope: the whole conversation). ``None``/empty means unchecked."""

    text: str | None = None
    contains: str | None = None
    regex: str | None = None
    messages: int | None = None
    buttons: tuple[Choice, ...] | None = None
    quick_replies: tuple[Choice, ...] | None = None
    options: tuple[Choice, ...] | None = None  # numbered options in the text (WhatsApp)
    offers: tuple[Choice, ...] | None = None  # any of the three, whatever the channel
    cards: tuple[str, ...] | None = None
    no_fallback: bool = False
    properties: Mapping[str, Any] = field(default_factory=dict)
    set: tuple[str, ...] = ()
    not_set: tuple[str, ...] = ()
    rejected: tuple[str, ...] = ()
    module: str | None = None
    apis: Mapping[str, ApiExpect] = field(default_factory=dict)
    branch: str | None = None
    faq: str | None = None
    assigned_to: str | None = None
    lines: Mapping[str, int] = field(default_factory=dict)  # expectation key -> line

    @property
    def needs_capture(self) -> bool:
        """Whether checking needs the captured profile and timeline."""
        return bool(
            self.no_fallback or self.properties or self.set or self.not_set or self.rejected
            or self.module is not None or self.apis or self.branch is not None
            or self.faq is not None or self.assigned_to is not None
        )


class StepKind(StrEnum):
    SAY = "say"
    TAP = "tap"


@dataclass(frozen=True, slots=True)
class Step:
    kind: StepKind
    value: str
    expect: Expect | None = None
    line: int | None = None
    timeout: float | None = None  # seconds this step may take; None: the scenario's
    quiet: float | None = None  # the quiet period closing its replies; None: the scenario's
    earlier: bool = False  # a tap on the latest message offering it, however old

    def describe(self) -> str:
        if self.earlier:
            return f"{self.kind} {self.value!r} on an earlier message"
        return f"{self.kind} {self.value!r}"


@dataclass(frozen=True, slots=True)
class Given:
    """Where a scenario starts instead of at the first message: the
    conversation's ``properties`` as if the user had already given them, then
    ``module`` run as if triggered (its first question is the bot's opening
    reply). On the reference runtime, through ``Runtime.start_module``; on a
    running server, through the dummy channel's ``POST .../start`` hook."""

    module: str
    properties: Mapping[str, Any] = field(default_factory=dict)
    line: int | None = None

    def describe(self) -> str:
        return f"given: module {self.module!r}"


@dataclass(frozen=True, slots=True)
class AudienceTarget:
    """A running Audience server with the dummy channel installed. With
    ``bot_id``, the bot already deployed there under that id is talked to as it
    is; without, each run deploys its scenario's bot file under an id of its own."""

    url: str
    key: str | None = field(default=None, repr=False)
    bot_id: str | None = None


@dataclass(frozen=True, slots=True)
class WebhookTarget:
    """A bot on another runtime behind a JSON webhook. Paths are JSONPath-style
    (``$.message.text``, ``$[*]``); see :mod:`simulator.jsonpath`."""

    url: str
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    request: Mapping[str, str] = field(default_factory=dict)
    reply: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RasaTarget:
    """A Rasa bot behind its REST channel (``rasa+http://host:5005``). ``bot_id``
    is the Audience bot its broker consumer records under (``audience rasa consume
    --bot``); without it, profile expectations cannot be checked."""

    url: str
    bot_id: str | None = None


Target = AudienceTarget | WebhookTarget | RasaTarget | None  # None: in-process


class Script(Protocol):
    """A conversation written for another tool (a Botium convo, a Rasa e2e test
    case), played on a live conversation by the module that reads that format
    instead of the scenario's own steps."""

    @property
    def steps_total(self) -> int: ...

    async def play(self, live: Any, started: Callable[[int], None], timeout: float) -> Any:
        """Play the script on ``live`` (a :class:`simulator.runner.LiveConversation`),
        calling ``started(n)`` as step ``n`` (1-based) begins; returns the
        :class:`simulator.runner.Failure`, or ``None`` when every check held."""


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    source: str  # the scenario file
    line: int
    bot_file: Path | None
    target: Target
    channels: tuple[str, ...]
    steps: tuple[Step, ...]
    profile: Mapping[str, Any] = field(default_factory=dict)
    apis: Mapping[str, ApiStub] = field(default_factory=dict)
    variables: Mapping[str, str] = field(default_factory=dict)
    expect: Expect | None = None
    ends_with_cta: bool = False
    timeout: float = DEFAULT_STEP_TIMEOUT
    script: Script | None = None  # played instead of ``steps`` (other tools' formats)
    given: Given | None = None  # start mid-flow instead of at the first message
    # Seconds without a bot message that close a step's replies: a bot that answers
    # in several messages over time is heard out. 0: the turn's answer is all.
    quiet: float = 0.0

    @property
    def listens(self) -> bool:
        """Whether any step waits for messages after the turn's answer."""
        return self.quiet > 0 or any(s.quiet for s in self.steps)

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line}"

    def runs(self) -> list[ScenarioRun]:
        return [ScenarioRun(self, channel) for channel in self.channels]


@dataclass(frozen=True, slots=True)
class ScenarioRun:
    """One scenario on one channel, with its own run id and test user."""

    scenario: Scenario
    channel: str
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    @property
    def user_id(self) -> str:
        return f"sim-{self.run_id}"

    @property
    def title(self) -> str:
        return f"{self.scenario.name} [{self.channel}]"
