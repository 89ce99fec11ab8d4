"""Collecting coverage over a simulate run or a pytest session: the
simulator's run watch (:class:`simulator.runner.RunWatch`).

In-process runs are followed as they happen, by a
:class:`~simulator.coverage.observer.RunObserver` the runtime reports every
step to. Runs on a running Audience server or a Rasa bot are read back from
their capture when they close (:mod:`simulator.coverage.replay`). Webhook
targets capture nothing, so they add nothing.

Usage::

    coverage = Coverage()
    async with Simulator(watch=coverage) as simulator:
        await simulator.run_all(scenarios)
    print(text_report(coverage.report()))
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from plugin.core.documents import UnreadableYaml, parse_yaml
from plugin.core.errors import AudienceError
from runtime.model import Bot

from .items import Inventory, Item, Key, inventory
from .observer import RunObserver
from .replay import UNOBSERVABLE, Expected, events_hits, rasa_hits
from .report import CoverageReport, Section

if TYPE_CHECKING:
    from ..model import ScenarioRun
    from ..runner import LiveConversation

__all__ = ["Coverage"]

log = logging.getLogger(__name__)
_RASA = "rasa"


class Coverage:
    """What the runs covered, per bot file and channel.

    Args:
        expected: for a Rasa target, what its bot should show (else the report
            lists what the capture showed).
        step_budget: passed to each run's observer (a turn of that many steps
            counts as a loop).
    """

    def __init__(self, expected: Expected | None = None,
                 step_budget: int | None = None) -> None:
        self.expected = expected
        self.step_budget = step_budget
        self.inventories: dict[str, Inventory] = {}
        self.hits: dict[str, dict[str, set[Key]]] = {}
        self.misses: dict[str, Counter[Key]] = {}
        self.followed: set[str] = set()  # bot files some run was followed step by step
        self.notes: dict[str, list[str]] = {}
        self.general: list[str] = []  # notes of no bot's
        self._runs: dict[str, RunObserver] = {}

    def _bot(self, bot: Bot) -> str:
        file = bot.source
        if file not in self.inventories:
            lines = None
            try:
                # Only the line marks: the bot itself was loaded (and checked) already.
                lines = parse_yaml(Path(file).read_text("utf-8")).lines
            except (OSError, UnicodeDecodeError, UnreadableYaml):
                log.debug("no line marks for %s", file, exc_info=True)
            self.inventories[file] = inventory(bot, lines, file)
            self.misses[file] = Counter()
        return file

    def _hits(self, file: str, channel: str) -> set[Key]:
        return self.hits.setdefault(file, {}).setdefault(channel, set())

    # --- the run watch --------------------------------------------------------

    def observer(self, run: ScenarioRun, bot: Bot) -> RunObserver:
        """The observer of an in-process ``run`` of ``bot``."""
        file = self._bot(bot)
        self.followed.add(file)
        observer = RunObserver(bot, self._hits(file, run.channel), self.misses[file],
                               self.step_budget)
        self._runs[run.run_id] = observer
        return observer

    async def finished(self, live: LiveConversation) -> None:
        """A run closes: settle its last turn, or read back what it captured."""
        observer = self._runs.pop(live.run.run_id, None)
        if observer is not None:
            observer.end_turn()
            return
        if live.target not in ("audience", _RASA):
            note = (f"{live.target} target: nothing is captured there, so its runs add no "
                    "coverage")
            if note not in self.general:
                self.general.append(note)
            return
        try:
            captured = await live.captured()
        except AudienceError as exc:
            self.notes.setdefault(_RASA if live.bot is None else live.bot.source, []).append(
                f"{live.run.title}: nothing captured to measure: {exc.message}")
            return
        if live.bot is not None and live.target == "audience":
            file = self._bot(live.bot)
            self._hits(file, live.run.channel).update(events_hits(live.bot, captured.events))
        else:
            self._hits(_RASA, live.run.channel).update(rasa_hits(captured.events))

    # --- the report -------------------------------------------------------------

    def report(self) -> CoverageReport:
        sections = []
        for file, found in self.inventories.items():
            unobservable = frozenset() if file in self.followed else frozenset(UNOBSERVABLE)
            sections.append(Section(
                file, found.bot.id, found.items,
                {c: frozenset(keys) for c, keys in self.hits.get(file, {}).items()},
                unobservable, dict(self.misses[file]), tuple(self.notes.get(file, ()))))
        if _RASA in self.hits or _RASA in self.notes:
            sections.append(self._rasa_section())
        return CoverageReport(tuple(sections), tuple(self.general))

    def _rasa_section(self) -> Section:
        hits = {c: frozenset(keys) for c, keys in self.hits.get(_RASA, {}).items()}
        notes = list(self.notes.get(_RASA, ()))
        if self.expected is not None:
            return Section(self.expected.file, "rasa", self.expected.items, hits,
                           notes=tuple(notes))
        seen = sorted(set().union(*hits.values())) if hits else []
        items = tuple(Item(str(key[0]), key, f"{str(key[0])[:-1]} {key[1]!r}", (), None)
                      for key in seen)
        notes.append("no list to measure against (--coverage-expect FILE: a list of modules, "
                     "actions, slots and apis, or the bot's domain.yml): this is what the "
                     "capture shows")
        return Section("rasa target", "rasa", items, hits, notes=tuple(notes), measured=False)
