"""Coverage of a Rasa bot: what its captured timeline shows (forms entered,
slots set) against the list the user gives or the bot's domain.yml, each
missing name at its line in that file."""

from __future__ import annotations

from pathlib import Path

from plugin.db.database import Database
from simulator.coverage.collector import Coverage
from simulator.coverage.replay import read_expected
from simulator.coverage.report import text_report
from simulator.loader import parse_scenarios
from simulator.model import RasaTarget
from simulator.runner import Simulator

from .test_rest_target import SUITE

DOMAIN = """\
version: "3.1"
intents: [greet, inform]
slots:
  email: {type: text}
  phone: {type: text}
forms:
  order_form: {required_slots: [email]}
  checkout_form: {required_slots: [phone]}
actions:
  - action_check_order
"""


async def run(db: Database, url: str, bot_id: str, tmp_path: Path,
              coverage: Coverage) -> None:
    scenarios = parse_scenarios(SUITE, tmp_path / "rasa.yaml", target=RasaTarget(url, bot_id))
    async with Simulator(db=db, watch=coverage) as simulator:
        suite = await simulator.run_all(scenarios)
    assert not suite.failed, suite.failed[0].describe_failure()


async def test_a_rasa_bot_measured_against_its_domain(
        rasa: str, db: Database, bot_id: str, tmp_path: Path) -> None:
    domain = tmp_path / "domain.yml"
    domain.write_text(DOMAIN)
    coverage = Coverage(read_expected(domain))
    await run(db, rasa, bot_id, tmp_path, coverage)
    (section,) = coverage.report().sections
    assert section.title == "rasa" and section.measured
    assert section.covered("web") >= {("modules", "order_form"), ("slots", "email")}
    assert [(i.kind, i.label, i.line) for i in section.uncovered()] == [
        ("modules", "module 'checkout_form'", 8),
        ("actions", "action 'action_check_order'", 10),
        ("slots", "slot 'phone'", 5)]
    assert section.ratio() == (2, 5)
    assert f"{domain}:8: modules: module 'checkout_form'" in text_report(coverage.report())


async def test_without_a_list_the_report_shows_what_was_seen(
        rasa: str, db: Database, bot_id: str, tmp_path: Path) -> None:
    coverage = Coverage()
    await run(db, rasa, bot_id, tmp_path, coverage)
    (section,) = coverage.report().sections
    assert not section.measured
    assert {i.label for i in section.items} == {"module 'order_form'", "slot 'email'"}
    assert "no list to measure against (--coverage-expect FILE" in text_report(
        coverage.report())


def test_a_plain_list_works_like_a_domain(tmp_path: Path) -> None:
    listed = tmp_path / "expect.yaml"
    listed.write_text("modules: [order_form]\nactions: [action_a, action_b]\napis: [crm]\n")
    expected = read_expected(listed)
    assert [(i.kind, i.key, i.line) for i in expected.items] == [
        ("modules", ("modules", "order_form"), 1), ("actions", ("actions", "action_a"), 2),
        ("actions", ("actions", "action_b"), 2), ("apis", ("apis", "crm"), 3)]


def test_a_list_naming_nothing_is_refused(tmp_path: Path) -> None:
    import pytest

    from plugin.core.errors import InvalidRequest

    empty = tmp_path / "expect.yaml"
    empty.write_text("intents: [greet]\n")
    with pytest.raises(InvalidRequest, match="lists no modules, forms, actions, slots or apis"):
        read_expected(empty)
