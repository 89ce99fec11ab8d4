"""The crawl: breadth-first over what a user can do, from the first message.

At the first message it tries every starting rule (each keyword, a sample of
each pattern, each FAQ, and a text no rule takes, which starts the default
module); after that, every button, quick reply and numbered option the last
replies offer, and a text no rule takes (the fallback). At a question it
answers with valid values and with invalid ones made from the property's
type (:mod:`simulator.crawler.values`). The first time a path calls an api,
the same path is also tried with the api failing each way (an error status,
a timeout, a refused connection, a body that is not JSON) and, when branches
compare a saved value, answering with those values too.

A path ends where the conversation comes back to a state already seen (the
same place in the flow, the same offers, the same values for what branches
compare), at a hand-over, or at ``max_depth`` inputs. Paths of one depth are
replayed concurrently and read in order, and no outcome depends on timing (an
api times out only where its stub never answers), so the same seed gives the
same crawl.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Hashable
from dataclasses import dataclass, field, replace
from typing import Any

import aiohttp

from runtime.interpreter import DEFAULT_STEP_BUDGET
from runtime.model import Bot, Branch
from simulator.coverage.items import Key
from simulator.coverage.observer import RunObserver

from ..assertions import offered
from ..model import ApiStub, StubFailure
from ..stubs import StubServer
from .values import (
    invalid_answers,
    neutral_text,
    sample,
    saved_variants,
    success_body,
    valid_answers,
)
from .walk import Input, Outcome, Path, Walk, Walker

__all__ = ["Crawl", "crawl", "CRAWL_API_TIMEOUT"]

# The timeout of an api on the paths where its stub never answers (see
# Walker._bot_for): the outcome is the same, the wait shorter.
CRAWL_API_TIMEOUT = 0.3
_CONCURRENCY = 16  # replays mostly wait (on stubs that time out)
_FAILURES = (
    ("status", ApiStub("", status=500, body={"error": "crawl"}), "answers 500"),
    ("timeout", ApiStub("", fail=StubFailure.TIMEOUT), "times out"),
    ("connection", ApiStub("", fail=StubFailure.REFUSED), "refuses the connection"),
    ("invalid_response", ApiStub("", text="<html>not JSON</html>"),
     "answers a body that is not JSON"),
)


@dataclass
class Crawl:
    """What a crawl did: every path replayed (in order), the ones it ended
    (``leaves``), what they covered, and whether it stopped early."""

    bot: Bot
    channel: str
    seed: int
    max_depth: int
    walks: list[Walk] = field(default_factory=list)
    leaves: list[Walk] = field(default_factory=list)
    hits: set[Key] = field(default_factory=set)
    misses: Counter[Key] = field(default_factory=Counter)
    stopped: bool = False
    seconds: float = 0.0

    @property
    def paths_per_second(self) -> float:
        return len(self.walks) / self.seconds if self.seconds else 0.0


async def crawl(bot: Bot, *, channel: str = "web", max_depth: int = 12, seed: int = 0,
                max_paths: int = 2000) -> Crawl:
    """Crawl ``bot`` on ``channel`` (see the module's docstring)."""
    started = time.perf_counter()
    rng = random.Random(seed)
    result = Crawl(bot, channel, seed, max_depth)
    defaults = {name: _success(bot, name, rng).stub for name in bot.apis}
    async with StubServer() as stubs, aiohttp.ClientSession() as session:
        walker = Walker(bot, channel, stubs, session, defaults, timeout=CRAWL_API_TIMEOUT)
        explorer = _Explorer(bot, walker, rng, result, max_paths)
        await explorer.run(max_depth)
    result.seconds = time.perf_counter() - started
    return result


def _success(bot: Bot, api: str, rng: random.Random,
             variant: dict[str, Any] | None = None) -> Outcome:
    body = success_body(bot, api, rng, variant)
    detail = ", ".join(f"{k}={v!r}" for k, v in (variant or {}).items())
    return Outcome("success", ApiStub(api, status=200, body=body), detail)


class _Explorer:
    def __init__(self, bot: Bot, walker: Walker, rng: random.Random, result: Crawl,
                 max_paths: int) -> None:
        self.bot = bot
        self.walker = walker
        self.rng = rng
        self.result = result
        self.max_paths = max_paths
        self.seen: set[Hashable] = set()
        self.compared = _compared_properties(bot)
        self.gate = asyncio.Semaphore(_CONCURRENCY)

    async def _walk(self, path: Path) -> Walk:
        async with self.gate:
            hits: set[Key] = set()
            observer = RunObserver(self.bot, hits, self.result.misses, DEFAULT_STEP_BUDGET)
            walk = await self.walker.walk(path, [observer])
            observer.end_turn()
            self.result.hits |= hits
            walk.hits = frozenset(hits)
            walk.offers = tuple(o.path for o in observer.offered)
            return walk

    async def run(self, max_depth: int) -> None:
        level = [Path()]
        for depth in range(max_depth + 1):
            if not level:
                return
            room = self.max_paths - len(self.result.walks)
            if room <= 0:
                self.result.stopped = True
                return
            if len(level) > room:
                level, self.result.stopped = level[:room], True
            walks = await asyncio.gather(*(self._walk(p) for p in level))
            level = []
            for walk in walks:
                self.result.walks.append(walk)
                level += self._children(walk, depth < max_depth)

    def _children(self, walk: Walk, deeper: bool) -> list[Path]:
        """The paths that go on from ``walk`` (and its api variants); a walk with
        none is a leaf, written as a scenario."""
        path = walk.path
        variants: list[Path] = []
        for api in walk.called:
            if api not in path.stubs:
                default = _success(self.bot, api, self.rng)
                path = path.with_api(api, default)
                variants += [walk.path.with_api(api, o) for o in self._outcomes(api)]
        if walk.diverged is not None:
            return variants  # neither followed nor written (findings report it)
        last = walk.last
        key = self._key(walk)
        if last is not None and (key in self.seen or last.handover or not deeper
                                 or (last.state is not None and last.state.human)):
            self.result.leaves.append(replace(walk, path=path))
            return variants
        self.seen.add(key)
        following = [path.then(step) for step in self._inputs(walk)]
        if not following:
            self.result.leaves.append(replace(walk, path=path))
        return variants + following

    def _outcomes(self, api: str) -> list[Outcome]:
        found = [_success(self.bot, api, self.rng, variant)
                 for variant in saved_variants(self.bot, api)]
        found += [Outcome(kind, replace(stub, api=api), detail)
                  for kind, stub, detail in _FAILURES]
        return found

    def _key(self, walk: Walk) -> Hashable:
        """Where the conversation stands, as far as what can happen next goes: the
        place in the flow, what the user can tap, and the values of this flow's
        answers that branches compare (values from earlier flows are left out:
        a flow asks again what it compares)."""
        last = walk.last
        if last is None:
            return ("start",)
        state = last.state
        # What can be tapped, by where it is written: the fallback's quick replies
        # are not the welcome's, even with the same titles.
        taps = walk.offers
        if state is None or state.module is None:
            return ("idle", state.human if state else False, taps)
        this_flow: set[str] = set()
        for turn in reversed(walk.turns):
            if turn is not last and turn.state is not None and turn.state.module is None:
                break
            this_flow.update(turn.stored)
        values = tuple(sorted((name, repr(state.properties.get(name)))
                              for name in self.compared & this_flow))
        return (state.module, state.position, state.waiting_for, state.retries_left,
                state.human, taps, values)

    def _inputs(self, walk: Walk) -> list[Input]:
        last = walk.last
        if last is None:
            return self._first_messages()
        inputs: list[Input] = []
        state = last.state
        if state is not None and state.waiting_for is not None:
            prop = state.waiting_for
            inputs += [Input("say", v, f"a valid {prop}") for v in valid_answers(
                self.bot, prop, self.rng)]
            inputs += [Input("say", v, f"an invalid {prop}") for v in invalid_answers(
                self.bot, prop)]
        replies = next((t.replies for t in reversed(walk.turns) if t.replies), [])
        inputs += _taps(replies)
        if state is None or state.waiting_for is None:
            inputs.append(Input("say", neutral_text(self.bot), "a text no rule takes"))
        return list(dict.fromkeys(inputs))

    def _first_messages(self) -> list[Input]:
        inputs = [Input("say", neutral_text(self.bot), "a first message no rule takes")]
        for module in self.bot.modules.values():
            inputs += [Input("say", word, f"keyword {word!r} of {module.name}")
                       for word in module.start.keywords]
            for pattern in module.start.patterns:
                text = sample(pattern.pattern, self.rng)
                if text is not None:
                    inputs.append(Input("say", text, f"pattern {pattern.pattern!r} of "
                                                     f"{module.name}"))
        for faq in self.bot.faqs:
            if faq.trigger.keywords:
                inputs.append(Input("say", faq.trigger.keywords[0], f"FAQ {faq.name}"))
            for pattern in faq.trigger.patterns[:1]:
                text = sample(pattern.pattern, self.rng)
                if text is not None:
                    inputs.append(Input("say", text, f"FAQ {faq.name}"))
        return list(dict.fromkeys(inputs))


def _taps(replies: list[dict[str, Any]]) -> list[Input]:
    found = offered(replies)
    inputs: list[Input] = []
    titles: set[str] = set()
    for kind, items in (("button", found.buttons), ("quick reply", found.quick_replies),
                        ("card button", found.card_buttons), ("option", found.options)):
        for item in items:
            title = str(item.get("title") or "")
            if kind != "option" and item.get("payload") is None:
                continue  # a link
            if title.casefold() in titles:
                continue  # a tap by title reaches the first of them only
            titles.add(title.casefold())
            inputs.append(Input("tap", title, f"{kind} {title!r}"))
    return inputs


def _compared_properties(bot: Bot) -> frozenset[str]:
    """Properties some branch condition reads: their values decide the flow."""
    return frozenset(
        str(condition.get("property"))
        for module in bot.modules.values() for step in module.steps
        if isinstance(step, Branch) for arm in step.arms
        for condition in arm.when.get("conditions", []) if isinstance(condition, dict))
