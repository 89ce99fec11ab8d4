"""A failed run's report keeps its conversation: with the in-process database
thrown away at the end of the run, the JSON and JUnit reports hold the
transcript and point at no timeline."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from plugin.cli.main import main

from .conftest import SCENARIOS


def test_a_failed_in_memory_run_keeps_its_transcript(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("MONGODB_URI", raising=False)
    suite = tmp_path / "wrong.yaml"
    suite.write_text((SCENARIOS / "wrong.yaml").read_text().split("\n  - name: wrong quick")[0]
                     .replace("../../../scenarios/bots/leads.yaml",
                              str(SCENARIOS.parents[2] / "scenarios" / "bots" / "leads.yaml")))
    junit, report = tmp_path / "junit.xml", tmp_path / "report.json"
    status = main(["simulate", str(suite), "--channel", "web", "--junit", str(junit),
                   "--json", str(report)])
    out, _ = capsys.readouterr()
    assert status == 1
    assert "timeline:" not in out and "transcript:\n    user: 'hi'" in out
    [first, *_] = json.loads(report.read_text())["results"]
    assert first["transcript"][0]["user"] == {"text": "hi"}
    assert first["transcript"][0]["bot"][1]["text"] == "What's your name?"
    out_text = ET.parse(junit).getroot().find("testsuite/testcase/system-out")
    assert out_text is not None and "bot:  \"What's your name?\"" in (out_text.text or "")
