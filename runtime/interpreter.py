"""The step interpreter: runs a module's steps from the conversation's
position until an ``ask`` waits for the user, the flow ends, or a human takes
over; a ``goto``, a branch or a call moves it to another module.

A turn runs at most its step budget, so that a goto loop is cut off at once
(:class:`StepBudgetExceeded`).
"""

from __future__ import annotations

from typing import Any

from plugin.audience.filters import matches
from plugin.core.properties import InvalidValue
from runtime.calls import ApiCalls
from runtime.model import Ask, Branch, Call, Goto, Handover, Module, Say, SetValues, Step
from runtime.templating import render_value
from runtime.turn import Turn, notify

__all__ = ["DEFAULT_STEP_BUDGET", "Interpreter", "StepBudgetExceeded"]

# Steps one turn may run: far more than a real flow needs between two user
# inputs, few enough that a goto loop is cut off at once.
DEFAULT_STEP_BUDGET = 200


class StepBudgetExceeded(Exception):
    """A turn ran more steps than its budget: the message says where."""


class _Signal:
    """What a step tells the loop: go on, or stop and wait for the user."""


_NEXT = _Signal()
_WAIT = _Signal()


class Interpreter:
    """Runs steps; ``calls`` makes the api calls, ``step_budget`` bounds a turn."""

    def __init__(self, calls: ApiCalls, step_budget: int = DEFAULT_STEP_BUDGET) -> None:
        self.calls = calls
        self.step_budget = step_budget

    async def start(self, turn: Turn, module: str) -> None:
        """Enter ``module`` and run it."""
        await turn.enter(module)
        await self.run(turn)

    async def run(self, turn: Turn) -> None:
        """Run steps from the current position until an ask, the end, or a hand-over.

        Raises:
            StepBudgetExceeded: the turn has run out of steps.
        """
        conversation = turn.conversation
        while conversation.module is not None and not conversation.human:
            module = turn.bot.modules[conversation.module]
            if conversation.position >= len(module.steps):
                if await turn.resume():  # a question this flow interrupted is asked again
                    continue
                conversation.end_flow()
                return
            if turn.steps_left <= 0:
                raise StepBudgetExceeded(
                    f"more than {self.step_budget} steps in one turn (last in module "
                    f"{module.name!r}): is there a goto loop?"
                )
            turn.steps_left -= 1
            await notify(turn.observer.step, module.name, conversation.position)
            outcome = await self._step(turn, module, module.steps[conversation.position])
            if outcome is _WAIT:
                return
            if outcome is _NEXT:
                conversation.position += 1
            elif isinstance(outcome, str):
                await turn.enter(outcome)

    async def _step(self, turn: Turn, module: Module, step: Step) -> _Signal | str:
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
            return await self.calls.run(turn, step) or _NEXT
        if isinstance(step, Branch):
            return await _branch(turn, module, step)
        if isinstance(step, Goto):
            return step.module
        if isinstance(step, Handover):
            await notify(turn.observer.handover, step.reason)
            conversation.human = True
            conversation.end_flow()
            turn.handed_over = True
            return _WAIT
        await self._set_values(turn, step)
        return _NEXT

    async def _set_values(self, turn: Turn, step: SetValues) -> None:
        for name, raw in step.values.items():
            rendered = render_value(raw, turn.values, self.calls.env(turn.bot))
            try:
                value = turn.bot.properties[name].check(rendered)
            except InvalidValue as exc:
                await notify(turn.observer.property_rejected, name, rendered, exc.reason)
                continue
            await turn.set_property(name, value)


async def _branch(turn: Turn, module: Module, step: Branch) -> _Signal | str:
    profile = _branch_profile(turn, module)
    properties = turn.bot.filter_properties
    for index, arm in enumerate(step.arms):
        if matches(arm.when, properties, profile):
            await notify(turn.observer.branch, module.name, index, arm.label, arm.description)
            return arm.goto
    if step.otherwise is not None:
        await notify(turn.observer.branch, module.name, len(step.arms), "else", "else")
        return step.otherwise
    return _NEXT


def _branch_profile(turn: Turn, module: Module) -> dict[str, Any]:
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
