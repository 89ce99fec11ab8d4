"""The conversation engine: deployed bots, per-(bot, user) state in memory, and
the turn loop that runs a bot's steps until it needs the user's input, ends,
or hands the conversation to a human.

The engine knows nothing about Audience or channels. What happens in a turn is
reported to an :class:`Observer` (a connector implements it and forwards to
the recorder); the messages to send are returned in a :class:`TurnResult`, and
the connector reports them (``Observer.bot_message``) after adapting them to
its channel. Imports no aiohttp server code, nothing from ``connectors`` or
``simulator``.

Usage::

    async with Runtime(api_base="http://127.0.0.1:8080") as runtime:
        runtime.deploy(load_bot("scenarios/bots/leads.yaml"))
        result = await runtime.handle("leads", "user-1", text="hi", observer=observer)
        for message in result.messages:
            ...  # adapt to the channel, send, then: await observer.bot_message(message)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp

from plugin.audience.filters import matches
from plugin.core.errors import NotFound
from plugin.core.properties import InvalidValue
from runtime.apis import ApiOutcome, call_api
from runtime.loader import load_bot
from runtime.model import (
    Ask,
    Bot,
    BotMessage,
    Branch,
    Button,
    Call,
    FailureKind,
    Faq,
    FaqThen,
    Goto,
    Handover,
    Module,
    Say,
    SetValues,
    Step,
)
from runtime.observer import NullObserver, Observer
from runtime.templating import render_message, render_value

__all__ = [
    "DEFAULT_STEP_BUDGET",
    "TurnResult",
    "ConversationState",
    "Runtime",
]

log = logging.getLogger(__name__)

# Steps one turn may run: far more than a real flow needs between two user
# inputs, few enough that a goto loop is cut off at once.
DEFAULT_STEP_BUDGET = 200
_DEFAULT_FALLBACK = "Sorry, I didn't get that."
_DEFAULT_CTA = "Anything else I can help you with?"
_DEFAULT_REJECTION = "Sorry, that is not a valid {label}: {reason}."


@dataclass(frozen=True, slots=True)
class TurnResult:
    """What a turn produced: the messages to send, in order, and where it stopped.

    ``module`` is the module the conversation is in (``None`` once a flow has
    ended); ``waiting_for`` the property asked for, if the bot waits on an
    answer; ``error`` says why a turn was cut short (a goto loop).
    """

    messages: list[BotMessage]
    handed_over: bool = False
    module: str | None = None
    waiting_for: str | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "messages": [m.to_dict() for m in self.messages],
            "handed_over": self.handed_over,
            "module": self.module,
            "waiting_for": self.waiting_for,
            "error": self.error,
        }


@dataclass(frozen=True, slots=True)
class ConversationState:
    """A read-only snapshot of one conversation."""

    module: str | None
    position: int
    waiting_for: str | None
    retries_left: int
    properties: Mapping[str, Any]
    human: bool
    user_turns: int


@dataclass(slots=True)
class _Conversation:
    module: str | None = None
    position: int = 0
    waiting: bool = False  # the step at ``position`` is an ask waiting on its answer
    retries_left: int = 0
    properties: dict[str, Any] = field(default_factory=dict)
    human: bool = False
    user_turns: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def end_flow(self) -> None:
        self.module, self.position, self.waiting = None, 0, False


@dataclass(slots=True)
class _Turn:
    bot: Bot
    user_id: str
    conversation: _Conversation
    observer: Observer
    channel: str
    profile: Mapping[str, Any]
    steps_left: int
    messages: list[BotMessage] = field(default_factory=list)
    handed_over: bool = False
    error: str | None = None

    @property
    def values(self) -> dict[str, Any]:
        """What templates see: the system values the runtime knows, then the properties."""
        return {
            "user_id": self.user_id,
            "channel": self.channel,
            "current_module": self.conversation.module,
            **self.conversation.properties,
        }

    def say(self, template: BotMessage) -> None:
        self.messages.append(render_message(template, self.values))

    def send(self, message: BotMessage) -> None:
        """Add a message as it is: text built from user input is never a template."""
        self.messages.append(message)

    def result(self) -> TurnResult:
        conversation = self.conversation
        waiting_for = None
        if conversation.waiting and conversation.module is not None:
            step = self.bot.modules[conversation.module].steps[conversation.position]
            waiting_for = step.property if isinstance(step, Ask) else None
        return TurnResult(
            messages=list(self.messages),
            handed_over=self.handed_over or conversation.human,
            module=conversation.module,
            waiting_for=waiting_for,
            error=self.error,
        )


class _Signal:
    """What a step tells the loop: go on, or stop and wait for the user."""


_NEXT = _Signal()
_WAIT = _Signal()


class _StepBudgetExceeded(Exception):
    pass


class Runtime:
    """Runs deployed bots. Conversations live in memory, one per (bot, user).

    Args:
        api_base: the value of ``${API_BASE}`` in api templates (overrides the
            bot's ``api_base``).
        variables: other ``${NAME}`` values for api templates (tokens, hosts).
        session: an ``aiohttp.ClientSession`` for api calls; without one the
            runtime opens its own on the first call and :meth:`close` closes it.
        step_budget: steps one turn may run before it is cut off as a loop.
    """

    def __init__(
        self,
        *,
        api_base: str | None = None,
        variables: Mapping[str, str] | None = None,
        session: aiohttp.ClientSession | None = None,
        step_budget: int = DEFAULT_STEP_BUDGET,
    ) -> None:
        self.api_base = api_base
        self._variables = dict(variables or {})
        self._session = session
        self._owns_session = session is None
        self._step_budget = step_budget
        self._bots: dict[str, Bot] = {}
        self._conversations: dict[tuple[str, str], _Conversation] = {}

    async def __aenter__(self) -> Runtime:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP session the runtime opened (not one it was given)."""
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    # --- bots ---------------------------------------------------------------

    def deploy(self, bot: Bot) -> None:
        """Deploy ``bot``, replacing a bot with the same id. Conversations of a
        replaced bot keep their properties and hand-over state; their flows end,
        since positions in the old modules mean nothing in the new ones."""
        replaced = bot.id in self._bots
        self._bots[bot.id] = bot
        if replaced:
            for (bot_id, _), conversation in self._conversations.items():
                if bot_id == bot.id:
                    conversation.end_flow()

    def deploy_file(self, path: str | Path) -> Bot:
        """Load and deploy the bot file at ``path``.

        Raises:
            BotDefinitionError: the file is not a valid bot.
        """
        bot = load_bot(path)
        self.deploy(bot)
        return bot

    def bot(self, bot_id: str) -> Bot:
        """The deployed bot ``bot_id``.

        Raises:
            NotFound: no such bot is deployed.
        """
        try:
            return self._bots[bot_id]
        except KeyError:
            raise NotFound(f"no bot {bot_id!r} is deployed", bot_id=bot_id) from None

    @property
    def bots(self) -> Mapping[str, Bot]:
        return dict(self._bots)

    # --- conversations ------------------------------------------------------

    def conversation(self, bot_id: str, user_id: str) -> ConversationState | None:
        """A snapshot of the conversation of ``user_id`` with ``bot_id``, if any."""
        conversation = self._conversations.get((bot_id, user_id))
        if conversation is None:
            return None
        waiting_for = None
        if conversation.waiting and conversation.module is not None:
            step = self.bot(bot_id).modules[conversation.module].steps[conversation.position]
            waiting_for = step.property if isinstance(step, Ask) else None
        return ConversationState(
            module=conversation.module,
            position=conversation.position,
            waiting_for=waiting_for,
            retries_left=conversation.retries_left,
            properties=dict(conversation.properties),
            human=conversation.human,
            user_turns=conversation.user_turns,
        )

    def hold(self, bot_id: str, user_id: str) -> None:
        """A human takes the conversation over: the bot stays silent until :meth:`release`."""
        conversation = self._conversations.setdefault((bot_id, user_id), _Conversation())
        conversation.human = True
        conversation.end_flow()

    def release(self, bot_id: str, user_id: str) -> None:
        """Hand a conversation held by a human back to the bot (it starts idle)."""
        conversation = self._conversations.get((bot_id, user_id))
        if conversation is not None:
            conversation.human = False
            conversation.end_flow()

    def forget(self, bot_id: str, user_id: str) -> None:
        """Drop everything the runtime holds about one conversation."""
        self._conversations.pop((bot_id, user_id), None)

    async def handle(
        self,
        bot_id: str,
        user_id: str,
        *,
        text: str | None = None,
        payload: str | None = None,
        channel: str = "web",
        profile: Mapping[str, Any] | None = None,
        observer: Observer | None = None,
    ) -> TurnResult:
        """Take one user input (``text``, or a button/quick-reply ``payload``) and
        run the bot until it needs the next input.

        ``profile`` is what the host knows about the user, shaped like an
        Audience profile; branch conditions see it with the properties collected
        in this conversation on top.

        Raises:
            NotFound: ``bot_id`` is not deployed.
            ValueError: neither text nor payload was given.
        """
        if text is None and payload is None:
            raise ValueError("a user turn needs text or a payload")
        bot = self.bot(bot_id)
        conversation = self._conversations.setdefault((bot_id, user_id), _Conversation())
        async with conversation.lock:
            turn = self._turn(bot, user_id, conversation, observer, channel, profile)
            await _notify(turn.observer.user_message, text, payload)
            first = conversation.user_turns == 0
            conversation.user_turns += 1
            if conversation.human:
                return turn.result()
            try:
                if conversation.waiting:
                    await self._answer(turn, text, payload)
                else:
                    await self._route(turn, text, payload, first=first)
            except _StepBudgetExceeded as exc:
                self._cut_short(turn, str(exc))
            return turn.result()

    async def start_module(
        self,
        bot_id: str,
        user_id: str,
        module: str,
        *,
        channel: str = "web",
        profile: Mapping[str, Any] | None = None,
        observer: Observer | None = None,
    ) -> TurnResult:
        """Start ``module`` as if the user had triggered it (for workflows and
        broadcasts). A pending question is dropped; a conversation a human holds
        is left alone.

        Raises:
            NotFound: no such bot or module.
        """
        bot = self.bot(bot_id)
        if module not in bot.modules:
            raise NotFound(f"bot {bot_id!r} has no module {module!r}", module=module)
        conversation = self._conversations.setdefault((bot_id, user_id), _Conversation())
        async with conversation.lock:
            turn = self._turn(bot, user_id, conversation, observer, channel, profile)
            if conversation.human:
                return turn.result()
            try:
                await self._enter(turn, module)
                await self._run(turn)
            except _StepBudgetExceeded as exc:
                self._cut_short(turn, str(exc))
            return turn.result()

    # --- the turn -------------------------------------------------------------

    def _turn(
        self,
        bot: Bot,
        user_id: str,
        conversation: _Conversation,
        observer: Observer | None,
        channel: str,
        profile: Mapping[str, Any] | None,
    ) -> _Turn:
        return _Turn(
            bot=bot,
            user_id=user_id,
            conversation=conversation,
            observer=observer or NullObserver(),
            channel=channel,
            profile=profile or {},
            steps_left=self._step_budget,
        )

    async def _route(
        self, turn: _Turn, text: str | None, payload: str | None, *, first: bool
    ) -> None:
        """Starting rules: start payloads, keywords, patterns, FAQs, then the
        default module for a first message, else the fallback."""
        said = text if text is not None else payload or ""
        module = _starting_module(turn.bot, said, payload)
        if module is not None:
            await self._enter(turn, module.name)
            await self._run(turn)
            return
        faq = _matching_faq(turn.bot, said)
        if faq is not None:
            await self._answer_faq(turn, faq)
            return
        if first:
            await self._enter(turn, turn.bot.default_module.name)
            await self._run(turn)
            return
        await self._fallback(turn, said)

    async def _answer(self, turn: _Turn, text: str | None, payload: str | None) -> None:
        """The user's answer to the pending ask (or an FAQ asked meanwhile)."""
        conversation = turn.conversation
        assert conversation.module is not None
        step = turn.bot.modules[conversation.module].steps[conversation.position]
        assert isinstance(step, Ask)
        # A payload is an answer (a button of the prompt), never an FAQ.
        if payload is None and text is not None:
            faq = _matching_faq(turn.bot, text)
            if faq is not None:
                await self._answer_faq(turn, faq, pending=step)
                return
        raw = payload if payload is not None else text
        spec = turn.bot.properties[step.property]
        try:
            value = spec.check(raw)
        except InvalidValue as exc:
            await _notify(turn.observer.property_rejected, step.property, raw, exc.reason)
            if spec.error_message is not None:
                turn.say(BotMessage(spec.error_message))
            else:
                label = spec.definition.label or step.property.replace("_", " ")
                turn.send(BotMessage(_DEFAULT_REJECTION.format(label=label, reason=exc.reason)))
            if conversation.retries_left > 0:
                conversation.retries_left -= 1
                turn.say(step.prompt)
                return
            conversation.waiting = False
            if step.on_give_up is not None:
                await self._enter(turn, step.on_give_up)
                await self._run(turn)
            else:
                conversation.end_flow()
                await self._fallback(turn, raw or "")
            return
        await self._set(turn, step.property, value)
        conversation.waiting = False
        conversation.position += 1
        await self._run(turn)

    async def _answer_faq(self, turn: _Turn, faq: Faq, pending: Ask | None = None) -> None:
        await _notify(turn.observer.faq_answered, faq.name)
        turn.say(faq.answer)
        if faq.then is FaqThen.RESUME and pending is not None:
            turn.say(pending.prompt)
            return
        # With nothing to resume, a flow that ends on an answer still ends on a
        # call to action.
        turn.conversation.end_flow()
        turn.say(_call_to_action(turn.bot))

    async def _fallback(self, turn: _Turn, said: str) -> None:
        await _notify(turn.observer.fallback, said)
        turn.say(turn.bot.fallback or _default_message(turn.bot, _DEFAULT_FALLBACK))

    def _cut_short(self, turn: _Turn, reason: str) -> None:
        log.warning("bot %s: %s", turn.bot.id, reason)
        turn.error = reason
        turn.conversation.end_flow()
        turn.say(turn.bot.fallback or _default_message(turn.bot, _DEFAULT_FALLBACK))

    async def _enter(self, turn: _Turn, module: str) -> None:
        conversation = turn.conversation
        conversation.module, conversation.position, conversation.waiting = module, 0, False
        await _notify(turn.observer.module_entered, module)

    async def _set(self, turn: _Turn, name: str, value: Any) -> None:
        turn.conversation.properties[name] = value
        await _notify(turn.observer.property_set, name, value)

    async def _run(self, turn: _Turn) -> None:
        """Run steps from the current position until an ask, the end, or a hand-over."""
        conversation = turn.conversation
        while conversation.module is not None and not conversation.human:
            module = turn.bot.modules[conversation.module]
            if conversation.position >= len(module.steps):
                conversation.end_flow()
                return
            if turn.steps_left <= 0:
                raise _StepBudgetExceeded(
                    f"more than {self._step_budget} steps in one turn (last in module "
                    f"{module.name!r}): is there a goto loop?"
                )
            turn.steps_left -= 1
            outcome = await self._step(turn, module, module.steps[conversation.position])
            if outcome is _WAIT:
                return
            if outcome is _NEXT:
                conversation.position += 1
            elif isinstance(outcome, str):
                await self._enter(turn, outcome)

    async def _step(self, turn: _Turn, module: Module, step: Step) -> _Signal | str:
        """Run one step; return the next module's name, or what the loop does next."""
        conversation = turn.conversation
        if isinstance(step, Say):
            turn.say(step.message)
            return _NEXT
        if isinstance(step, Ask):
            turn.say(step.prompt)
            conversation.waiting = True
            conversation.retries_left = step.retries
            return _WAIT
        if isinstance(step, Call):
            return await self._call(turn, step)
        if isinstance(step, Branch):
            return await self._branch(turn, module, step)
        if isinstance(step, Goto):
            return step.module
        if isinstance(step, Handover):
            await _notify(turn.observer.handover, step.reason)
            conversation.human = True
            conversation.end_flow()
            turn.handed_over = True
            return _WAIT
        await self._set_values(turn, step)
        return _NEXT

    async def _call(self, turn: _Turn, step: Call) -> _Signal | str:
        api = turn.bot.apis[step.api]
        outcome = await call_api(self._http(), api, turn.values, self._env(turn.bot), step.save)
        values: dict[str, Any] = {}
        rejected: list[tuple[str, object, str]] = []
        for name, raw in outcome.values.items():
            try:
                values[name] = turn.bot.properties[name].check(raw)
            except InvalidValue as exc:
                rejected.append((name, raw, exc.reason))
        if rejected:
            outcome = _failed(outcome, f"mapped value for {rejected[0][0]!r}: {rejected[0][2]}")
        await _notify(
            turn.observer.api_call,
            outcome.api,
            outcome.method,
            outcome.url,
            outcome.status,
            outcome.latency_ms,
            outcome.ok,
            None if outcome.error_kind is None else str(outcome.error_kind),
        )
        for name, raw, reason in rejected:
            await _notify(turn.observer.property_rejected, name, raw, reason)
        if outcome.error_kind is not None:
            log.info("api %s failed: %s (%s)", api.name, outcome.error_kind, outcome.detail)
            return step.on_failure.route(outcome.error_kind) or _NEXT
        for name, value in values.items():
            await self._set(turn, name, value)
        return step.on_success or _NEXT

    async def _branch(self, turn: _Turn, module: Module, step: Branch) -> _Signal | str:
        profile = self._profile(turn, module)
        properties = turn.bot.filter_properties
        for index, arm in enumerate(step.arms):
            if matches(arm.when, properties, profile):
                await _notify(turn.observer.branch, module.name, index, arm.label, arm.description)
                return arm.goto
        if step.otherwise is not None:
            await _notify(turn.observer.branch, module.name, len(step.arms), "else", "else")
            return step.otherwise
        return _NEXT

    async def _set_values(self, turn: _Turn, step: SetValues) -> None:
        for name, raw in step.values.items():
            rendered = render_value(raw, turn.values, self._env(turn.bot))
            try:
                value = turn.bot.properties[name].check(rendered)
            except InvalidValue as exc:
                await _notify(turn.observer.property_rejected, name, rendered, exc.reason)
                continue
            await self._set(turn, name, value)

    def _profile(self, turn: _Turn, module: Module) -> dict[str, Any]:
        """What branch conditions see: the host's profile, this conversation on top."""
        profile = dict(turn.profile)
        attributes = dict(profile.get("attributes") or {})
        attributes.update(turn.conversation.properties)
        profile.update(
            attributes=attributes,
            user_id=turn.user_id,
            channel=turn.channel,
            current_module=module.name,
        )
        return profile

    def _env(self, bot: Bot) -> dict[str, str]:
        env = dict(self._variables)
        api_base = self.api_base or env.get("API_BASE") or bot.api_base or ""
        env["API_BASE"] = api_base.rstrip("/")
        return env

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session


def _starting_module(bot: Bot, said: str, payload: str | None) -> Module | None:
    modules = bot.modules.values()
    if payload is not None:
        for module in modules:
            if payload in module.start.payloads:
                return module
    for module in modules:
        if module.start.matches_keyword(said):
            return module
    for module in modules:
        if module.start.matches_pattern(said):
            return module
    return None


def _matching_faq(bot: Bot, said: str) -> Faq | None:
    for faq in bot.faqs:
        if faq.trigger.matches_keyword(said):
            return faq
    for faq in bot.faqs:
        if faq.trigger.matches_pattern(said):
            return faq
    return None


def _call_to_action(bot: Bot) -> BotMessage:
    return bot.cta or _default_message(bot, _DEFAULT_CTA)


def _default_message(bot: Bot, text: str) -> BotMessage:
    """``text`` with a button for each module that a payload starts."""
    buttons = tuple(
        Button(title=module.name.replace("_", " ").capitalize(), payload=module.start.payloads[0])
        for module in bot.modules.values()
        if module.start.payloads
    )
    return BotMessage(text=text, buttons=buttons)


def _failed(outcome: ApiOutcome, detail: str) -> ApiOutcome:
    return ApiOutcome(
        outcome.api,
        outcome.method,
        outcome.url,
        outcome.status,
        outcome.latency_ms,
        FailureKind.INVALID_RESPONSE,
        detail,
    )


async def _notify(method: Callable[..., Awaitable[None]], *args: Any) -> None:
    try:
        await method(*args)
    # Capture must never break a conversation: log the observer's failure and go on.
    except Exception:
        log.exception("observer %s failed", getattr(method, "__qualname__", method))
