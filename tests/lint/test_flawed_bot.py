"""The deliberately flawed example bot: every flaw planted in it (a line
marked ``FLAW: <rule>``) is reported by ``audience lint`` at that line, and
nothing else is an error."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from plugin.cli.main import main

FLAWED = Path(__file__).parents[2] / "scenarios" / "bots" / "flawed.yaml"
_MARK = re.compile(r"#\s*FLAW:\s*([a-z-]+)")


def planted() -> list[tuple[int, str]]:
    lines = FLAWED.read_text("utf-8").splitlines()
    return [(number, match.group(1)) for number, line in enumerate(lines, 1)
            if (match := _MARK.search(line)) and number > 4]


def test_the_flawed_bot_plants_the_four_flaws_the_issue_names() -> None:
    rules = {rule for _, rule in planted()}
    assert {"flow-without-cta", "unreachable-module", "too-many-buttons",
            "call-without-on-failure"} <= rules


def test_every_planted_flaw_is_reported_at_its_line(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    report = tmp_path / "lint.json"
    status = main(["lint", str(FLAWED), "--channel", "whatsapp", "--json", str(report)])
    out = capsys.readouterr().out
    assert status == 1, out
    findings = json.loads(report.read_text())["files"][0]["findings"]
    reported = {(f["line"], f["rule"]) for f in findings}
    missing = [flaw for flaw in planted() if flaw not in reported]
    assert missing == [], out
    for line, rule in planted():
        assert f"{FLAWED}:{line}: " in out and f" {rule}: " in out
    errors = {(f["line"], f["rule"]) for f in findings if f["severity"] == "error"}
    assert errors <= set(planted()), errors - set(planted())
    assert "lint: 4 errors, 8 warnings in 1 file (channels: whatsapp)" in out


def test_without_a_channel_the_buttons_pass_and_the_rest_is_found(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lint", str(FLAWED)]) == 1
    out = capsys.readouterr().out
    assert "too-many-buttons" not in out
    assert "channel rules not checked: give --channel web|messenger|whatsapp" in out
    assert f"{FLAWED}:80: error flow-without-cta: module 'place_order' ends the flow" in out
