"""The coverage report as text, JSON and HTML: figures per bot, channel and
kind, and every item not covered at its file:line."""

from __future__ import annotations

import json
from pathlib import Path

from plugin.db.database import Database
from simulator.coverage.html import write_html
from simulator.coverage.items import Item, Kind
from simulator.coverage.report import (
    CoverageReport,
    Section,
    json_report,
    percent,
    shown_file,
    text_report,
)

from .conftest import simulate

SCENARIO = """\
- name: thirty
  steps:
    - say: menu
    - tap: AGE
    - say: "30"
"""


def line_of(bot: Path, text: str) -> int:
    return next(n for n, line in enumerate(bot.read_text().splitlines(), 1) if text in line)


def test_percentages_round_down() -> None:
    assert percent(8996, 10000) == 89.9 and percent(9, 10) == 90.0
    assert percent(0, 0) == 100.0 and percent(0, 7) == 0.0


async def test_the_text_report_lists_what_was_missed_at_its_line(db: Database,
                                                                cov_bot: Path) -> None:
    _, report = await simulate(db, cov_bot, SCENARIO)
    text = text_report(report)
    (section,) = report.sections
    covered, total = section.ratio()
    file = shown_file(str(cov_bot))
    assert text.startswith(f"coverage of {file} (cov): {percent(covered, total):.1f}% "
                           f"({covered}/{total}); by channel: web ")
    assert "\n  modules 2/6  steps " in text
    ask = line_of(cov_bot, "- ask: {property: age")
    assert f"    {file}:{ask}: give-ups: age step 1: 'age' refused 2 times (-> the fallback)" \
        in text
    thanks = line_of(cov_bot, "- say: Thanks")
    assert (f"    {file}:{thanks}: ctas: age: the flow ends on a call to action "
            "(reached 1 time without one)") in text
    crm = line_of(cov_bot, "- call: {api: crm")
    assert f"    {file}:{crm}: apis: crm step 1: crm failed with timeout (-> crm_slow)" in text
    assert text.endswith(f"coverage: {percent(covered, total):.1f}% of {total} items "
                         f"({covered} covered; cov {percent(covered, total):.1f}%)")


async def test_json_and_html(db: Database, cov_bot: Path, tmp_path: Path) -> None:
    _, report = await simulate(db, cov_bot, SCENARIO)
    body = json.loads(json.dumps(json_report(report)))
    (bot,) = body["bots"]
    assert bot["file"] == str(cov_bot) and bot["kinds"]["modules"] == {"covered": 2, "total": 6}
    items = {i["label"]: i for i in bot["items"]}
    assert items["module 'age' entered"]["covered_on"] == ["web"]
    assert items["module 'crm' entered"]["covered_on"] == []
    assert items["age: the flow ends on a call to action"]["reached_without"] == 1
    index = write_html(report, tmp_path / "html")
    page = (tmp_path / "html" / "01-cov.html").read_text()
    assert "01-cov.html" in index.read_text()
    assert "<tr class='miss'><td class=ln>" in page and "<tr class='hit'><td class=ln>" in page
    assert "✗ give-ups: age step 1: &#x27;age&#x27; refused 2 times" in page


def test_html_escapes_what_the_bot_file_says(tmp_path: Path) -> None:
    bot = tmp_path / "x.yaml"
    bot.write_text("name: <script>alert(1)</script>\n")
    item = Item(Kind.MODULE, ("module", "m"), "module '<b>' entered", ("modules", "m"), 1)
    write_html(CoverageReport((Section(str(bot), "<i>", (item,), {"web": frozenset()}),)),
               tmp_path / "out")
    page = (tmp_path / "out" / "01-x.html").read_text()
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "module &#x27;&lt;b&gt;&#x27; entered" in page and "<i>" not in page
