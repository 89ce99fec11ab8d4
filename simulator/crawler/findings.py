"""What a crawl found: dead ends (a turn after which the user has nothing to
tap and no call to action), modules no path reached, loops (a turn cut off
after the runtime's step budget), error messages never shown (no invalid
answer was refused), replies that break the channel's limits, and paths
that went another way when replayed (``unstable``: a bot whose answers
depend on more than what the user said), each at its ``file:line`` with a
path that shows it.

Pure: reads the crawl's walks, the bot and its line marks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from plugin.core.documents import LineMap
from plugin.handover.channel_profiles import profile_for
from runtime.graph import DocumentPath, Place, edges, message_places, step_kind
from runtime.model import Ask, Bot

from ..assertions import offered
from ..coverage.items import invalid_key, module_key, step_key
from .explore import Crawl
from .values import invalid_answers
from .walk import Path, Turn, Walk

__all__ = ["CrawlFinding", "findings", "ERRORS"]

ERRORS = frozenset({"dead-end", "loop", "too-many-buttons", "too-many-quick-replies",
                    "text-too-long", "unstable"})


@dataclass
class CrawlFinding:
    rule: str
    path: DocumentPath
    line: int | None
    message: str
    example: Path
    count: int = 1
    channel: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def severity(self) -> str:
        return "error" if self.rule in ERRORS else "warning"

    def describe(self, file: str) -> str:
        where = f"{file}:{self.line}" if self.line is not None else file
        said = f"{where}: {self.severity} {self.rule}: {self.message}"
        if not self.example.inputs:
            return said
        times = f"{self.count} paths; " if self.count > 1 else ""
        return f"{said}\n    ({times}e.g. {self.example.describe()})"

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "severity": self.severity, "line": self.line,
                "path": "/".join(str(p) for p in self.path), "message": self.message,
                "paths": self.count, "example": [i.describe() for i in self.example.inputs],
                "channel": self.channel}


class _Found:
    def __init__(self, lines: LineMap | None) -> None:
        self.lines = lines
        self.by_key: dict[tuple[str, DocumentPath, str], CrawlFinding] = {}

    def add(self, rule: str, path: DocumentPath, message: str, example: Path,
            channel: str | None = None) -> None:
        # One finding per rule and place: the message and example of the first path.
        key = (rule, path, channel or "")
        if key in self.by_key:
            self.by_key[key].count += 1
            return
        line = self.lines.line(path) if self.lines is not None else None
        self.by_key[key] = CrawlFinding(rule, path, line, message, example, channel=channel)


def findings(crawl: Crawl, lines: LineMap | None) -> list[CrawlFinding]:
    """Everything the crawl found, sorted by line."""
    found = _Found(lines)
    bot = crawl.bot
    places = message_places(bot)
    for walk in crawl.walks:
        if walk.diverged is not None:
            found.add("unstable", ("modules",), "replayed, the bot answered differently: "
                      f"{walk.diverged}", walk.path)
        if not walk.turns:
            continue
        _turn_findings(found, bot, walk, walk.turns[-1], places, crawl.channel)
    for name in bot.modules:
        if module_key(name) not in crawl.hits:
            found.add("unreachable-module", ("modules", name),
                      f"no path reached module {name!r}", Path())
    for prop, where in _asked(bot, crawl).items():
        if invalid_key(prop) in crawl.hits:
            continue
        tried = ", ".join(repr(v) for v in invalid_answers(bot, prop)) or "nothing"
        found.add("validation-never-shown", ("properties", prop),
                  f"the error message of {prop!r} was never shown: the bot took every "
                  f"invalid answer the crawl gave ({tried})", where)
    return sorted(found.by_key.values(), key=lambda f: (f.line or 0, f.rule, f.message))


def _asked(bot: Bot, crawl: Crawl) -> dict[str, Path]:
    """Properties some crawled path asked for, with the shortest path that did."""
    asked: dict[str, Path] = {}
    for walk in crawl.walks:
        last = walk.turns[-1] if walk.turns else None
        waiting = last.state.waiting_for if last and last.state else None
        if waiting and waiting in bot.properties and waiting not in asked:
            asked[waiting] = walk.path
    return {p: w for p, w in asked.items() if any(
        isinstance(s, Ask) and s.property == p and step_key(m, i) in crawl.hits
        for m, module in bot.modules.items() for i, s in enumerate(module.steps))}


def _turn_findings(found: _Found, bot: Bot, walk: Walk, turn: Turn, places: list[Place],
                   channel: str) -> None:
    state = turn.state
    if turn.looped:
        cycle = list(dict.fromkeys(turn.entered))
        found.add("loop", _loop_start(bot, cycle) or _where(bot, turn),
                  f"a turn ran {turn.steps} steps without the user ({' -> '.join(cycle)}): "
                  "the runtime cut it off and fell back", walk.path)
    else:
        seen = next((t.replies for t in reversed(walk.turns) if t.replies), [])
        shown = offered(seen)
        waiting = state is not None and state.waiting_for is not None
        human = turn.handover or (state is not None and state.human)
        if not (shown.any or shown.card_buttons) and not waiting and not human:
            last = str(seen[-1].get("text") or "") if seen else ""
            what = f"after {_short(last)!r}" if turn.replies else "the turn said nothing, and"
            found.add("dead-end", _where(bot, turn),
                      f"{what} the user has nothing to tap and no call to action", walk.path)
    limits = profile_for(channel)
    for raw in turn.raw:
        place = _place_of(raw, places)
        where = place.path if place is not None else _where(bot, turn)
        buttons = list(raw.get("buttons") or [])
        quick = list(raw.get("quick_replies") or [])
        text = str(raw.get("text") or "")
        if limits.max_buttons is not None and len(buttons) > limits.max_buttons:
            # At the first button past the limit, as lint reports it.
            at = (*where, "buttons", limits.max_buttons) if place is not None else where
            found.add("too-many-buttons", at, f"a reply with {len(buttons)} buttons: "
                      f"{channel} shows {limits.max_buttons}", walk.path, channel)
        if quick and limits.max_quick_replies == 0:
            at = (*where, "quick_replies") if place is not None else where
            found.add("quick-replies-as-options", at, f"{len(quick)} quick replies sent as "
                      f"numbered options: {channel} has none", walk.path, channel)
        elif limits.max_quick_replies is not None and len(quick) > limits.max_quick_replies:
            at = (*where, "quick_replies", limits.max_quick_replies) if place is not None \
                else where
            found.add("too-many-quick-replies", at, f"a reply with {len(quick)} quick "
                      f"replies: {channel} shows {limits.max_quick_replies}", walk.path, channel)
        if limits.max_text is not None and len(text) > limits.max_text:
            found.add("text-too-long", where, f"a reply of {len(text):,} characters: {channel} "
                      f"takes {limits.max_text:,}", walk.path, channel)


def _loop_start(bot: Bot, cycle: list[str]) -> DocumentPath | None:
    """The step that took the looping turn from its first module to the next."""
    if len(cycle) < 2:
        return None
    return next((e.path for e in edges(bot) if e.source == cycle[0] and e.target == cycle[1]),
                None)


def _where(bot: Bot, turn: Turn) -> DocumentPath:
    if turn.last_step is None:
        return ("bot", "fallback") if turn.fallback else ("modules",)
    module, index = turn.last_step
    return ("modules", module, "steps", index, step_kind(bot.modules[module].steps[index]))


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def _place_of(raw: dict[str, Any], places: list[Place]) -> Place | None:
    """The message of the bot ``raw`` was rendered from, when one fits."""
    def keys(items: Any) -> list[tuple[Any, Any]]:
        return [(b.get("payload"), b.get("url")) for b in items or []]

    for place in places:
        message = place.message
        if keys(raw.get("buttons")) != [(b.payload, b.url) for b in message.buttons]:
            continue
        if keys(raw.get("quick_replies")) != [(q.payload, None) for q in message.quick_replies]:
            continue
        pattern = re.sub(r"\\\{\\\{.*?\\\}\\\}", ".*", re.escape(message.text))
        if re.fullmatch(pattern, str(raw.get("text") or ""), re.S):
            return place
    return None
