"""``audience simulate --coverage``: the report after the summary, the JSON
and HTML files, ``--fail-under`` as the exit status, and bad options refused."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from plugin.cli.main import main

from .conftest import BOT

SUITE = """\
bot: cov.yaml
scenarios:
  - name: thirty
    steps:
      - say: menu
      - tap: AGE
      - say: "30"
"""


@pytest.fixture
def suite(tmp_path: Path, mongo_uri: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.setenv("MONGODB_URI", mongo_uri)
    (tmp_path / "cov.yaml").write_text(BOT)
    (tmp_path / "suite.yaml").write_text(SUITE)
    return [str(tmp_path / "suite.yaml"), "--db-name", f"cov_{uuid.uuid4().hex[:8]}",
            "--no-lint"]


def test_coverage_reports_and_writes_files(suite: list[str], tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["simulate", *suite, "--coverage-json", str(tmp_path / "c.json"),
                   "--coverage-html", str(tmp_path / "html")])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "1 passed, 0 failed" in out
    assert f"coverage of {tmp_path / 'cov.yaml'} (cov): " in out
    body = json.loads((tmp_path / "c.json").read_text())
    assert body["total"] == 39 and 0 < body["covered"] < 39
    assert f"coverage report: {tmp_path / 'html' / 'index.html'}" in out
    assert (tmp_path / "html" / "index.html").is_file()


def test_fail_under_fails_a_passing_run_below_it(suite: list[str],
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", *suite, "--fail-under", "90"]) == 1
    out = capsys.readouterr().out
    assert "1 passed, 0 failed" in out
    assert "% is under --fail-under 90" in out.splitlines()[-1]
    assert main(["simulate", *suite, "--fail-under", "20"]) == 0


def test_without_coverage_nothing_is_said_of_it(suite: list[str],
                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", *suite]) == 0
    assert "coverage of" not in capsys.readouterr().out


@pytest.mark.parametrize(("options", "said"), [
    (["--fail-under", "150"], "a percentage is from 0 to 100, not 150"),
    (["--fail-under", "lots"], "'lots' is not a number"),
    (["--coverage-expect", "domain.yml"], "--coverage-expect needs --coverage"),
    (["--coverage", "--coverage-expect", "nope.yml"], "nope.yml: cannot read the coverage list"),
])
def test_bad_coverage_options_exit_2(suite: list[str], options: list[str], said: str,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        status = main(["simulate", *suite, *options])
        raise SystemExit(status)
    assert raised.value.code == 2
    assert said in capsys.readouterr().err
