"""Following one run on the reference runtime: a runtime
:class:`~runtime.observer.Observer` that turns the hooks of each turn into the
keys of the items it covers (:mod:`simulator.coverage.items`).

The runtime reports each step before it runs (``step``), modules entered,
answers stored or refused, calls, branch arms, FAQs, the fallback and
hand-overs. What it does not say is read from the bot the same way the
runtime decides it: which starting rule routed a turn (payloads, then
keywords, then patterns, then the default module for a first message;
mid-question, only an input that interrupts the question), which button was
tapped (the payload among what the previous turn offered), and whether a flow
ended on a call to action (the turn's last message).

Runs in the runtime's turn: every hook only updates memory.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from runtime.graph import Offer, Place, cta_place, fallback_place, offers
from runtime.model import Ask, Bot, BotMessage, Branch, Call, Goto, Handover, Say
from runtime.observer import Observer
from runtime.routing import interrupting_module

from .items import (
    ANY_FAILURE,
    NO_ARM,
    Key,
    api_key,
    arm_key,
    cta_key,
    faq_key,
    give_up_key,
    goto_key,
    invalid_key,
    module_key,
    start_key,
    step_key,
    tap_key,
)

__all__ = ["RunObserver", "starting_rule"]


def starting_rule(bot: Bot, text: str | None, payload: str | None) -> tuple[str, str, str] | None:
    """(module, rule, value) of the starting rule ``text``/``payload`` fires,
    as :func:`runtime.routing.route` picks it."""
    said = text if text is not None else payload or ""
    modules = bot.modules.values()
    if payload is not None:
        for module in modules:
            if payload in module.start.payloads:
                return module.name, "payload", payload
    for module in modules:
        for word, pattern in zip(module.start.keywords, module.start.keyword_patterns,
                                 strict=True):
            if pattern.search(said):
                return module.name, "keyword", word
    for module in modules:
        for compiled in module.start.patterns:
            if compiled.search(said):
                return module.name, "pattern", compiled.pattern
    return None


class RunObserver(Observer):
    """Adds what one run covers to ``hits``; a flow that ends without a call to
    action adds to ``misses`` instead. ``step_budget``: a turn that runs this
    many steps was cut off as a loop (its module is added to ``loops``)."""

    def __init__(self, bot: Bot, hits: set[Key], misses: Counter[Key],
                 step_budget: int | None = None) -> None:
        self.bot = bot
        self.hits = hits
        self.misses = misses
        self.step_budget = step_budget
        self.turns = 0
        self.module: str | None = None
        self.position: tuple[str, int] | None = None  # the last step run
        self.waiting: tuple[str, int] | None = None  # the ask waiting on its answer
        self.retries = 0
        self.routing = False  # the turn's input goes to the starting rules
        self.input: tuple[str | None, str | None] = (None, None)
        self.offered: list[Offer] = []  # what the last turn that said something offered
        self.turn_offers: list[Offer] = []
        self.said: BotMessage | None = None  # the turn's last message so far
        self.ended: str | None = None  # the module whose last step ended the flow
        self.pending_branch: tuple[str, int] | None = None
        self.turn_steps = 0
        self.loops: list[str] = []  # modules where a turn ran out of steps
        # Made once per place: a run passes the same steps again and again.
        self._places: dict[tuple[str, int], Place] = {}
        self._offers: dict[tuple[str | int, ...], list[Offer]] = {}

    # --- turns ----------------------------------------------------------------

    async def user_message(self, text: str | None, payload: str | None) -> None:
        self.end_turn()
        if payload is not None:
            tapped = next((o for o in self.offered if o.payload == payload), None)
            if tapped is not None:
                self.hits.add(tap_key(tapped.path))
        self.turns += 1
        self.routing = self.waiting is None
        if self.waiting is not None:
            asked = self.bot.modules[self.waiting[0]].steps[self.waiting[1]]
            if isinstance(asked, Ask) and interrupting_module(self.bot, asked, text, payload):
                # The question is interrupted: the input goes to the starting rules,
                # and the question waits again only once asked again.
                self.routing, self.waiting = True, None
        self.input = (text, payload)
        self.turn_offers, self.said, self.ended, self.turn_steps = [], None, None, 0

    def end_turn(self) -> None:
        """Settle what the turn left open; called by the next input and at the run's end."""
        self._settle_branch()
        if self.ended is not None:
            key = cta_key(self.ended, "end")
            if self.said is not None and self.said.has_call_to_action:
                self.hits.add(key)
            else:
                self.misses[key] += 1
            self.ended = None
        if self.said is not None:
            self.offered = [o for o in self.turn_offers if o.payload]
        if self.step_budget is not None and self.turn_steps >= self.step_budget:
            self.loops.append(self.module or "?")
        self.turn_steps = 0

    def _say(self, place: Place) -> None:
        self.said = place.message
        if place.path not in self._offers:
            self._offers[place.path] = offers(place)
        self.turn_offers += self._offers[place.path]

    def _place(self, module: str, index: int, step: Say | Ask) -> Place:
        if (module, index) not in self._places:
            path = ("modules", module, "steps", index)
            self._places[(module, index)] = (
                Place((*path, "say"), step.message, (module, index)) if isinstance(step, Say)
                else Place((*path, "ask", "prompt"), step.prompt, (module, index)))
        return self._places[(module, index)]

    def _prompt(self, at: tuple[str, int]) -> None:
        step = self.bot.modules[at[0]].steps[at[1]]
        if isinstance(step, Ask):
            self._say(self._place(at[0], at[1], step))

    def _settle_branch(self) -> None:
        if self.pending_branch is not None:
            self.hits.add(arm_key(*self.pending_branch, NO_ARM))
            self.pending_branch = None

    # --- the runtime's hooks ------------------------------------------------------

    async def module_entered(self, module: str) -> None:
        self._settle_branch()
        self.hits.add(module_key(module))
        if self.routing:
            rule = starting_rule(self.bot, *self.input)
            if rule is not None and rule[0] == module:
                self.hits.add(start_key(*rule))
            elif self.turns == 1 and self.bot.modules[module].default:
                self.hits.add(start_key(module, "default"))
        self.routing = False
        self.module, self.position, self.ended = module, None, None

    async def step(self, module: str, index: int) -> None:
        self._settle_branch()
        self.routing = False
        self.turn_steps += 1
        self.hits.add(step_key(module, index))
        self.module, self.position, self.ended = module, (module, index), None
        steps = self.bot.modules[module].steps
        step = steps[index]
        if isinstance(step, Goto):
            self.hits.add(goto_key(module, index))
        elif isinstance(step, Say):
            self._say(self._place(module, index, step))
        elif isinstance(step, Ask):
            self._prompt((module, index))
            self.waiting, self.retries = (module, index), step.retries
        elif isinstance(step, Branch):
            self.pending_branch = (module, index)
        if index == len(steps) - 1 and not isinstance(step, Ask | Goto | Handover):
            self.ended = module  # unless a branch or call leads on, or a hand-over

    async def property_set(self, name: str, value: Any) -> None:
        if self.waiting is None or self._asked() != name:
            return
        module, index = self.waiting
        self.waiting = None
        if index == len(self.bot.modules[module].steps) - 1:
            self.ended = module  # the answer to the last step ends the flow

    async def property_rejected(self, name: str, raw_value: object, reason: str) -> None:
        if self.waiting is None or self._asked() != name:
            return  # a value of a call or a set step
        self.hits.add(invalid_key(name))
        self.said = BotMessage("(error message)")
        if self.retries > 0:
            self.retries -= 1
            self._prompt(self.waiting)
            return
        self.hits.add(give_up_key(*self.waiting))
        self.waiting = None

    def _asked(self) -> str | None:
        if self.waiting is None:
            return None
        step = self.bot.modules[self.waiting[0]].steps[self.waiting[1]]
        return step.property if isinstance(step, Ask) else None

    async def api_call(self, name: str, method: str, url: str, status: int | None,
                       latency_ms: float, ok: bool, error_kind: str | None) -> None:
        found = self._call_step(name)
        if found is None:
            return
        module, index, step = found
        outcome = "success" if ok else str(error_kind)
        if not ok and not step.on_failure.targets():
            outcome = ANY_FAILURE
        self.hits.add(api_key(module, index, outcome))

    def _call_step(self, api: str) -> tuple[str, int, Call] | None:
        if self.position is not None:
            module, index = self.position
            step = self.bot.modules[module].steps[index]
            if isinstance(step, Call) and step.api == api:
                return module, index, step
        return None

    async def branch(self, module: str, index: int, label: str, condition: str) -> None:
        if self.pending_branch is not None and self.pending_branch[0] == module:
            self.hits.add(arm_key(*self.pending_branch, index))
        self.pending_branch = None

    async def faq_answered(self, name: str) -> None:
        self.hits.add(faq_key(name))
        for number, faq in enumerate(self.bot.faqs):
            if faq.name != name:
                continue
            self._say(Place(("faqs", number, "answer"), faq.answer))
            if self.waiting is not None:  # a question in progress resumes, whatever `then`
                self._prompt(self.waiting)
            else:
                self.waiting = None
                self._say(cta_place(self.bot))
            break
        self.routing = False

    async def fallback(self, text: str) -> None:
        self._say(fallback_place(self.bot))
        self.routing = False

    async def handover(self, reason: str) -> None:
        if self.module is not None:
            self.hits.add(cta_key(self.module, "handover"))
        self.waiting, self.ended = None, None
