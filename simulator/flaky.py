"""Finding flaky scenarios: ``--repeat N`` runs each scenario run N times,
``--retries K`` runs a failed one again up to K times.

A run whose attempts disagree is :attr:`~simulator.runner.Outcome.FLAKY`: it
is reported with every attempt and, as its failure, the first failed
attempt's (the step where the verdicts part). A run that failed in every
attempt is FAILED (or ERROR); one that passed in every attempt, PASSED. A
pass after a retry is flaky, never a plain pass. Each attempt has a fresh
run id, so a fresh test user.

Usage::

    suite = await run_repeated(simulator, scenarios, repeat=20, retries=0, concurrency=8)
    print([r.title for r in suite.flaky])
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import replace

from .model import Scenario, ScenarioRun
from .runner import Outcome, ProgressCallback, RunResult, Simulator, SuiteResult

__all__ = ["run_repeated", "verdict"]


def verdict(attempts: Sequence[RunResult]) -> RunResult:
    """One result for a run's attempts (see the module's docstring)."""
    if len(attempts) == 1:
        return attempts[0]
    failed = [a for a in attempts if a.outcome is not Outcome.PASSED]
    if not failed:
        return replace(attempts[-1], attempts=tuple(attempts))
    first = failed[0]
    outcome = first.outcome if len(failed) == len(attempts) else Outcome.FLAKY
    return replace(first, outcome=outcome, attempts=tuple(attempts),
                   seconds=sum(a.seconds for a in attempts))


async def run_repeated(simulator: Simulator, scenarios: Iterable[Scenario], *, repeat: int = 1,
                       retries: int = 0, concurrency: int = 4,
                       progress: ProgressCallback | None = None) -> SuiteResult:
    """Run every scenario run ``repeat`` times, then each one that failed every
    time again, up to ``retries`` times until it passes."""
    started = time.perf_counter()
    runs = [run for scenario in scenarios for run in scenario.runs()]
    copies = [ScenarioRun(run.scenario, run.channel) for run in runs for _ in range(repeat)]
    first = await simulator.run_runs(copies, concurrency=concurrency, progress=progress)
    attempts = [first.results[i * repeat:(i + 1) * repeat] for i in range(len(runs))]
    for _ in range(retries):
        again = [i for i, tried in enumerate(attempts)
                 if all(a.outcome is not Outcome.PASSED for a in tried)]
        if not again:
            break
        retried = await simulator.run_runs(
            [ScenarioRun(runs[i].scenario, runs[i].channel) for i in again],
            concurrency=concurrency, progress=progress)
        for i, result in zip(again, retried.results, strict=True):
            attempts[i] = [*attempts[i], result]
    return SuiteResult([verdict(tried) for tried in attempts], time.perf_counter() - started)
