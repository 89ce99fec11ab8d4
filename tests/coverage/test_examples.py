"""The example suites cover at least 90 % of each example bot, as CI would
check it: ``audience simulate scenarios/suites --fail-under 90``."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from plugin.cli.main import main

EXAMPLES = Path(__file__).parents[2] / "scenarios"


def test_the_example_suites_cover_each_example_bot(mongo_uri: str, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("MONGODB_URI", mongo_uri)
    report = tmp_path / "coverage.json"
    status = main(["simulate", str(EXAMPLES / "suites"), "--concurrency", "8",
                   "--fail-under", "90", "--coverage-json", str(report),
                   "--db-name", f"examples_{uuid.uuid4().hex[:8]}"])
    out = capsys.readouterr().out
    assert status == 0, out
    bots = {Path(b["file"]).name: b for b in json.loads(report.read_text())["bots"]}
    assert set(bots) == {"leads.yaml", "signup.yaml"}
    for name, bot in bots.items():
        assert bot["percent"] >= 90, (name, bot["percent"])
        missed = [i["label"] for i in bot["items"] if not i["covered_on"]]
        # No button offers START: nothing a user does can send it.
        assert missed == ["welcome: payload START"], (name, missed)
