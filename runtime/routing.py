"""What the user said, and where it leads: an answer to the pending question,
a module's starting rule, an FAQ, the default module on a first message, or
the fallback.

Starting rules, in order: a start payload, then keywords, then patterns, over
every module; FAQs match by keyword, then by pattern. A payload is never an
FAQ question.

While a question waits for its answer, the user may still go elsewhere:

* a payload the question does not offer that starts a module (a button of an
  earlier message), a message that is exactly a module's start keyword, or
  exactly the title of a button that starts a module (a numbered option of an
  earlier WhatsApp message comes back as its title) starts that module. The
  question is interrupted, not answered: nothing is stored or refused, and it
  is asked again when the flow that interrupted it ends (unless that flow
  hands over to a person or ends in a give-up or fallback). Starting the
  module the question belongs to starts it afresh instead.
* an FAQ is answered and the question asked again, whatever the FAQ's
  ``then`` says (``cta`` ends an idle conversation on the call to action; it
  never drops a flow in progress).

Anything else is the answer, checked by the property's type and rules.
"""

from __future__ import annotations

import logging

from plugin.core.properties import InvalidValue
from runtime.interpreter import Interpreter
from runtime.model import Ask, Bot, BotMessage, Button, Faq, Module, QuickReply, Say
from runtime.turn import Turn, notify

__all__ = ["route", "answer", "cut_short", "interrupting_module"]

log = logging.getLogger(__name__)

_DEFAULT_FALLBACK = "Sorry, I didn't get that."
_DEFAULT_CTA = "Anything else I can help you with?"
_DEFAULT_REJECTION = "Sorry, that is not a valid {label}: {reason}."
_PUNCTUATION = ".,;:!?¡¿'\"()[]"


async def route(
    turn: Turn, interpreter: Interpreter, text: str | None, payload: str | None, *, first: bool
) -> None:
    """Starting rules: start payloads, keywords, patterns, FAQs, then the
    default module for a first message, else the fallback."""
    said = text if text is not None else payload or ""
    module = _starting_module(turn.bot, said, payload)
    if module is not None:
        await interpreter.start(turn, module.name)
        return
    faq = _matching_faq(turn.bot, said)
    if faq is not None:
        await _answer_faq(turn, faq)
        return
    if first:
        await interpreter.start(turn, turn.bot.default_module.name)
        return
    await _fallback(turn, said)


async def answer(
    turn: Turn, interpreter: Interpreter, pending: Ask, text: str | None, payload: str | None
) -> None:
    """The user's answer to the ``pending`` ask (or an FAQ asked meanwhile, or
    a module started meanwhile: see the module docstring)."""
    conversation = turn.conversation
    interrupting = interrupting_module(turn.bot, pending, text, payload)
    if interrupting is not None:
        await _interrupt(turn, interpreter, interrupting)
        return
    # A payload is an answer (a button of the prompt), never an FAQ.
    if payload is None and text is not None:
        faq = _matching_faq(turn.bot, text)
        if faq is not None:
            await _answer_faq(turn, faq, pending=pending)
            return
    raw = payload if payload is not None else text
    spec = turn.bot.properties[pending.property]
    try:
        value = spec.check(raw)
    except InvalidValue as exc:
        await notify(turn.observer.property_rejected, pending.property, raw, exc.reason)
        if spec.error_message is not None:
            turn.say(BotMessage(spec.error_message))
        else:
            label = spec.definition.label or pending.property.replace("_", " ")
            turn.send(BotMessage(_DEFAULT_REJECTION.format(label=label, reason=exc.reason)))
        if conversation.retries_left > 0:
            conversation.retries_left -= 1
            turn.say(pending.prompt)
            return
        conversation.waiting = False
        if pending.on_give_up is not None:
            await interpreter.start(turn, pending.on_give_up)
        else:
            conversation.end_flow()
            await _fallback(turn, raw or "")
        return
    await turn.set_property(pending.property, value)
    conversation.waiting = False
    conversation.position += 1
    await interpreter.run(turn)


def cut_short(turn: Turn, reason: str) -> None:
    """End a turn that ran away (a goto loop) on the fallback message."""
    log.warning("bot %s: %s", turn.bot.id, reason)
    turn.error = reason
    turn.conversation.end_flow()
    turn.say(turn.bot.fallback or _default_message(turn.bot, _DEFAULT_FALLBACK))


