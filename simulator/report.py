"""Reporting a suite: the plain-text progress bar, the summary table, the
failure details, JUnit XML (for CI) and JSON. Pure formatting; the only I/O
is writing to the streams and files it is given."""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TextIO

from .runner import Outcome, RunResult, SuiteResult, describe_transcript

__all__ = ["ProgressBar", "summary_table", "failure_details", "write_junit", "write_json"]

_BAR_WIDTH = 30


class ProgressBar:
    """``[#####.....] 12/40 scenarios, 1 failed`` redrawn in place on ``stream``."""

    def __init__(self, total: int, stream: TextIO | None = None) -> None:
        self.total = total
        self.done = 0
        self.failed = 0
        self.stream = stream if stream is not None else sys.stderr
        self._interactive = self.stream.isatty()

    def update(self, result: RunResult) -> None:
        self.done += 1
        self.failed += result.outcome is not Outcome.PASSED
        filled = _BAR_WIDTH * self.done // max(self.total, 1)
        line = (f"[{'#' * filled}{'.' * (_BAR_WIDTH - filled)}] {self.done}/{self.total} "
                f"scenarios, {self.failed} failed")
        # A terminal gets one line redrawn; a CI log gets one line per scenario.
        if self._interactive:
            self.stream.write("\r" + line)
            if self.done == self.total:
                self.stream.write("\n")
        else:
            self.stream.write(f"{line}  {result.outcome}: {result.title}\n")
        self.stream.flush()


def summary_table(suite: SuiteResult) -> str:
    """One row per scenario run, then the totals."""
    header = ["result", "scenario", "channel", "steps", "seconds", "file"]
    rows = [[str(r.outcome).upper(), r.scenario, r.channel, f"{r.steps_run}/{r.steps_total}",
             f"{r.seconds:.2f}", f"{r.source}:{r.line}"] for r in suite.results]
    widths = [max([len(h)] + [len(row[i]) for row in rows]) for i, h in enumerate(header)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(header, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
              for row in rows]
    passed = len(suite.results) - len(suite.failed) - len(suite.flaky)
    flaky = f", {len(suite.flaky)} flaky" if suite.flaky else ""
    lines.append(f"{passed} passed, {len(suite.failed)} failed{flaky}, {suite.steps} steps "
                 f"in {suite.seconds:.2f}s")
    return "\n".join(lines)


def failure_details(suite: SuiteResult) -> str:
    """Each failed run, then each flaky one, with the step, what was expected and
    what came, and the conversation."""
    return "\n\n".join(r.describe_failure() for r in [*suite.failed, *suite.flaky])


def write_junit(suite: SuiteResult, path: Path) -> None:
    """JUnit XML: one testsuite per scenario file, one testcase per scenario run."""
    root = ET.Element("testsuites", name="audience simulate", tests=str(len(suite.results)),
                      flaky=str(len(suite.flaky)),
                      failures=str(sum(r.outcome is Outcome.FAILED for r in suite.results)),
                      errors=str(sum(r.outcome is Outcome.ERROR for r in suite.results)),
                      time=f"{suite.seconds:.3f}")
    by_file: dict[str, list[RunResult]] = {}
    for result in suite.results:
        by_file.setdefault(result.source, []).append(result)
    for source, results in by_file.items():
        node = ET.SubElement(
            root, "testsuite", name=source, tests=str(len(results)),
            failures=str(sum(r.outcome is Outcome.FAILED for r in results)),
            errors=str(sum(r.outcome is Outcome.ERROR for r in results)),
            time=f"{sum(r.seconds for r in results):.3f}")
        for result in results:
            case = ET.SubElement(node, "testcase", classname=source, name=result.title,
                                 time=f"{result.seconds:.3f}", file=source, line=str(result.line))
            if result.outcome is Outcome.FLAKY:
                # Surefire's rerun format: the case passed; each failed attempt is kept.
                for attempt in result.attempts:
                    if attempt.failure is not None:
                        element = ET.SubElement(
                            case, "flakyFailure" if attempt.outcome is Outcome.FAILED
                            else "flakyError", type=attempt.failure.what,
                            message=f"{attempt.failure.what}: expected "
                                    f"{attempt.failure.expected}")
                        ET.SubElement(element, "stackTrace").text = attempt.describe_failure()
                ET.SubElement(case, "properties").append(
                    ET.Element("property", name="flaky", value=_attempts(result)))
            elif result.failure is not None:
                tag = "failure" if result.outcome is Outcome.FAILED else "error"
                failure = result.failure
                element = ET.SubElement(case, tag, type=failure.what,
                                        message=f"{failure.what}: expected {failure.expected}")
                element.text = result.describe_failure()
            out = f"bot {result.bot_id} user {result.user_id} target {result.target}"
            if result.transcript:
                out += "\n" + describe_transcript(result.transcript)
            ET.SubElement(case, "system-out").text = out
    ET.indent(root)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


def _attempts(result: RunResult) -> str:
    failed = sum(a.outcome is not Outcome.PASSED for a in result.attempts)
    return f"{failed} of {len(result.attempts)} attempts failed"


def write_json(suite: SuiteResult, path: Path) -> None:
    body = {"seconds": round(suite.seconds, 4),
            "passed": len(suite.results) - len(suite.failed) - len(suite.flaky),
            "failed": len(suite.failed), "flaky": len(suite.flaky), "steps": suite.steps,
            "results": [r.to_dict() for r in suite.results]}
    path.write_text(json.dumps(body, indent=2), "utf-8")
