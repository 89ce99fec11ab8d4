"""``tap: {title, earlier: true}``: a button of an earlier message, tapped
mid-question, starts its flow (the runtime's rule, runtime/routing.py)."""

from __future__ import annotations

from simulator.loader import parse_scenarios
from simulator.runner import Outcome, Simulator

from .conftest import EXAMPLES

HERE = EXAMPLES / "suites" / "here.yaml"

SUITE = """
bot: ../bots/leads.yaml
scenarios:
  - name: sales mid-question
    channel: whatsapp
    steps:
      - say: hi
      - say: Ada
      - tap: Get a quote
      - tap: {title: Talk to sales, earlier: true}
        expect: {assigned_to: human, not_set: [email]}
  - name: a title no message offered
    steps:
      - say: hi
      - tap: {title: Pricing, earlier: true}
"""


async def test_an_earlier_message_button_is_tapped_by_title(simulator: Simulator) -> None:
    first, missing = parse_scenarios(SUITE, HERE)
    assert first.steps[3].earlier and not first.steps[2].earlier
    assert first.steps[3].describe() == "tap 'Talk to sales' on an earlier message"
    suite = await simulator.run_all([first, missing])
    passed, failed = suite.results
    assert passed.outcome is Outcome.PASSED, passed.describe_failure()
    assert failed.outcome is Outcome.FAILED and failed.failure is not None
    assert failed.failure.step_text == "tap 'Pricing' on an earlier message"
    assert failed.failure.expected == "a button, quick reply or option 'Pricing' in any message"
