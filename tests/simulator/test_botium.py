"""Botium convos as teams have them: the examples under scenarios/botium run
unchanged in-process and against a bot deployed on a running server; each
supported asserter fails when it should, naming its line; unsupported ones are
refused by name and line."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from aiohttp import web

from plugin.cli.main import main
from simulator.botium import ConvoError, load_convos
from simulator.botium_play import botium_match
from simulator.model import AudienceTarget
from simulator.runner import Outcome, Simulator
from tests.conftest import ADMIN_KEY, Api

from .conftest import EXAMPLES

BOTIUM = EXAMPLES / "botium"
LEADS = EXAMPLES / "bots" / "leads.yaml"


@pytest.fixture
def database(mongo_uri: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.setenv("MONGODB_URI", mongo_uri)
    return ["--db-name", f"sim_botium_{uuid.uuid4().hex[:8]}"]


def test_the_example_convos_pass_in_process(database: list[str], tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    report = tmp_path / "report.json"
    status = main(["simulate", str(BOTIUM), "--json", str(report), *database])
    out, err = capsys.readouterr()
    assert status == 0, out + err
    results = json.loads(report.read_text())["results"]
    assert sorted(r["scenario"] for r in results) == [
        "A quote from the welcome menu/GREETINGS-L1", "A quote from the welcome menu/GREETINGS-L2",
        "A quote from the welcome menu/GREETINGS-L3", "Booking a demo",
        "Pricing asked in the middle of the name question"]
    assert all(r["outcome"] == "passed" and r["steps_run"] == r["steps_total"] > 3
               for r in results)


def _convo(folder: Path, name: str, text: str) -> None:
    (folder / f"{name}.convo.txt").write_text(text)


# name: (the convo after its name line, what fails, on which line of the file)
WRONG = {
    "text": ("#me\nhi\n#bot\nGoodbye\n", "text", 5),
    "negated_text": ("#me\nhi\n#bot\n!Hi! I'm*\n", "text", 5),
    "buttons": ("#me\nhi\n#bot\n#bot\n#me\nAda\n#bot\nBUTTONS Get a quote|Buy now\n",
                "BUTTONS", 9),
    "no_buttons": ("#me\nhi\n#bot\n#bot\n#me\nAda\n#bot\n!BUTTONS\n", "BUTTONS", 9),
    "media": ("#me\nhi\n#bot\nMEDIA https://acme.example/other.png\n", "MEDIA", 5),
    "cards": ("#me\nhi\n#bot\n\nCARDS Acme Phone\n", "CARDS", 6),
    "intent": ("#me\ndemo\n#bot\nINTENT quote\n", "INTENT", 5),
    "json_path": ("#me\nhi\n#bot\nJSON_PATH $.assigned_to|human\n", "JSON_PATH", 5),
    "no_json_path": ("#me\nhi\n#bot\n!JSON_PATH $.replies[0].cards\n", "JSON_PATH", 5),
    "missing_message": ("#me\nhi\n#bot\n#bot\n#bot\n", "bot message", 6),
    "button_nobody_offers": ("#me\nhi\n#bot\n#bot\n#me\nBUTTON NOPE\n#bot\nWhat's your name?\n",
                             "text", 9),
}


async def test_each_asserter_fails_when_it_should_naming_its_line(db: object,
                                                                 tmp_path: Path) -> None:
    for name, (body, _, _) in WRONG.items():
        _convo(tmp_path, name, f"{name}\n{body}")
    scenarios = load_convos([tmp_path], bot_file=LEADS)
    async with Simulator(db=db) as simulator:  # type: ignore[arg-type]
        suite = await simulator.run_all(scenarios, concurrency=4)
    got = {r.scenario: r for r in suite.results}
    for name, (_, what, line) in WRONG.items():
        result = got[name]
        assert result.outcome is Outcome.FAILED, (name, result.describe_failure())
        assert result.failure is not None
        assert (result.failure.what, result.failure.line) == (what, line), (
            name, result.describe_failure())


def test_unsupported_asserters_are_refused_by_name_and_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _convo(tmp_path, "unsupported", "unsupported\n#me\nhi\nFORM name|Ada\n#bot\n"
                                    "ENTITIES city\nTEXT_CONTAINS_ANY hi|hello\n?BUTTONS a\n"
                                    "#bot web\n?maybe\n#end\nWAITFORBOT 100\n"
                                    "#bot\nJSON_PATH $..[?(@.x)]\nINCLUDE nowhere\n")
    status = main(["simulate", str(tmp_path), "--bot", str(LEADS)])
    err = capsys.readouterr().err
    assert status == 2
    source = tmp_path / "unsupported.convo.txt"
    for line, said in [(4, "unsupported Botium user input FORM"),
                       (3, "no text expected beside a user input"),
                       (6, "unsupported Botium asserter or logic hook ENTITIES"),
                       (7, "unsupported Botium asserter or logic hook TEXT_CONTAINS_ANY"),
                       (8, "optional asserter ?BUTTONS is not supported"),
                       (9, "a channel on a section ('web') is not supported"),
                       (10, "an optional bot message (?) is not supported"),
                       (12, "unsupported Botium asserter or logic hook WAITFORBOT"),
                       (14, "JSON_PATH: unsupported path"),
                       (15, "INCLUDE nowhere: no partial convo (.pconvo.txt) of that name")]:
        assert any(shown.removeprefix("audience: ").startswith(f"{source}:{line}: ")
                   and said in shown
                   for shown in err.splitlines()), (line, said, err)


def test_a_convo_names_its_bot_or_is_refused(tmp_path: Path) -> None:
    _convo(tmp_path, "lonely", "lonely\n#me\nhi\n#bot\nhello\n")
    with pytest.raises(ConvoError, match="no bot to run the convo against"):
        load_convos([tmp_path])
    (tmp_path / "a.pconvo.txt").write_text("a\n#include b\n")
    (tmp_path / "b.pconvo.txt").write_text("b\n#include a\n")
    _convo(tmp_path, "loop", "loop\n#include a\n")
    with pytest.raises(ConvoError, match=r"includes itself \(a -> b -> a\)"):
        load_convos([tmp_path / "loop.convo.txt"], bot_file=LEADS)


def test_botium_matching_modes() -> None:
    assert botium_match("wildcardIgnoreCase", "Nice to meet you, Ada! Hi", "nice to * ada*")
    assert not botium_match("wildcardExact", "Nice to meet you", "Nice")
    assert botium_match("include", "a  b\nc", "a b c")
    assert not botium_match("include", "Hello", "hello")
    assert botium_match("regexpIgnoreCase", "Order 42", r"order \d+")
    assert botium_match("equals", {"a": 1}, '{"a": 1}')


async def test_the_example_convos_pass_against_a_bot_deployed_on_a_running_server(
        app_server: tuple[web.Application, str], api: Api) -> None:
    bot_id = f"leads-{uuid.uuid4().hex[:8]}"
    definition = LEADS.read_text().replace("id: leads", f"id: {bot_id}", 1)
    status, _ = await api.request("PUT", f"/v1/bots/{bot_id}/definition",
                                  raw=definition.encode())
    assert status == 200
    target = AudienceTarget(app_server[1], ADMIN_KEY, bot_id)
    scenarios = load_convos([BOTIUM], target=target, channels=("web", "messenger"))
    async with Simulator() as simulator:
        suite = await simulator.run_all(scenarios, concurrency=4)
    assert len(suite.results) == 10
    assert not suite.failed, "\n".join(r.describe_failure() for r in suite.failed)
    assert {r.target for r in suite.results} == {"audience"}
    assert {r.bot_id for r in suite.results} == {bot_id}
    _, profile = await api.get(f"/v1/bots/{bot_id}/users/{suite.results[0].user_id}")
    assert profile["test"] is True
