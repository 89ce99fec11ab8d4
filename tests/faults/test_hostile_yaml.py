"""YAML that is small on the wire and enormous once read, and errors that would
be enormous to tell.

A "billion laughs" is a few hundred bytes of nested aliases, nine of the level
below on each line: nine levels repeat one list 387 million times. Sent to
``PUT /v1/bots/{bot}/definition`` it made a 104 MB error body; read offline
(``runtime.loader``, the simulator) it took gigabytes. Every YAML the product
reads goes through ``plugin.core.documents``, which now bounds what aliases
may add (``MAX_ALIAS_NODES``) and refuses an alias inside what it names, with
the line of the alias; the aliases real files use (``steps: *signup``) still
work. An error that lists problems shows the first ``MAX_PROBLEMS_SHOWN`` and
says how many more there are, and no reason quotes a whole value.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from plugin.core.documents import (
    MAX_ALIAS_NODES,
    MAX_PROBLEMS_SHOWN,
    AliasLimitError,
    load_yaml,
    parse_yaml,
)
from runtime.errors import BotDefinitionError
from runtime.loader import load_bot, parse_bot
from simulator.loader import ScenarioError, is_scenario_file, load_scenarios
from tests.conftest import Api

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
LEVELS = [6, 9]  # 9: the classic, 387,420,489 copies of "lol"


def billion_laughs(levels: int) -> str:
    """``l0`` a list of nine "lol"; each ``lN`` nine aliases of the level below."""
    lines = ["l0: &l0 [lol,lol,lol,lol,lol,lol,lol,lol,lol]"]
    for level in range(1, levels):
        lines.append(f"l{level}: &l{level} [" + ",".join([f"*l{level - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def bomb_bot(bot_id: str, levels: int) -> str:
    """A bot definition whose modules are the last level of the bomb."""
    return (f"bot: {{id: {bot_id}, name: Laughs}}\n{billion_laughs(levels)}"
            f"modules: *l{levels - 1}\n")


def first_alias_over_the_limit(text: str) -> int:
    """The line (1-based) of the level whose aliases first add more than the limit:
    level N's aliases each add the whole of level N-1 (1 + 9 × ... nodes)."""
    added, size = 0, 10  # l0: the list and its nine scalars
    for number, line in enumerate(text.splitlines(), start=1):
        if "*l" not in line:
            continue
        for _ in range(line.count("*l")):
            added += size
            if added > MAX_ALIAS_NODES:
                return number
        size = 1 + 9 * size
    raise AssertionError("the document stays under the limit")


@pytest.mark.parametrize("levels", LEVELS)
async def test_a_billion_laughs_bot_definition_is_a_small_quick_400(
        api: Api, bot_id: str, levels: int) -> None:
    text = bomb_bot(bot_id, levels)
    assert len(text.encode()) < 500
    started = time.monotonic()
    status, body = await api.request("PUT", f"/v1/bots/{bot_id}/definition", raw=text.encode())
    elapsed = time.monotonic() - started
    assert status == 400, str(body)[:500]
    assert len(str(body)) < 2000, f"{len(str(body))} characters"
    assert elapsed < 3, f"{elapsed:.1f} s"
    line = first_alias_over_the_limit(text)
    assert body["details"]["errors"] == [{"path": "", "line": line, "reason": body["details"][
        "errors"][0]["reason"]}]
    assert f"definition:{line}:" in body["message"]
    assert f"aliases may add at most {MAX_ALIAS_NODES:,}" in body["message"]
    status, _ = await api.post(f"/v1/channels/dummy/{bot_id}/messages",
                               {"user_id": "u", "text": "hi"})
    assert status == 404  # nothing was deployed


@pytest.mark.parametrize("levels", LEVELS)
def test_a_billion_laughs_file_is_refused_offline_at_its_line(tmp_path: Path,
                                                              levels: int) -> None:
    text = bomb_bot("laughs", levels)
    bot_file = tmp_path / "laughs.yaml"
    bot_file.write_text(text)
    started = time.monotonic()
    with pytest.raises(BotDefinitionError) as refused:
        load_bot(bot_file)
    assert time.monotonic() - started < 3
    assert refused.value.line == first_alias_over_the_limit(text)
    assert len(str(refused.value)) < 500
    assert str(refused.value).startswith(f"{bot_file}:{refused.value.line}: ")

    scenario = tmp_path / "laughs.scenarios.yaml"
    scenario.write_text("bot: laughs.yaml\n" + billion_laughs(levels)
                        + f"scenarios: *l{levels - 1}\n")
    assert is_scenario_file(scenario)  # a quick look: "let the loader report it"
    with pytest.raises(ScenarioError) as refused_scenario:
        load_scenarios(scenario)
    assert refused_scenario.value.line == first_alias_over_the_limit(scenario.read_text())
    with pytest.raises(AliasLimitError):
        load_yaml(text)
    assert time.monotonic() - started < 6