async def _interrupt(turn: Turn, interpreter: Interpreter, module: Module) -> None:
    """Start ``module`` in the middle of a question, which is asked again once
    ``module``'s flow ends."""
    conversation = turn.conversation
    # A flow started afresh leaves nothing of its own to come back to.
    stack = [frame for frame in conversation.interrupted if frame[0] != module.name]
    if conversation.module is not None and conversation.module != module.name:
        stack.append((conversation.module, conversation.position))
    conversation.interrupted[:] = stack
    conversation.waiting = False
    await interpreter.start(turn, module.name)


async def _answer_faq(turn: Turn, faq: Faq, pending: Ask | None = None) -> None:
    await notify(turn.observer.faq_answered, faq.name)
    turn.say(faq.answer)
    if pending is not None:
        # Whatever the FAQ's ``then``: a question in progress is never dropped.
        turn.say(pending.prompt)
        return
    # With nothing to resume, a flow that ends on an answer still ends on a
    # call to action.
    turn.conversation.end_flow()
    turn.say(turn.bot.cta or _default_message(turn.bot, _DEFAULT_CTA))


async def _fallback(turn: Turn, said: str) -> None:
    await notify(turn.observer.fallback, said)
    turn.say(turn.bot.fallback or _default_message(turn.bot, _DEFAULT_FALLBACK))


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


def interrupting_module(bot: Bot, pending: Ask, text: str | None,
                         payload: str | None) -> Module | None:
    """The module the user starts instead of answering ``pending``, if any."""
    choices = _choices(pending.prompt)
    if payload is not None:
        if any(choice.payload == payload for choice in choices):
            return None  # a button of the question itself: an answer
        return next((m for m in bot.modules.values() if payload in m.start.payloads), None)
    said = _bare(text or "")
    if not said or any(_bare(choice.title) == said for choice in choices):
        return None
    for module in bot.modules.values():
        if any(_bare(keyword) == said for keyword in module.start.keywords):
            return module
    started = _start_titles(bot).get(said)
    if started is not None:
        return next(m for m in bot.modules.values() if started in m.start.payloads)
    return None


def _bare(text: str) -> str:
    """``text`` as compared with keywords and titles: case and the spaces and
    punctuation around it ignored."""
    return text.strip().strip(_PUNCTUATION).strip().casefold()


def _start_titles(bot: Bot) -> dict[str, str]:
    """The titles of the bot's buttons and quick replies that start a module
    (bare), with their payloads."""
    starts = {payload for module in bot.modules.values() for payload in module.start.payloads}
    titles: dict[str, str] = {}
    for message in _messages(bot):
        for choice in _choices(message):
            if choice.payload in starts and "{{" not in choice.title:
                titles.setdefault(_bare(choice.title), choice.payload)
    return titles


def _choices(message: BotMessage) -> list[Button | QuickReply]:
    """What a message offers to tap: its buttons, quick replies and card buttons."""
    return [*message.buttons, *message.quick_replies,
            *(b for card in message.cards for b in card.buttons)]


def _messages(bot: Bot) -> list[BotMessage]:
    found = [faq.answer for faq in bot.faqs]
    found += [m for m in (bot.fallback, bot.cta) if m is not None]
    for module in bot.modules.values():
        for step in module.steps:
            if isinstance(step, Say):
                found.append(step.message)
            elif isinstance(step, Ask):
                found.append(step.prompt)
    return found


def _matching_faq(bot: Bot, said: str) -> Faq | None:
    for faq in bot.faqs:
        if faq.trigger.matches_keyword(said):
            return faq
    for faq in bot.faqs:
        if faq.trigger.matches_pattern(said):
            return faq
    return None


def _default_message(bot: Bot, text: str) -> BotMessage:
    """``text`` with a button for each module that a payload starts."""
    buttons = tuple(
        Button(title=module.name.replace("_", " ").capitalize(), payload=module.start.payloads[0])
        for module in bot.modules.values()
        if module.start.payloads
    )
    return BotMessage(text=text, buttons=buttons)
