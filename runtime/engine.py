"""The conversation engine: deployed bots, per-(bot, user) state in memory, and
the turn loop that runs a bot's steps until it needs the user's input, ends,
or hands the conversation to a human.

The engine knows nothing about Audience or channels. What happens in a turn is
reported to an :class:`Observer` (a connector implements it and forwards to
the recorder); the messages to send are returned in a :class:`TurnResult`, and
the connector reports them (``Observer.bot_message``) after adapting them to
its channel. Imports no aiohttp server code, nothing from ``connectors`` or
``simulator``.

The parts of a turn live beside it: :mod:`runtime.turn` (conversation and
turn state), :mod:`runtime.routing` (what the user said: an answer, a starting
rule, an FAQ, the fallback), :mod:`runtime.interpreter` (running steps) and
:mod:`runtime.calls` (``call`` steps and the HTTP session).

Usage::

    async with Runtime(api_base="http://127.0.0.1:8080") as runtime:
        runtime.deploy(load_bot("scenarios/bots/leads.yaml"))
        result = await runtime.handle("leads", "user-1", text="hi", observer=observer)
        for message in result.messages:
            ...  # adapt to the channel, send, then: await observer.bot_message(message)
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from types import TracebackType
from typing import Any

import aiohttp

from plugin.core.errors import InvalidRequest, NotFound
from plugin.core.properties import InvalidValue
from runtime.calls import ApiCalls
from runtime.conversations import ConversationStore, bot_fingerprint
from runtime.interpreter import DEFAULT_STEP_BUDGET, Interpreter, StepBudgetExceeded
from runtime.model import Bot
from runtime.observer import NullObserver, Observer, Observers
from runtime.routing import answer, cut_short, route
from runtime.turn import Conversation, ConversationState, Turn, TurnResult, notify

__all__ = [
    "DEFAULT_STEP_BUDGET",
    "TurnResult",
    "ConversationState",
    "Runtime",
]


class Runtime:
    """Runs deployed bots. Conversations live in memory, one per (bot, user), or in
    a ``store`` shared by every process of a deployment
    (:mod:`runtime.conversations`).

    Args:
        api_base: the value of ``${API_BASE}`` in api templates (overrides the
            bot's ``api_base``).
        variables: other ``${NAME}`` values for api templates (tokens, hosts).
        session: an ``aiohttp.ClientSession`` for api calls; without one the
            runtime opens its own on the first call and :meth:`close` closes it.
        step_budget: steps one turn may run before it is cut off as a loop.
        observers: told of every turn besides the observer a turn is given
            (a coverage tool following the flow).
        store: where conversations are kept between turns; without one, in
            this runtime's memory. With one, the memory holds each
            conversation's last known state (what :meth:`conversation` shows)
            and every turn starts from the store's.
    """

    def __init__(
        self,
        *,
        api_base: str | None = None,
        variables: Mapping[str, str] | None = None,
        session: aiohttp.ClientSession | None = None,
        step_budget: int = DEFAULT_STEP_BUDGET,
        observers: Sequence[Observer] = (),
        store: ConversationStore | None = None,
    ) -> None:
        self._calls = ApiCalls(api_base, variables or {}, session)
        self._observers = tuple(observers)
        self._interpreter = Interpreter(self._calls, step_budget)
        self._bots: dict[str, Bot] = {}
        self._conversations: dict[tuple[str, str], Conversation] = {}
        self._store = store
        self._fingerprints: dict[str, str] = {}

    @property
    def api_base(self) -> str | None:
        """The value of ``${API_BASE}``; a host may set it once it knows its own URL."""
        return self._calls.api_base

    @api_base.setter
    def api_base(self, value: str | None) -> None:
        self._calls.api_base = value

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
        await self._calls.close()

    # --- bots ---------------------------------------------------------------

    def deploy(self, bot: Bot, *, api_base: str | None = None) -> None:
        """Deploy ``bot``, replacing a bot with the same id. Conversations of a
        replaced bot keep their properties and hand-over state; their flows end,
        since positions in the old modules mean nothing in the new ones.

        ``api_base`` is this deployment's own ``${API_BASE}``: it wins over the
        runtime's (``--api-base``), which wins over the bot file's ``api_base``.
        """
        replaced = bot.id in self._bots
        self._bots[bot.id] = bot
        self._fingerprints[bot.id] = bot_fingerprint(bot)
        self._calls.deployed[bot.id] = api_base
        if replaced:
            for (bot_id, _), conversation in self._conversations.items():
                if bot_id == bot.id:
                    conversation.end_flow()

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
        # Only a conversation waiting on an answer needs its bot: one a human
        # holds may be of a bot that is not deployed.
        pending = conversation.pending_ask(self.bot(bot_id)) if conversation.waiting else None
        return ConversationState(
            module=conversation.module,
            position=conversation.position,
            waiting_for=pending.property if pending is not None else None,
            retries_left=conversation.retries_left,
            properties=dict(conversation.properties),
            human=conversation.human,
            user_turns=conversation.user_turns,
        )

    async def known(self, bot_id: str, user_id: str) -> bool:
        """Whether ``user_id`` has a conversation with ``bot_id`` (in the store, if
        there is one: it may have been started by another process)."""
        if (bot_id, user_id) in self._conversations or self._store is None:
            return (bot_id, user_id) in self._conversations
        return await self._store.peek(bot_id, user_id) is not None

    async def assign(self, bot_id: str, user_id: str, *, human: bool) -> None:
        """:meth:`hold` (``human``) or :meth:`release`, kept in the store if there is one."""
        if self._store is None:
            (self.hold if human else self.release)(bot_id, user_id)
            return
        async with self._checked_out(bot_id, user_id) as conversation:
            conversation.human = human
            conversation.end_flow()

    def hold(self, bot_id: str, user_id: str) -> None:
        """A human takes the conversation over: the bot stays silent until :meth:`release`.
        In this runtime's memory only: with a store, :meth:`assign` keeps it there."""
        conversation = self._conversation(bot_id, user_id)
        conversation.human = True
        conversation.end_flow()

    def release(self, bot_id: str, user_id: str) -> None:
        """Hand a conversation held by a human back to the bot (it starts idle).
        In this runtime's memory only: with a store, :meth:`assign` keeps it there."""
        conversation = self._conversations.get((bot_id, user_id))
        if conversation is not None:
            conversation.human = False
            conversation.end_flow()

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
            InvalidRequest: neither text nor payload was given.
        """
        if text is None and payload is None:
            raise InvalidRequest("a user turn needs text or a payload")
        bot = self.bot(bot_id)
        async with self._checked_out(bot_id, user_id) as conversation:
            turn = self._turn(bot, user_id, conversation, observer, channel, profile)
            await notify(turn.observer.user_message, text, payload)
            first = conversation.user_turns == 0
            conversation.user_turns += 1
            if conversation.human:
                return turn.result()
            try:
                pending = conversation.pending_ask(bot)
                if pending is not None:
                    await answer(turn, self._interpreter, pending, text, payload)
                else:
                    await route(turn, self._interpreter, text, payload, first=first)
            except StepBudgetExceeded as exc:
                cut_short(turn, str(exc))
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
        properties: Mapping[str, Any] | None = None,
    ) -> TurnResult:
        """Start ``module`` as if the user had triggered it (for workflows and
        broadcasts). A pending question is dropped; a conversation a human holds
        is left alone.

        ``properties`` are stored in the conversation first, as if the bot had
        collected them (checked by their definitions and reported to the
        observer): a conversation resumed mid-flow, such as a test scenario
        that starts at ``quote_details`` with the email already given.

        Raises:
            NotFound: no such bot or module.
            InvalidRequest: a property the bot does not declare, or a value its
                definition refuses (nothing is stored then).
        """
        bot = self.bot(bot_id)
        if module not in bot.modules:
            raise NotFound(f"bot {bot_id!r} has no module {module!r}", module=module)
        seeded = _checked_properties(bot, properties or {})
        async with self._checked_out(bot_id, user_id) as conversation:
            turn = self._turn(bot, user_id, conversation, observer, channel, profile)
            if conversation.human:
                return turn.result()
            for name, value in seeded.items():
                await turn.set_property(name, value)
            try:
                await self._interpreter.start(turn, module)
            except StepBudgetExceeded as exc:
                cut_short(turn, str(exc))
            return turn.result()

    # --- the turn -------------------------------------------------------------

    def _conversation(self, bot_id: str, user_id: str) -> Conversation:
        return self._conversations.setdefault((bot_id, user_id), Conversation())

    @contextlib.asynccontextmanager
    async def _checked_out(self, bot_id: str, user_id: str) -> AsyncIterator[Conversation]:
        """The conversation, held for one turn: by its lock in this process and,
        with a store, checked out of it (and checked in again, whatever happens)."""
        conversation = self._conversation(bot_id, user_id)
        async with conversation.lock:
            if self._store is None:
                yield conversation
                return
            state = await self._store.check_out(bot_id, user_id)
            conversation.restore(state)
            fingerprint = self._fingerprints.get(bot_id)
            if state is not None and state.get("bot") != fingerprint:
                conversation.end_flow()  # reached under another definition of the bot
            try:
                yield conversation
            finally:
                await self._store.check_in(bot_id, user_id,
                                           {**conversation.state(), "bot": fingerprint})

    def _turn(
        self,
        bot: Bot,
        user_id: str,
        conversation: Conversation,
        observer: Observer | None,
        channel: str,
        profile: Mapping[str, Any] | None,
    ) -> Turn:
        return Turn(
            bot=bot,
            user_id=user_id,
            conversation=conversation,
            observer=Observers(observer or NullObserver(), *self._observers)
            if self._observers else observer or NullObserver(),
            channel=channel,
            profile=profile or {},
            steps_left=self._interpreter.step_budget,
        )


def _checked_properties(bot: Bot, properties: Mapping[str, Any]) -> dict[str, Any]:
    """``properties`` normalised by the bot's definitions, every problem in one error."""
    checked: dict[str, Any] = {}
    errors: list[dict[str, str]] = []
    for name, raw in properties.items():
        spec = bot.properties.get(name)
        if spec is None:
            errors.append({"path": f"properties/{name}",
                           "message": f"bot {bot.id!r} declares no property {name!r}"})
            continue
        try:
            checked[name] = spec.check(raw)
        except InvalidValue as exc:
            errors.append({"path": f"properties/{name}", "message": exc.reason})
    if errors:
        raise InvalidRequest("; ".join(f"{e['path']}: {e['message']}" for e in errors),
                             errors=errors)
    return checked