@pytest.mark.parametrize("text", [
    "bot: {id: loop, name: Loop}\napis:\n  crm: {method: POST, url: 'http://crm',"
    " body: &b {again: *b}}\nmodules:\n  a: {default: true, steps: [{say: hi}]}\n",
    "bot: {id: loop, name: Loop}\nmodules: &m {a: {default: true, steps: [{say: *m}]}}\n",
    "a: &a [1, [2, *a]]\n",
    "a: &a {b: {c: *a}}\n",
])
def test_an_alias_inside_what_it_names_is_refused(text: str) -> None:
    with pytest.raises(BotDefinitionError) as refused:
        parse_bot(text, "loop.yaml")
    assert "is inside the node" in refused.value.reason
    assert refused.value.line == next(n for n, line in enumerate(text.splitlines(), start=1)
                                      if "*" in line)


def test_aliases_up_to_the_limit_still_load() -> None:
    listed = "[" + ", ".join(["x"] * 99) + "]"  # 100 nodes: each alias adds 100
    within = f"a: &a {listed}\nb: [" + ", ".join(["*a"] * (MAX_ALIAS_NODES // 100)) + "]\n"
    assert len(parse_yaml(within).data["b"]) == MAX_ALIAS_NODES // 100
    beyond = within[:-2] + ", *a]\n"
    with pytest.raises(yaml.YAMLError, match="aliases may add at most"):
        load_yaml(beyond)
    # The suites that share their steps through an alias load as before.
    suite = load_scenarios(SCENARIOS / "suites" / "api_failures.yaml")
    assert sum(len(s.steps) == 9 for s in suite) == 7  # &signup and its six aliases


def test_a_definition_with_many_problems_lists_the_first_and_counts_the_rest() -> None:
    modules = "".join(f"  m{n}:\n    steps:\n      - goto: nowhere{n}\n" for n in range(300))
    text = f"bot: {{id: many, name: Many}}\nmodules:\n  start:\n    default: true\n" \
           f"    steps:\n      - say: hi\n{modules}"
    with pytest.raises(BotDefinitionError) as refused:
        parse_bot(text, "many.yaml")
    error = refused.value
    assert len(error.problems) == 300  # all of them are still there to read
    lines = error.message.splitlines()
    assert len(lines) == MAX_PROBLEMS_SHOWN + 1
    assert lines[-1] == f"… and {300 - MAX_PROBLEMS_SHOWN} more"
    assert len(error.to_dict()["details"]["errors"]) == MAX_PROBLEMS_SHOWN  # type: ignore[index]
    assert error.details["more"] == 300 - MAX_PROBLEMS_SHOWN


def test_a_reason_never_quotes_a_whole_value() -> None:
    huge = "[" + ", ".join(f"item{n}" for n in range(20_000)) + "]"
    with pytest.raises(BotDefinitionError) as refused:
        parse_bot(f"bot: {{id: big, name: {huge}}}\nmodules: {{}}\n", "big.yaml")
    assert len(refused.value.message) < 2000
    assert any("more characters)" in p.reason for p in refused.value.problems)


async def test_a_request_body_with_thousands_of_problems_gets_a_bounded_answer(
        api: Api, bot_id: str) -> None:
    status, _ = await api.request("PUT", f"/v1/bots/{bot_id}/properties",
                                  {"properties": [{"name": "email", "type": "email"}]})
    assert status == 200
    status, segment = await api.post(f"/v1/bots/{bot_id}/segments",
                                     {"name": "Hand-picked", "kind": "static"})
    assert status == 201, segment
    status, body = await api.post(f"/v1/bots/{bot_id}/segments/{segment['id']}/members",
                                  {"user_ids": list(range(5000))})
    assert status == 400
    assert len(body["details"]["errors"]) == MAX_PROBLEMS_SHOWN
    assert body["details"]["more"] == 5000 - MAX_PROBLEMS_SHOWN
    assert body["message"].endswith("… and 4995 more")
    assert len(str(body)) < 20_000


async def test_deep_nesting_is_refused_not_recursed_into(api: Api, bot_id: str) -> None:
    text = f"bot: {{id: {bot_id}, name: Deep}}\nmodules: " + "[" * 20_000 + "]" * 20_000
    status, body = await api.request("PUT", f"/v1/bots/{bot_id}/definition", raw=text.encode())
    assert status == 400
    assert "nesting depth" in body["message"]
