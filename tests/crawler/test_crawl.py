"""``audience crawl`` on the example bots: the flawed bot's planted flaws are
found at their lines, the lead bot's crawl replays as a passing suite, and
the same seed gives the same files."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from plugin.cli.main import main

BOTS = Path(__file__).parents[2] / "scenarios" / "bots"


def flaw_line(rule: str) -> int:
    lines = (BOTS / "flawed.yaml").read_text().splitlines()
    return next(n for n, line in enumerate(lines, 1) if f"FLAW: {rule}" in line)


def test_the_flawed_bots_flaws_are_found_where_they_are(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    status = main(["crawl", str(BOTS / "flawed.yaml"), "--channel", "whatsapp",
                   "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert status == 1, out
    report = json.loads((tmp_path / "crawl.json").read_text())
    found = {(f["rule"], f["line"]) for f in report["channels"]["whatsapp"]["findings"]}
    flawed = BOTS / "flawed.yaml"
    expected = {
        ("dead-end", flaw_line("flow-without-cta")),  # the flow ending on a plain 'Thanks'
        ("loop", flaw_line("goto-loop")),
        ("unreachable-module", flaw_line("unreachable-module")),
        ("too-many-buttons", flaw_line("too-many-buttons")),
        ("validation-never-shown", flaw_line("ask-without-validation")),  # '' was taken
    }
    assert expected <= found, out
    # The branch that never holds: the crawl never reached its module either.
    medium = next(n for n, line in enumerate(flawed.read_text().splitlines(), 1)
                  if line.strip() == "medium_offer:")
    assert ("unreachable-module", medium) in found
    assert f"{flawed}:{flaw_line('flow-without-cta')}: error dead-end: after 'Thanks Ada " \
           "Lovelace, your small pizza is on its way.' the user has nothing to tap" in out
    assert "the runtime cut it off and fell back" in out
    assert list(tmp_path.glob("whatsapp-path-*.yaml"))


def test_the_lead_bots_crawl_passes_simulate_unchanged(tmp_path: Path, mongo_uri: str,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    out_dir = tmp_path / "crawl"
    assert main(["crawl", str(BOTS / "leads.yaml"), "--out", str(out_dir)]) == 0
    said = capsys.readouterr().out
    files = sorted(out_dir.glob("web-path-*.yaml"))
    assert len(files) >= 20, said
    assert "coverage 99.0% (101/102)" in said
    monkeypatch.setenv("MONGODB_URI", mongo_uri)
    status = main(["simulate", str(out_dir), "--concurrency", "8", "--coverage",
                   "--db-name", f"crawl_{uuid.uuid4().hex[:8]}"])
    out = capsys.readouterr().out
    assert status == 0, out
    assert f"{len(files)} passed, 0 failed" in out
    # Replayed by simulate, the crawl's paths cover what the crawl covered.
    assert "coverage of " in out and "(leads): 99.0% (101/102)" in out


def test_the_same_seed_writes_the_same_files(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    runs = []
    for name, seed in (("a", "3"), ("b", "3"), ("c", "4")):
        out = tmp_path / name
        main(["crawl", str(BOTS / "signup.yaml"), "--seed", seed, "--out", str(out)])
        runs.append({f.name: f.read_text() for f in sorted(out.iterdir())})
    capsys.readouterr()
    assert runs[0] == runs[1]
    assert runs[0].keys() and runs[0] != runs[2]  # another seed, other samples


def test_a_bot_calling_a_real_backend_is_not_crawled(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    bot = tmp_path / "real.yaml"
    bot.write_text("bot: {id: r, name: R}\napis:\n  crm: {method: GET, url: "
                   "'https://crm.example/x'}\nmodules:\n  m:\n    default: true\n    steps:\n"
                   "      - call: {api: crm, on_failure: m}\n      - say: {text: ok, "
                   "buttons: [{title: A, url: 'https://a.example'}]}\n")
    assert main(["crawl", str(bot), "--out", str(tmp_path / "out")]) == 2
    assert "api 'crm' does not call ${API_BASE}" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
