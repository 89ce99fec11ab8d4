"""One path of a crawl, replayed from the first message: a fresh runtime on
the dummy channel, the path's API stubs served on loopback, and a record of
each turn (what the user sent, the replies as delivered and as the bot wrote
them, where the conversation stands, and what the runtime reported).

A path is replayed whole each time the crawl looks at it: runtime
conversations cannot be copied, and a replay is a few milliseconds.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import aiohttp

from connectors.dummy import DummyChannel
from runtime.engine import ConversationState, Runtime
from runtime.graph import DocumentPath
from runtime.interpreter import DEFAULT_STEP_BUDGET
from runtime.model import Bot
from runtime.observer import Observer

from ..assertions import ExpectationFailed, resolve_tap
from ..coverage.items import Key
from ..model import ApiStub, StubFailure
from ..stubs import StubServer

__all__ = ["Input", "Outcome", "Path", "Turn", "Walk", "Walker"]


@dataclass(frozen=True, slots=True)
class Input:
    """One user input: ``say`` a text, or ``tap`` a title among the last replies."""

    kind: str
    value: str
    why: str = ""

    def describe(self) -> str:
        return f"{self.kind} {self.value!r}"


@dataclass(frozen=True, slots=True)
class Outcome:
    """How an API answers on a path: ``kind`` is ``success`` or a failure reason."""

    kind: str
    stub: ApiStub
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Path:
    inputs: tuple[Input, ...] = ()
    apis: tuple[tuple[str, Outcome], ...] = ()

    def then(self, step: Input) -> Path:
        return Path((*self.inputs, step), self.apis)

    def with_api(self, api: str, outcome: Outcome) -> Path:
        return Path(self.inputs, (*[(a, o) for a, o in self.apis if a != api], (api, outcome)))

    @property
    def stubs(self) -> dict[str, Outcome]:
        return dict(self.apis)

    def describe(self) -> str:
        shown = " -> ".join(i.describe() for i in self.inputs) or "(nothing said)"
        failing = [f"{api} {o.kind}" for api, o in self.apis if o.kind != "success"]
        return shown + (f" [{', '.join(failing)}]" if failing else "")


@dataclass(slots=True)
class Turn:
    """What one input did."""

    input: Input
    replies: list[dict[str, Any]] = field(default_factory=list)
    raw: list[dict[str, Any]] = field(default_factory=list)  # as the bot wrote them
    state: ConversationState | None = None
    module: str | None = None  # the last module entered so far (the profile's current one)
    entered: list[str] = field(default_factory=list)
    calls: list[tuple[str, bool, str | None]] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    stored: list[str] = field(default_factory=list)  # properties set
    branches: list[str] = field(default_factory=list)
    faqs: list[str] = field(default_factory=list)
    fallback: bool = False
    handover: bool = False
    steps: int = 0
    last_step: tuple[str, int] | None = None

    @property
    def looped(self) -> bool:
        return self.steps >= DEFAULT_STEP_BUDGET


@dataclass(slots=True)
class Walk:
    path: Path
    turns: list[Turn]
    called: list[str]  # every api called, in order of first call
    hits: frozenset[Key] = frozenset()  # the coverage items it covered
    offers: tuple[DocumentPath, ...] = ()  # where what the user can tap now is written
    diverged: str | None = None  # the replay went another way than the path's first walk

    @property
    def last(self) -> Turn | None:
        return self.turns[-1] if self.turns else None


class _TurnLog(Observer):
    """Records what the runtime reports into the current :class:`Turn`."""

    def __init__(self) -> None:
        self.turn = Turn(Input("say", ""))
        self.module: str | None = None
        self.called: list[str] = []

    async def module_entered(self, module: str) -> None:
        self.turn.entered.append(module)
        self.module = self.turn.module = module

    async def step(self, module: str, index: int) -> None:
        self.turn.steps += 1
        self.turn.last_step = (module, index)

    async def property_rejected(self, name: str, raw_value: object, reason: str) -> None:
        self.turn.rejected.append(name)

    async def property_set(self, name: str, value: Any) -> None:
        self.turn.stored.append(name)

    async def api_call(self, name: str, method: str, url: str, status: int | None,
                       latency_ms: float, ok: bool, error_kind: str | None) -> None:
        self.turn.calls.append((name, ok, error_kind))
        if name not in self.called:
            self.called.append(name)

    async def branch(self, module: str, index: int, label: str, condition: str) -> None:
        self.turn.branches.append(label)

    async def faq_answered(self, name: str) -> None:
        self.turn.faqs.append(name)

    async def fallback(self, text: str) -> None:
        self.turn.fallback = True

    async def handover(self, reason: str) -> None:
        self.turn.handover = True


class _Channel(DummyChannel):
    """The dummy channel, keeping each turn's messages as the bot wrote them."""

    raw: list[dict[str, Any]]

    # HACK: the one place the channel sees the messages before adapting them;
    # overridden to keep them for the channel-limit checks. The way out is a
    # public hook on DummyChannel.
    def _adapt(self, bot_id: str, user_id: str, channel: str,
               messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        self.raw = list(messages)
        return super()._adapt(bot_id, user_id, channel, messages)


class Walker:
    """Replays paths of ``bot`` on ``channel``; ``observers`` see every run
    (coverage), ``stubs`` serve the apis (``default_apis`` for those a path
    has not fixed)."""

    def __init__(self, bot: Bot, channel: str, stubs: StubServer,
                 session: aiohttp.ClientSession, default_apis: Mapping[str, ApiStub],
                 observers: Sequence[Observer] = (), timeout: float = 0.3) -> None:
        self.bot = bot
        self.channel = channel
        self.stubs = stubs
        self.session = session
        self.default_apis = dict(default_apis)
        self.observers = list(observers)
        self.timeout = timeout  # the apis' timeout on paths where they time out
        self._bots: dict[tuple[str, ...], Bot] = {}

    def _bot_for(self, served: Mapping[str, ApiStub]) -> Bot:
        """The bot with a short timeout for the apis stubbed to time out, so that
        a crawl does not wait out each one; the others keep theirs, so that a
        stub that answers is never late (the outcome never depends on timing)."""
        slow = sorted(api for api, stub in served.items() if stub.fail is StubFailure.TIMEOUT)
        key = tuple(slow)
        if key not in self._bots:
            self._bots[key] = replace(self.bot, apis={
                name: replace(api, timeout=min(api.timeout, self.timeout)) if name in slow
                else api for name, api in self.bot.apis.items()})
        return self._bots[key]

    async def walk(self, path: Path, extra: Sequence[Observer] = ()) -> Walk:
        run_id = "crawl-" + uuid.uuid4().hex[:10]
        user_id = "crawler-" + run_id
        served = {**self.default_apis, **{api: o.stub for api, o in path.apis}}
        bot = self._bot_for(served)
        api_base = self.stubs.register(run_id, bot, served)
        log = _TurnLog()
        runtime = Runtime(api_base=api_base, session=self.session,
                          observers=[*self.observers, *extra, log])
        runtime.deploy(bot)
        channel = _Channel(runtime, None)
        turns: list[Turn] = []
        replies: list[dict[str, Any]] = []
        diverged: str | None = None
        try:
            for step in path.inputs:
                log.turn = Turn(step, module=log.module)
                channel.raw = []
                if step.kind == "say":
                    sent: dict[str, str] = {"text": step.value}
                else:
                    try:
                        sent = resolve_tap(step.value, replies)
                    except ExpectationFailed as exc:
                        # Replayed, the bot offered something else than the first time.
                        diverged = f"{step.describe()}: {exc.actual}"
                        break
                answer = await channel.receive(self.bot.id, user_id, channel=self.channel,
                                               text=sent.get("text"), payload=sent.get("payload"))
                if answer:
                    replies = answer
                turn = log.turn
                turn.replies, turn.raw = answer, list(channel.raw)
                turn.state = runtime.conversation(self.bot.id, user_id)
                turns.append(turn)
        finally:
            self.stubs.unregister(run_id)
            await runtime.close()
        return Walk(path, turns, list(log.called), diverged=diverged)
