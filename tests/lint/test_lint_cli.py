"""``audience lint``'s exit status, and lint as the gate of ``audience simulate``."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from plugin.cli.main import main

EXAMPLES = Path(__file__).parents[2] / "scenarios"
BOTS = EXAMPLES / "bots"


def test_clean_bots_exit_0_and_say_so(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["lint", str(BOTS / "leads.yaml"), str(BOTS / "signup.yaml"),
                   "--channel", "web", "--channel", "messenger"])
    out = capsys.readouterr().out
    assert status == 0, out
    assert out.strip() == "lint: 0 errors, 0 warnings in 2 files (channels: web, messenger)"


def test_warnings_alone_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    # WhatsApp has no quick replies: the example bots' become numbered options.
    assert main(["lint", str(BOTS / "leads.yaml"), "--channel", "whatsapp"]) == 0
    out = capsys.readouterr().out
    assert "warning quick-replies-unsupported" in out and "lint: 0 errors, 4 warnings" in out


def test_a_missing_file_exits_2_naming_it(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lint", str(tmp_path / "nope.yaml")]) == 2
    assert f"{tmp_path / 'nope.yaml'}: no such file" in capsys.readouterr().err


def test_a_file_that_is_not_a_bot_is_an_error_at_its_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("bot:\n  id: b\n  name: B\nmodules:\n  w:\n    default: true\n"
                   "    steps:\n      - sya: hi\n")
    assert main(["lint", str(bad)]) == 1
    out = capsys.readouterr().out
    assert f"{bad}:8: error schema: " in out


def flawed_suite(tmp_path: Path) -> Path:
    suite = tmp_path / "suite.yaml"
    suite.write_text(f"bot: {BOTS / 'flawed.yaml'}\nchannel: whatsapp\nscenarios:\n"
                     "  - name: hello\n    steps:\n      - say: hi\n")
    return suite


def test_simulate_refuses_a_bot_with_lint_errors(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["simulate", str(flawed_suite(tmp_path))])
    out = capsys.readouterr().out
    assert status == 1
    assert f"{BOTS / 'flawed.yaml'}:53: error too-many-buttons: 4 buttons" in out
    assert "lint: a bot has errors, so the run fails; fix them, or give --no-lint" in out
    assert "passed" not in out  # nothing ran


def test_simulate_no_lint_runs_it_anyway(tmp_path: Path, mongo_uri: str,
                                        monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("MONGODB_URI", mongo_uri)
    status = main(["simulate", str(flawed_suite(tmp_path)), "--no-lint",
                   "--db-name", f"lint_{uuid.uuid4().hex[:8]}"])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "1 passed, 0 failed" in out and "error too-many-buttons" not in out
