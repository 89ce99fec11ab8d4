"""``audience simulate``: exit status 0/1/2, the summary, the JUnit and JSON reports."""

from __future__ import annotations

import json
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from plugin.cli.main import main

from .conftest import INVALID, SCENARIOS


@pytest.fixture
def database(mongo_uri: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The session's database server, a throw-away database name."""
    monkeypatch.setenv("MONGODB_URI", mongo_uri)
    return ["--db-name", f"sim_cli_{uuid.uuid4().hex[:8]}"]


def test_a_passing_suite_exits_0(database: list[str], tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    junit, report = tmp_path / "junit.xml", tmp_path / "report.json"
    status = main(["simulate", str(SCENARIOS / "right.yaml"), "--concurrency", "2",
                   "--junit", str(junit), "--json", str(report), *database])
    out, err = capsys.readouterr()
    assert status == 0, out + err
    assert "2 passed, 0 failed" in out
    assert "[##############################] 2/2 scenarios, 0 failed" in err
    root = ET.parse(junit).getroot()
    assert root.tag == "testsuites" and root.get("tests") == "2" and root.get("failures") == "0"
    cases = root.findall("testsuite/testcase")
    assert [c.get("name") for c in cases] == ["every kind holds [web]",
                                              "every kind holds [whatsapp]"]
    assert json.loads(report.read_text())["passed"] == 2


def test_a_failing_suite_exits_1_with_valid_junit(database: list[str], tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    junit = tmp_path / "junit.xml"
    status = main(["simulate", str(SCENARIOS / "wrong.yaml"), "--channel", "web",
                   "--concurrency", "10", "--junit", str(junit), *database])
    out, _ = capsys.readouterr()
    assert status == 1
    assert "0 passed, 25 failed" in out
    assert "step 1 (say 'hi'): text\n  expected: a reply 'Hello there'" in out
    root = ET.parse(junit).getroot()
    failures = root.findall("testsuite/testcase/failure")
    assert len(failures) == 25 and root.get("failures") == "25"
    assert all(f.get("message") and f.text and "timeline: bot" in f.text for f in failures)


def test_an_invalid_scenario_file_exits_2_naming_file_path_and_reason(
        capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["simulate", str(INVALID / "unknown_key.yaml"), str(INVALID / "no_bot.yaml")])
    _, err = capsys.readouterr()
    assert status == 2
    assert f"{INVALID / 'unknown_key.yaml'}:7: scenarios/0/steps/0/expect/txet: unknown key" in err
    assert f"{INVALID / 'no_bot.yaml'}:1: bot: cannot read the bot file" in err


def test_no_scenarios_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", str(tmp_path)]) == 2
    assert "no scenarios found" in capsys.readouterr().err


def test_the_example_suites_pass(database: list[str],
                                 capsys: pytest.CaptureFixture[str]) -> None:
    examples = Path(__file__).resolve().parents[2] / "scenarios"
    status = main(["simulate", str(examples), "--concurrency", "8", *database])
    out, err = capsys.readouterr()
    assert status == 0, out + err
    assert " 0 failed" in out


def test_the_help_says_runs_are_in_memory_unless_a_data_dir_is_given(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "1000")  # one line per option: no word broken at a hyphen
    assert main(["simulate", "--help"]) == 0
    said = " ".join(capsys.readouterr().out.split())
    assert "--data-dir DATA_DIR keep in-process runs in the embedded database in this " \
           "directory (by default they run in a throw-away in-memory one" in said
    assert "(default .audience-data;" not in said
    assert main(["query", "--help"]) == 0
    assert "(default .audience-data;" in " ".join(capsys.readouterr().out.split())
