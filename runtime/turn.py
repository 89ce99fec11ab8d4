"""One conversation and one turn in it: what the runtime keeps per (bot,
user), what a turn has said so far, and how it reports to the
:class:`~runtime.observer.Observer`.

Imports no aiohttp, nothing from ``connectors`` or ``simulator``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from runtime.model import Ask, Bot, BotMessage
from runtime.observer import Observer
from runtime.templating import render_message

__all__ = ["TurnResult", "ConversationState", "Conversation", "Turn", "notify"]

log = logging.getLogger(__name__)


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
class Conversation:
    """The live state of one (bot, user) conversation; its lock keeps turns in order."""

    module: str | None = None
    position: int = 0
    waiting: bool = False  # the step at ``position`` is an ask waiting on its answer
    retries_left: int = 0
    properties: dict[str, Any] = field(default_factory=dict)
    human: bool = False
    user_turns: int = 0
    # Questions interrupted by a module the user started meanwhile (module,
    # position of the ask), innermost last: each is asked again when the flow
    # that interrupted it ends.
    interrupted: list[tuple[str, int]] = field(default_factory=list)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def end_flow(self) -> None:
        self.module, self.position, self.waiting = None, 0, False
        self.interrupted.clear()

    def state(self) -> dict[str, Any]:
        """What a :class:`~runtime.conversations.ConversationStore` keeps (all but the lock)."""
        return {
            "module": self.module, "position": self.position, "waiting": self.waiting,
            "retries_left": self.retries_left, "properties": dict(self.properties),
            "human": self.human, "user_turns": self.user_turns,
            "interrupted": [[module, position] for module, position in self.interrupted],
        }

    def restore(self, state: Mapping[str, Any] | None) -> None:
        """Take the state :meth:`state` gave (``None``: a conversation not started)."""
        state = state or {}
        self.module = state.get("module")
        self.position = int(state.get("position", 0))
        self.waiting = bool(state.get("waiting", False))
        self.retries_left = int(state.get("retries_left", 0))
        self.properties = dict(state.get("properties") or {})
        self.human = bool(state.get("human", False))
        self.user_turns = int(state.get("user_turns", 0))
        self.interrupted = [(str(m), int(p)) for m, p in state.get("interrupted") or ()]

    def pending_ask(self, bot: Bot) -> Ask | None:
        """The ask step waiting on the user's answer, if any."""
        if not self.waiting or self.module is None:
            return None
        step = bot.modules[self.module].steps[self.position]
        return step if isinstance(step, Ask) else None


@dataclass(slots=True)
class Turn:
    """One turn in progress: the messages said so far and what it may still run."""

    bot: Bot
    user_id: str
    conversation: Conversation
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

    async def enter(self, module: str) -> None:
        """Move the conversation to the start of ``module``."""
        conversation = self.conversation
        conversation.module, conversation.position, conversation.waiting = module, 0, False
        await notify(self.observer.module_entered, module)

    async def resume(self) -> bool:
        """Go back to the innermost interrupted question, if any, to ask it again."""
        conversation = self.conversation
        if not conversation.interrupted:
            return False
        module, position = conversation.interrupted.pop()
        conversation.module, conversation.position, conversation.waiting = module, position, False
        await notify(self.observer.module_entered, module)
        return True

    async def set_property(self, name: str, value: Any) -> None:
        """Store a checked value of the bot's property ``name``."""
        self.conversation.properties[name] = value
        await notify(self.observer.property_set, name, value)

    def result(self) -> TurnResult:
        conversation = self.conversation
        pending = conversation.pending_ask(self.bot)
        return TurnResult(
            messages=list(self.messages),
            handed_over=self.handed_over or conversation.human,
            module=conversation.module,
            waiting_for=pending.property if pending is not None else None,
            error=self.error,
        )


async def notify(method: Callable[..., Awaitable[None]], *args: Any) -> None:
    """Call an observer hook; a hook that fails is logged, never raised."""
    try:
        await method(*args)
    # Capture must never break a conversation: log the observer's failure and go on.
    except Exception:
        log.exception("observer %s failed", getattr(method, "__qualname__", method))
