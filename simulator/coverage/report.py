"""A coverage report: per bot (a :class:`Section`) and per channel, how many
items were covered, by kind, and each item not covered with its ``file:line``;
as text for the terminal and as JSON. The HTML pages are
:mod:`simulator.coverage.html`'s.

Percentages are of the items that could be observed on the target (a
timeline shows no steps); a section's total counts an item covered when any
channel covered it. Pure formatting.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .items import Item, Key, Kind

__all__ = ["Section", "CoverageReport", "percent", "shown_file", "text_report", "json_report"]


def percent(covered: int, total: int) -> float:
    """``covered`` of ``total`` in percent, rounded down to a tenth (90 % is never
    shown for 89.96 %); 100 for nothing to cover."""
    return 100.0 if total == 0 else math.floor(1000 * covered / total) / 10


def shown_file(file: str) -> str:
    """``file`` relative to the working directory when it is under it."""
    try:
        relative = os.path.relpath(file)
    except ValueError:
        return file
    return file if relative.startswith("..") else relative


@dataclass(frozen=True, slots=True)
class Section:
    """One bot (or a Rasa target's list): its items and what each channel covered.

    ``unobservable``: kinds the target gives no sign of (left out of the
    figures); ``misses``: item key -> times a run reached it without covering
    it (a flow that ended without a call to action).
    """

    file: str
    title: str
    items: tuple[Item, ...]
    hits: Mapping[str, frozenset[Key]]
    unobservable: frozenset[str] = frozenset()
    misses: Mapping[Key, int] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    measured: bool = True  # False: no list to measure against, only what was seen

    @property
    def counted(self) -> list[Item]:
        return [i for i in self.items if i.kind not in self.unobservable]

    @property
    def channels(self) -> list[str]:
        return sorted(self.hits)

    def covered(self, channel: str | None = None) -> set[Key]:
        if channel is not None:
            return set(self.hits.get(channel, ()))
        return set().union(*self.hits.values()) if self.hits else set()

    def ratio(self, channel: str | None = None, kind: str | None = None) -> tuple[int, int]:
        covered = self.covered(channel)
        items = [i for i in self.counted if kind is None or i.kind == kind]
        return sum(1 for i in items if i.key in covered), len(items)

    def uncovered(self) -> list[Item]:
        covered = self.covered()
        return [i for i in self.counted if i.key not in covered]

    def kinds(self) -> list[str]:
        """The kinds of the counted items, in :class:`~simulator.coverage.items.Kind` order."""
        order = {str(k): n for n, k in enumerate(Kind)}
        found = dict.fromkeys(i.kind for i in self.counted)
        return sorted(found, key=lambda k: order.get(k, len(order)))


@dataclass(frozen=True, slots=True)
class CoverageReport:
    sections: tuple[Section, ...]
    notes: tuple[str, ...] = ()  # about runs no section holds (a webhook target)

    def ratio(self) -> tuple[int, int]:
        pairs = [s.ratio() for s in self.sections]
        return sum(c for c, _ in pairs), sum(t for _, t in pairs)

    @property
    def percent(self) -> float:
        return percent(*self.ratio())

    def below(self, threshold: float) -> bool:
        covered, total = self.ratio()
        return covered * 100 < threshold * total


def text_report(report: CoverageReport) -> str:
    """The terminal report: a block per bot, then one summary line."""
    blocks = [_section_text(section) for section in report.sections]
    blocks += [f"note: {note}" for note in report.notes]
    covered, total = report.ratio()
    parts = ", ".join(f"{s.title} {percent(*s.ratio()):.1f}%" for s in report.sections)
    blocks.append(f"coverage: {percent(covered, total):.1f}% of {total} items "
                  f"({covered} covered; {parts})")
    return "\n\n".join(blocks)


def _section_text(section: Section) -> str:
    channels = ", ".join(f"{c} {percent(*section.ratio(c)):.1f}%" for c in section.channels)
    covered, total = section.ratio()
    lines = [f"coverage of {shown_file(section.file)} ({section.title}): "
             f"{percent(covered, total):.1f}% ({covered}/{total})"
             + (f"; by channel: {channels}" if channels else "")]
    lines.append("  " + "  ".join(f"{k} {'/'.join(map(str, section.ratio(kind=k)))}"
                                  for k in section.kinds()))
    if section.unobservable:
        lines.append(f"  not observable on this target: {', '.join(sorted(section.unobservable))}")
    lines += [f"  note: {note}" for note in section.notes]
    missing = section.uncovered()
    if missing:
        lines.append("  not covered:")
        for item in missing:
            where = f"{shown_file(section.file)}:{item.line}" if item.line else section.file
            lines.append(f"    {where}: {item.kind}: {item.label}" + _missed(section, item))
    return "\n".join(lines)


def _missed(section: Section, item: Item) -> str:
    times = section.misses.get(item.key, 0)
    return f" (reached {times} time{'s' * (times != 1)} without one)" if times else ""


def json_report(report: CoverageReport) -> dict[str, Any]:
    covered, total = report.ratio()
    return {
        "percent": percent(covered, total), "covered": covered, "total": total,
        "bots": [{
            "file": s.file, "title": s.title, "percent": percent(*s.ratio()),
            "covered": s.ratio()[0], "total": s.ratio()[1],
            "channels": {c: {"percent": percent(*s.ratio(c)), "covered": s.ratio(c)[0]}
                         for c in s.channels},
            "kinds": {k: dict(zip(("covered", "total"), s.ratio(kind=k), strict=True))
                      for k in s.kinds()},
            "unobservable": sorted(s.unobservable),
            "notes": list(s.notes),
            "items": [{"kind": i.kind, "label": i.label, "line": i.line,
                       "path": "/".join(str(p) for p in i.path),
                       "observable": i.kind not in s.unobservable,
                       "covered_on": [c for c in s.channels if i.key in s.hits[c]],
                       "reached_without": s.misses.get(i.key, 0)} for i in s.items],
        } for s in report.sections],
    }
