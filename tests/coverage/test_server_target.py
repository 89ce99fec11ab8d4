"""Coverage of a bot deployed on a running Audience server: read back from
its captured timeline, steps and flow ends marked as not observable there."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from plugin.db.database import Database
from simulator.coverage.collector import Coverage
from simulator.coverage.items import (
    api_key,
    arm_key,
    faq_key,
    invalid_key,
    module_key,
    start_key,
    tap_key,
)
from simulator.coverage.replay import UNOBSERVABLE
from simulator.coverage.report import text_report
from simulator.loader import parse_scenarios
from simulator.model import AudienceTarget
from simulator.runner import Simulator
from tests.conftest import ADMIN_KEY
from tests.loopback import serving


async def test_a_server_targets_timeline_shows_what_was_covered(
        db: Database, cov_bot: Path, app_server: tuple[web.Application, str]) -> None:
    _, url = app_server
    text = f"""\
bot: {cov_bot}
scenarios:
  - name: over the API
    apis: {{crm: {{fail: timeout}}}}
    steps:
      - say: hello
      - tap: Age
      - say: "12"
      - say: hours
      - say: "70"
      - tap: Again
      - tap: CRM
"""
    coverage = Coverage()
    async with Simulator(db=db, audience=AudienceTarget(url, ADMIN_KEY),
                         watch=coverage) as simulator:
        suite = await simulator.run_all(parse_scenarios(text, cov_bot.parent / "s.yaml"))
    assert not suite.failed, suite.failed[0].describe_failure()
    assert suite.results[0].target == "audience"
    (section,) = coverage.report().sections
    assert section.unobservable == UNOBSERVABLE
    covered = section.covered("web")
    menu_qr = ("modules", "menu", "steps", 0, "say", "quick_replies")
    assert {module_key("menu"), start_key("menu", "default"), tap_key((*menu_qr, 0)),
            start_key("age", "payload", "AGE"), invalid_key("age"), faq_key("hours"),
            arm_key("age", 1, 0), module_key("menu_end"), start_key("menu", "payload", "MENU"),
            api_key("crm", 0, "timeout"), module_key("crm_slow")} <= covered
    assert not {i.key for i in section.counted if i.kind in UNOBSERVABLE}


async def test_a_webhook_target_adds_nothing_and_says_so(db: Database, tmp_path: Path) -> None:
    async def answer(request: web.Request) -> web.Response:
        return web.json_response({"replies": [{"text": "hello"}]})

    coverage = Coverage()
    async with serving("/hook", answer) as url:
        text = f"""\
target: {{webhook: {{url: "{url}"}}}}
scenarios:
  - name: hello
    steps:
      - {{say: hi, expect: {{text: hello}}}}
"""
        async with Simulator(db=db, watch=coverage) as simulator:
            suite = await simulator.run_all(parse_scenarios(text, tmp_path / "s.yaml"))
    assert not suite.failed
    report = coverage.report()
    assert report.sections == ()
    assert report.notes == ("webhook target: nothing is captured there, so its runs add no "
                            "coverage",)
    assert "note: webhook target: nothing is captured there" in text_report(report)
