"""Each expectation kind passes when it should, and fails with a readable
message (what was expected, what came back, where) when it should not."""

from __future__ import annotations

from plugin.audience.profile_store import ProfileStore
from plugin.capture.store import CaptureStore
from simulator.loader import load_scenarios
from simulator.runner import Outcome, RunResult, Simulator

from .conftest import SCENARIOS

# scenario -> (the failed check, a fragment of what the report must say)
WRONG = {
    "wrong text": ("text", "expected: a reply 'Hello there'"),
    "wrong contains": ("contains", "a reply containing 'Goodbye'"),
    "wrong regex": ("regex", "a reply matching /^Bye/"),
    "wrong message count": ("messages", "expected: 3 message(s)"),
    "wrong buttons": ("buttons", "got: ['Book a demo', 'Talk to sales', 'See pricing']"),
    "wrong button payload": ("buttons", "'payload': 'DEMO'"),
    "wrong quick replies": ("quick_replies",
                            "got: ['Get a quote', 'Book a demo', 'Talk to sales']"),
    "wrong options": ("options", "got: ['Get a quote', 'Book a demo', 'Talk to sales']"),
    "wrong cards": ("cards", "got: ['Acme Cloud']"),
    "wrong no fallback": ("no_fallback", "the bot fell back on 'purple elephants'"),
    "wrong property value": ("properties", "property 'name' = 'Bob'"),
    "wrong property set": ("set", "property 'name' set"),
    "wrong property not set": ("not_set", "got: it is 'Ada'"),
    "wrong rejected": ("rejected", "got: name='Ada'"),
    "wrong module": ("module", "got: 'welcome'"),
    "wrong api status": ("apis", "got: status 200, ok"),
    "wrong api failure reason": ("apis", "got: status 503, failed with 'status'"),
    "wrong api not called": ("apis", "got: it was not called"),
    "wrong branch": ("branch", "branches taken: ['else']"),
    "wrong faq": ("faq", "FAQs answered: ['privacy']"),
    "wrong assigned to": ("assigned_to", "got: 'bot'"),
    "wrong ends with cta": ("ends_with_cta", "What's your name?"),
    "wrong tap": ("tap", "got: offered: ['Learn more']"),
    "wrong tap on a link": ("tap", "it is a link to 'https://acme.example/pricing'"),
    "wrong step timeout": ("timeout", "step 2 (say 'ada@example.com') to finish within 0.3s "
                                       "(the scenario's 'timeout', line 131)"),
}


async def test_every_expectation_kind_holds(simulator: Simulator) -> None:
    suite = await simulator.run_all(load_scenarios(SCENARIOS / "right.yaml"))
    assert [r.outcome for r in suite.results] == [Outcome.PASSED, Outcome.PASSED], (
        "\n".join(r.describe_failure() for r in suite.failed))


async def test_every_expectation_kind_fails_readably(simulator: Simulator) -> None:
    scenarios = load_scenarios(SCENARIOS / "wrong.yaml")
    assert {s.name for s in scenarios} == set(WRONG)
    suite = await simulator.run_all(scenarios, concurrency=8)
    for result in suite.results:
        what, fragment = WRONG[result.scenario]
        assert result.outcome is Outcome.FAILED, result.scenario
        assert result.failure is not None and result.failure.what == what, result.describe_failure()
        report = result.describe_failure()
        assert fragment in report, report
        assert f"user {result.user_id!r}" in report and "wrong.yaml:" in report


async def test_a_failure_report_names_step_expectation_reply_and_user(
        simulator: Simulator) -> None:
    (scenario,) = [s for s in load_scenarios(SCENARIOS / "wrong.yaml") if s.name == "wrong text"]
    (result,) = (await simulator.run_all([scenario])).results
    assert result.describe_failure() == (
        f"FAILED wrong text [web] ({scenario.source}:11)\n"
        "  step 1 (say 'hi'): text\n"
        "  expected: a reply 'Hello there'\n"
        "  got: \"Hi! I'm Acme's assistant.\" | cards: 'Acme Cloud'\n"
        "       \"What's your name?\"\n"
        f"  timeline: bot 'leads', user {result.user_id!r}\n"
        "  transcript:\n"
        "    user: 'hi'\n"
        "    bot:  \"Hi! I'm Acme's assistant.\" | cards: 'Acme Cloud'\n"
        "    bot:  \"What's your name?\"")


async def test_a_scenario_stops_at_its_first_failure(simulator: Simulator) -> None:
    (scenario,) = [s for s in load_scenarios(SCENARIOS / "wrong.yaml")
                   if s.name == "wrong step timeout"]
    (result,) = (await simulator.run_all([scenario])).results
    assert (result.steps_run, result.steps_total) == (2, 3)


async def test_simulated_users_are_test_users_with_the_whole_run_on_their_timeline(
        simulator: Simulator) -> None:
    suite = await simulator.run_all(load_scenarios(SCENARIOS / "right.yaml"))
    assert simulator.db is not None
    for result in suite.results:
        profile = await ProfileStore.of(simulator.db).get_profile("leads", result.user_id)
        assert profile is not None and profile["test"] is True
        assert profile["attributes"]["price"] == 360
        events, _ = await CaptureStore.of(simulator.db).timeline("leads", result.user_id, limit=500)
        assert events[-1]["data"]["name"] == "simulation"
        assert events[-1]["data"]["scenario"] == "every kind holds"


async def test_concurrency_gives_the_same_results_as_a_serial_run(
        simulator: Simulator) -> None:
    scenarios = [*load_scenarios(SCENARIOS / "wrong.yaml"),
                 *load_scenarios(SCENARIOS / "right.yaml")]
    serial = await simulator.run_all(scenarios, concurrency=1)
    parallel = await simulator.run_all(scenarios, concurrency=12)

    def outcomes(results: list[RunResult]) -> list[tuple[object, ...]]:
        return [(r.scenario, r.channel, r.outcome, r.steps_run,
                 r.failure.what if r.failure else None) for r in results]

    assert outcomes(parallel.results) == outcomes(serial.results)
    assert len({r.user_id for r in parallel.results + serial.results}) == 2 * len(serial.results)
