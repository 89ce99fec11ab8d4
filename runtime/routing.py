"""What the user said, and where it leads: an answer to the pending question,
a module's starting rule, an FAQ, the default module on a first message, or
the fallback.

Starting rules, in order: a start payload, then keywords, then patterns, over
every module; FAQs match by keyword, then by pattern. A payload is never an
FAQ question.
"""

from __future__ import annotations

import logging

from plugin.core.properties import InvalidValue
from runtime.interpreter import Interpreter
from runtime.model import Ask, Bot, BotMessage, Button, Faq, FaqThen, Module
from runtime.turn import Turn, notify

__all__ = ["route", "answer", "cut_short"]

log = logging.getLogger(__name__)

_DEFAULT_FALLBACK = "Sorry, I didn't get that."
_DEFAULT_CTA = "Anything else I can help you with?"
_DEFAULT_REJECTION = "Sorry, that is not a valid {label}: {reason}."


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
    """The user's answer to the ``pending`` ask (or an FAQ asked meanwhile)."""
    conversation = turn.conversation
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


async def _answer_faq(turn: Turn, faq: Faq, pending: Ask | None = None) -> None:
    await notify(turn.observer.faq_answered, faq.name)
    turn.say(faq.answer)
    if faq.then is FaqThen.RESUME and pending is not None:
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
