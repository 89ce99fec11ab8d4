"""A small bot with one of everything coverage counts, and a way to run
scenario text against it on a real simulator (in-process runtime, the
session's database, loopback stubs) with coverage followed."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from plugin.db.database import Database
from simulator.coverage.collector import Coverage
from simulator.coverage.report import CoverageReport
from simulator.loader import parse_scenarios
from simulator.runner import Simulator, SuiteResult

BOT = """\
bot:
  id: cov
  name: Coverage
  fallback: {text: "Sorry?", quick_replies: [{title: Menu, payload: MENU}]}
properties:
  age: {type: number, validation: {min: 18}, error_message: "18 or more, please."}
  plan: {type: text}
apis:
  crm: {method: GET, url: "${API_BASE}/crm", timeout: 0.3}
modules:
  menu:
    default: true
    start: {keywords: [menu], patterns: ["show me .*"], payloads: [MENU]}
    steps:
      - say: {text: Pick, quick_replies: [{title: Age, payload: AGE}, {title: CRM, payload: CRM}]}
  age:
    start: {payloads: [AGE]}
    steps:
      - ask: {property: age, prompt: "How old?", retries: 1}
      - branch:
          - label: senior
            when: {conditions: [{property: age, operator: gte, value: 65}]}
            goto: senior
      - say: Thanks
  senior:
    steps:
      - goto: menu_end
  menu_end:
    steps:
      - say: {text: "Done", buttons: [{title: Again, payload: MENU}]}
  crm:
    start: {payloads: [CRM]}
    steps:
      - call: {api: crm, save: {plan: plan}, on_failure: {timeout: crm_slow}}
      - say: {text: "Plan {{plan}}", buttons: [{title: Again, payload: MENU}]}
  crm_slow:
    steps:
      - handover: {reason: slow}
faqs:
  - name: hours
    keywords: [hours]
    answer: "9 to 5"
"""


@pytest.fixture
def cov_bot(tmp_path: Path) -> Path:
    path = tmp_path / "cov.yaml"
    path.write_text(BOT)
    return path


async def simulate(db: Database, bot: Path, scenarios: str,
                   coverage: Coverage | None = None) -> tuple[SuiteResult, CoverageReport]:
    """Run ``scenarios`` (the YAML of a scenario list) against ``bot`` in-process."""
    coverage = coverage if coverage is not None else Coverage()
    text = f"bot: {bot}\nscenarios:\n" + textwrap.indent(textwrap.dedent(scenarios), "  ")
    loaded = parse_scenarios(text, bot.parent / "suite.yaml")
    async with Simulator(db=db, watch=coverage) as simulator:
        suite = await simulator.run_all(loaded, concurrency=2)
    assert not suite.failed, [r.describe_failure() for r in suite.failed]
    return suite, coverage.report()
