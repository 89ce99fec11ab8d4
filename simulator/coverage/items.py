"""What there is to cover in a bot of the reference runtime: every module,
step, branch arm (``else`` and "no arm" included), ``goto``, tappable button
and quick reply, FAQ, starting rule, call outcome, question's refusal and
give-up path, and call to action at the end of a flow, each an :class:`Item`
with its place in the bot file.

An item's ``key`` is what a run reports when it covers it (see
:mod:`simulator.coverage.observer`); the key functions here are the only
place keys are made. Pure: reads the bot and its line marks only.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

from plugin.core.documents import LineMap
from runtime.graph import (
    DocumentPath,
    Place,
    failure_path,
    flow_ends,
    message_places,
    offers,
    step_kind,
)
from runtime.model import Ask, Bot, Branch, Call, FailureKind, Goto

__all__ = [
    "Kind",
    "Key",
    "Item",
    "Inventory",
    "inventory",
    "module_key",
    "step_key",
    "arm_key",
    "goto_key",
    "tap_key",
    "faq_key",
    "start_key",
    "api_key",
    "invalid_key",
    "give_up_key",
    "cta_key",
    "NO_ARM",
    "ANY_FAILURE",
]


class Kind(StrEnum):
    MODULE = "modules"
    STEP = "steps"
    BRANCH = "branches"
    GOTO = "gotos"
    TAP = "taps"
    FAQ = "faqs"
    START = "starts"
    API = "apis"
    VALIDATION = "validation"
    GIVE_UP = "give-ups"
    CTA = "ctas"


Key = tuple[str | int, ...]
NO_ARM = "none"  # a branch without else whose arms all failed: the next step runs
ANY_FAILURE = "failure"  # a call without on_failure failed: the next step runs


def module_key(module: str) -> Key:
    return ("module", module)


def step_key(module: str, index: int) -> Key:
    return ("step", module, index)


def arm_key(module: str, index: int, arm: int | str) -> Key:
    return ("arm", module, index, arm)


def goto_key(module: str, index: int) -> Key:
    return ("goto", module, index)


def tap_key(path: DocumentPath) -> Key:
    return ("tap", *path)


def faq_key(name: str) -> Key:
    return ("faq", name)


def start_key(module: str, rule: str, value: str = "") -> Key:
    return ("start", module, rule, value)


def api_key(module: str, index: int, outcome: str) -> Key:
    return ("api", module, index, outcome)


def invalid_key(prop: str) -> Key:
    return ("invalid", prop)


def give_up_key(module: str, index: int) -> Key:
    return ("give_up", module, index)


def cta_key(module: str, how: str) -> Key:
    return ("cta", module, how)


@dataclass(frozen=True, slots=True)
class Item:
    """One thing to cover. ``kind`` is a :class:`Kind` for a bot of the
    reference runtime (other targets name their own kinds: actions, slots)."""

    kind: str
    key: Key
    label: str
    path: DocumentPath
    line: int | None


@dataclass(frozen=True, slots=True)
class Inventory:
    """Every item of one bot file, in file order."""

    file: str
    bot: Bot
    items: tuple[Item, ...]

    def kinds(self) -> list[str]:
        return list(dict.fromkeys(i.kind for i in self.items))


def inventory(bot: Bot, lines: LineMap | None, file: str) -> Inventory:
    def line(path: DocumentPath) -> int | None:
        return lines.line(path) if lines is not None else None

    items = [Item(kind, key, label, path, line(path))
             for kind, key, label, path in _items(bot)]
    order = {str(k): n for n, k in enumerate(Kind)}
    items.sort(key=lambda i: (i.line or 0, order.get(i.kind, 0)))
    return Inventory(file, bot, tuple(dict.fromkeys(items)))


def _items(bot: Bot) -> Iterator[tuple[Kind, Key, str, DocumentPath]]:
    for name, module in bot.modules.items():
        path: DocumentPath = ("modules", name)
        yield Kind.MODULE, module_key(name), f"module {name!r} entered", path
        yield from _starts(bot, name)
        for index in range(len(module.steps)):
            yield from _step_items(bot, name, index)
    for place in message_places(bot):
        yield from _taps(place)
    for index, faq in enumerate(bot.faqs):
        yield Kind.FAQ, faq_key(faq.name), f"FAQ {faq.name!r} answered", ("faqs", index)
    asked: dict[str, DocumentPath] = {}
    for name, module in bot.modules.items():
        for index, step in enumerate(module.steps):
            if isinstance(step, Ask):
                asked.setdefault(step.property, ("modules", name, "steps", index, "ask"))
    for prop in asked:
        path = ("properties", prop)
        if prop in bot.properties and bot.properties[prop].error_message:
            path = ("properties", prop, "error_message")
        yield (Kind.VALIDATION, invalid_key(prop),
               f"{prop!r}: an invalid answer refused with the error message", path)
    for end in flow_ends(bot):
        if end.how == "end":
            yield (Kind.CTA, cta_key(end.module, "end"),
                   f"{end.module}: the flow ends on a call to action", end.path)
        elif end.how == "handover":
            yield (Kind.CTA, cta_key(end.module, "handover"),
                   f"{end.module}: the flow ends on a hand-over", end.path)


def _starts(bot: Bot, name: str) -> Iterator[tuple[Kind, Key, str, DocumentPath]]:
    module = bot.modules[name]
    start: DocumentPath = ("modules", name, "start")
    if module.default:
        yield (Kind.START, start_key(name, "default"),
               f"{name}: started as the default module (a first message)",
               ("modules", name, "default"))
    for i, word in enumerate(module.start.keywords):
        yield (Kind.START, start_key(name, "keyword", word), f"{name}: keyword {word!r}",
               (*start, "keywords", i))
    for i, pattern in enumerate(module.start.patterns):
        yield (Kind.START, start_key(name, "pattern", pattern.pattern),
               f"{name}: pattern {pattern.pattern!r}", (*start, "patterns", i))
    for i, payload in enumerate(module.start.payloads):
        yield (Kind.START, start_key(name, "payload", payload), f"{name}: payload {payload}",
               (*start, "payloads", i))


def _step_items(bot: Bot, name: str, index: int) -> Iterator[tuple[Kind, Key, str, DocumentPath]]:
    step = bot.modules[name].steps[index]
    kind = step_kind(step)
    path: DocumentPath = ("modules", name, "steps", index, kind)
    where = f"{name} step {index + 1}"
    yield Kind.STEP, step_key(name, index), f"{where} ({kind}) run", path
    if isinstance(step, Goto):
        yield Kind.GOTO, goto_key(name, index), f"{where}: goto {step.module}", path
    elif isinstance(step, Branch):
        for arm_index, arm in enumerate(step.arms):
            yield (Kind.BRANCH, arm_key(name, index, arm_index),
                   f"{where}: arm {arm.label!r} taken", (*path, arm_index))
        if step.otherwise is not None:
            yield (Kind.BRANCH, arm_key(name, index, len(step.arms)), f"{where}: else taken",
                   (*path, len(step.arms)))
        else:
            yield (Kind.BRANCH, arm_key(name, index, NO_ARM),
                   f"{where}: no arm held (the next step ran)", path)
    elif isinstance(step, Call):
        yield (Kind.API, api_key(name, index, "success"), f"{where}: {step.api} succeeded",
               path)
        routed = [k for k in FailureKind if step.on_failure.route(k) is not None]
        for failure in routed:
            target = step.on_failure.route(failure)
            yield (Kind.API, api_key(name, index, str(failure)),
                   f"{where}: {step.api} failed with {failure} (-> {target})",
                   failure_path(step, path, failure))
        if not routed:
            yield (Kind.API, api_key(name, index, ANY_FAILURE),
                   f"{where}: {step.api} failed (no on_failure: the next step ran)", path)
    elif isinstance(step, Ask):
        target = step.on_give_up or "the fallback"
        yield (Kind.GIVE_UP, give_up_key(name, index),
               f"{where}: {step.property!r} refused {step.retries + 1} times (-> {target})",
               (*path, "on_give_up") if step.on_give_up else path)


def _taps(place: Place) -> Iterator[tuple[Kind, Key, str, DocumentPath]]:
    where = (f"{place.step[0]} step {place.step[1] + 1}" if place.step is not None
             else "/".join(str(p) for p in place.path))
    for offer in offers(place):
        if offer.payload is None:
            continue  # a link: nothing comes back to tap
        kind = offer.kind.replace("_", " ")
        yield (Kind.TAP, tap_key(offer.path),
               f"{where}: {kind} {offer.title!r} ({offer.payload}) tapped", offer.path)
