"""A crawl written as a regression suite: each path a scenario file in the
simulator's format, its API stubs as the path had them and, after each step,
the expectations the crawl saw hold (the last reply's text, what it offers,
the module, the calls and how they ended, refused answers, branches, FAQs,
a hand-over).

Which paths: by default the fewest that together cover everything the crawl
covered (greedy, in crawl order) plus one example of each finding; every path
the crawl ended with ``all_paths``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path as FilePath
from typing import Any

import yaml

from ..assertions import offered
from ..coverage.items import Key
from ..model import ApiStub
from .explore import Crawl
from .findings import CrawlFinding
from .walk import Turn, Walk

__all__ = ["chosen", "scenario_document", "write_scenarios"]


def chosen(crawl: Crawl, found: Iterable[CrawlFinding], *, all_paths: bool = False
           ) -> list[Walk]:
    """The walks to write, in crawl order."""
    leaves = list(crawl.leaves)
    if all_paths:
        return leaves
    picked: dict[int, Walk] = {}
    covered: set[Key] = set()
    remaining = list(enumerate(leaves))
    while remaining:
        best = max(remaining, key=lambda pair: (len(pair[1].hits - covered), -pair[0]))
        if not best[1].hits - covered:
            break
        picked[best[0]] = best[1]
        covered |= best[1].hits
        remaining = [pair for pair in remaining if pair[0] != best[0]]
    for finding in found:
        example = finding.example
        for index, walk in enumerate(leaves):
            if _prefix(example.inputs, walk.path.inputs) and all(
                    pair in walk.path.apis for pair in example.apis):
                picked.setdefault(index, walk)
                break
    return [walk for _, walk in sorted(picked.items())]


def _prefix(short: tuple[Any, ...], long: tuple[Any, ...]) -> bool:
    return long[:len(short)] == short


def _stub(stub: ApiStub) -> Any:
    if stub.fail is not None:
        return {"fail": str(stub.fail)}
    if stub.text is not None:
        return {"status": stub.status, "text": stub.text}
    body = {} if stub.body is None else stub.body
    return {"body": body} if stub.status == 200 else {"status": stub.status, "body": body}


def _expect(turn: Turn) -> dict[str, Any]:
    expect: dict[str, Any] = {}
    if turn.replies:
        text = str(turn.replies[-1].get("text") or "")
        if "crawler-" not in text:  # the crawler's own user id changes from run to run
            expect["text"] = text
        expect["offers"] = [str(o.get("title")) for o in offered(turn.replies).any]
    if turn.module is not None:
        expect["module"] = turn.module
    calls: dict[str, Any] = {}
    for api, ok, error in turn.calls:
        calls[api] = {"ok": True} if ok else {"failed": error}
    if calls:
        expect["apis"] = calls
    if turn.rejected:
        expect["rejected"] = sorted(set(turn.rejected))
    if turn.branches:
        expect["branch"] = turn.branches[0]
    if turn.faqs:
        expect["faq"] = turn.faqs[0]
    if turn.handover:
        expect["assigned_to"] = "human"
    return expect


def scenario_document(crawl: Crawl, walk: Walk, bot_ref: str, number: int) -> dict[str, Any]:
    steps = []
    for turn in walk.turns:
        step: dict[str, Any] = {turn.input.kind: turn.input.value}
        expect = _expect(turn)
        if expect:
            step["expect"] = expect
        steps.append(step)
    document: dict[str, Any] = {"bot": bot_ref, "channel": crawl.channel}
    called = {api for turn in walk.turns for api, _, _ in turn.calls}
    apis = {api: _stub(outcome.stub) for api, outcome in walk.path.apis if api in called}
    if apis:
        document["apis"] = apis
    name = f"crawl path {number}: {walk.path.describe()}"
    document["scenarios"] = [{"name": name[:300], "steps": steps}]
    return document


def write_scenarios(crawl: Crawl, walks: list[Walk], out: FilePath,
                    bot_file: FilePath) -> list[FilePath]:
    """Write one scenario file per walk into ``out`` (made if missing); their paths."""
    out.mkdir(parents=True, exist_ok=True)
    bot_ref = os.path.relpath(bot_file.resolve(), out.resolve())
    written = []
    for number, walk in enumerate(walks, 1):
        file = out / f"{crawl.channel}-path-{number:04d}.yaml"
        why = "; ".join(f"{i.describe()}: {i.why}" for i in walk.path.inputs).replace("\n", " ")
        header = (f"# Written by audience crawl ({crawl.bot.id} on {crawl.channel}, seed "
                  f"{crawl.seed}): path {number} of {len(walks)}.\n# {why}\n")
        body = yaml.safe_dump(scenario_document(crawl, walk, bot_ref, number),
                              sort_keys=False, allow_unicode=True, width=100)
        file.write_text(header + body, "utf-8")
        written.append(file)
    return written
