"""Every mistake a person can make at the command line, as they would make it:
the real ``audience`` process on the session's database. Each ends with exit
status 2 (the command line is wrong) or 1 (the operation failed) and exactly
one line on stderr, ``audience: <what is wrong>``, never a traceback."""

from __future__ import annotations

import os
import re
import socket
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import pytest_asyncio

from tests.integration.test_cli import _run

BOT = "shop"
ONE_LINE = re.compile(r"audience: [^\n]+\n")


@dataclass(frozen=True)
class Mistake:
    args: tuple[str, ...]  # "{tmp}" stands for a folder holding the files below
    status: int
    says: str  # a part of the message
    env: Mapping[str, str | None] = field(default_factory=dict)  # None: unset it


def mistake(*args: str, status: int = 2, says: str,
            env: Mapping[str, str | None] | None = None) -> Mistake:
    return Mistake(args, status, says, env or {})


DATA = ("--bot", BOT)

MISTAKES = {
    # argparse's own usage errors, in one line too.
    "no command": mistake(says="the following arguments are required: COMMAND"),
    "unknown command": mistake("frobnicate", says="invalid choice: 'frobnicate'"),
    "no subcommand": mistake("segments", says="the following arguments are required: COMMAND"),
    "unknown option": mistake("query", *DATA, "--bogus", says="unrecognized arguments: --bogus"),
    "required option missing": mistake("query", says="required: --bot"),
    "limit not a number": mistake("query", *DATA, "--limit", "ten",
                                  says="--limit: 'ten' is not a whole number"),
    "limit out of range": mistake("query", *DATA, "--limit", "0",
                                  says="--limit: must be between 1 and 500, not 0"),
    "limit over the page size": mistake("query", *DATA, "--limit", "501",
                                        says="must be between 1 and 500, not 501"),
    "unknown role": mistake("keys", "create", "--role", "owner", "--bot", BOT,
                            says="invalid choice: 'owner'"),
    "unknown export format": mistake("export", *DATA, "--format", "pdf", "-o", "{tmp}/a.pdf",
                                     says="invalid choice: 'pdf'"),
    "unknown webhook event": mistake("webhooks", "create", *DATA, "--url", "https://crm/in",
                                     "--event", "sale", says="invalid choice: 'sale'"),
    "port out of range": mistake("serve", "--port", "70000",
                                 says="--port: must be between 0 and 65535"),
    "simulate without a path": mistake("simulate", says="required: PATH"),
    # Input that cannot be right, refused before the database is opened.
    "a --where without an operator": mistake("query", *DATA, "--where", "email",
                                             says="--where 1 ('email') needs a property and "
                                                  "an operator"),
    "a missing --filter file": mistake("query", *DATA, "--filter", "{tmp}/nowhere.json",
                                       says="cannot read --filter {tmp}/nowhere.json: No such"),
    "a --filter file that is not JSON": mistake("query", *DATA, "--filter", "{tmp}/broken.json",
                                                says="{tmp}/broken.json is not JSON"),
    "a --filter file without an object": mistake("query", *DATA, "--filter", "{tmp}/list.json",
                                                 says="must hold a JSON object"),
    "--filter and --where together": mistake("query", *DATA, "--filter", "{tmp}/filter.json",
                                              "--where", "age gt 1",
                                              says="either --filter or --where/--expr"),
    "a static segment with a filter": mistake("segments", "create", *DATA, "--name", "S",
                                              "--static", "--where", "age gt 1",
                                              says="a static segment takes --user"),
    "users for a dynamic segment": mistake("segments", "create", *DATA, "--name", "S",
                                           "--user", "u1", says="add --static"),
    "a rate of zero": mistake("broadcast", *DATA, "--segment", "VIP", "--text", "hi",
                              "--rate", "0", says="--rate must be above 0"),
    "an endless rate": mistake("broadcast", *DATA, "--segment", "VIP", "--text", "hi",
                               "--rate", "inf", says="--rate must be above 0"),
    "an export of a segment and a filter": mistake("export", *DATA, "--segment", "VIP",
                                                   "--where", "age gt 1", "-o", "{tmp}/a.csv",
                                                   says="either --segment or --where"),
    "an export into a folder that does not exist": mistake(
        "export", *DATA, "-o", "{tmp}/nowhere/a.csv", says="there is no folder {tmp}/nowhere"),
    "an export onto a folder": mistake("export", *DATA, "-o", "{tmp}",
                                       says="-o {tmp} is a folder"),
    "an export limit of zero": mistake("export", *DATA, "--limit", "0", "-o", "{tmp}/a.csv",
                                       says="--limit is between 1 and"),
    "a missing import file": mistake("import", "{tmp}/nowhere.csv", *DATA,
                                     says="cannot read {tmp}/nowhere.csv: No such file"),
    "a folder to import": mistake("import", "{tmp}", *DATA, says="Is a directory"),
    "a --map without '='": mistake("import", "{tmp}/users.csv", *DATA, "--map", "E-mail",
                                   says="--map 'E-mail': write COLUMN=PROPERTY"),
    "a --var without '='": mistake("serve", "--port", "0", "--var", "TOKEN",
                                   says="--var 'TOKEN' must be NAME=VALUE"),
    "a missing bot file": mistake("serve", "--port", "0", "--bot", "{tmp}/nowhere.yaml",
                                  says="--bot {tmp}/nowhere.yaml: no such file"),
    "a --data-dir under a file": mistake("query", *DATA, "--data-dir", "{tmp}/users.csv/data",
                                         says="{tmp}/users.csv is a file, not a folder",
                                         env={"MONGODB_URI": None}),
    "a setting in the environment that is no number": mistake(
        "query", *DATA, says="AUDIENCE_EXPORT_MAX_ROWS must be a number, got 'lots'",
        env={"AUDIENCE_EXPORT_MAX_ROWS": "lots"}),
    "an AMQP URL that is HTTP": mistake("rasa", "consume", *DATA, "--amqp-url",
                                        "http://127.0.0.1:5672/",
                                        says="--amqp-url must start with amqp://"),
    "no AMQP URL": mistake("rasa", "consume", *DATA, says="--amqp-url is required",
                           env={"AUDIENCE_AMQP_URL": None}),
    "a simulate path that does not exist": mistake("simulate", "{tmp}/nowhere",
                                                   says="{tmp}/nowhere: no such file"),
    "a folder without scenarios": mistake("simulate", "{tmp}/empty",
                                          says="no scenarios found in {tmp}/empty"),
    "a concurrency of zero": mistake("simulate", "{tmp}/empty", "--concurrency", "0",
                                          says="--concurrency must be at least 1"),
    "a Rasa target that is not HTTP": mistake("simulate", "{tmp}/empty", "--target",
                                              "rasa+ftp://bot", says="a Rasa target is"),
    # Input the database shows to be wrong.
    "an unknown property in --where": mistake("query", *DATA, "--where", "shoe_size gt 40",
                                              says="condition 1: unknown property 'shoe_size'"),
    "an expression cut short": mistake("query", *DATA, "--where", "message_count gte 1",
                                       "--expr", "1 and", says="the expression ends"),
    "an expression naming a missing condition": mistake(
        "query", *DATA, "--where", "message_count gte 1", "--expr", "1 or 2",
        says="condition 2 at position 5 does not exist"),
    "sorting by an unknown property": mistake("query", *DATA, "--sort", "-shoe_size",
                                              says="cannot sort by unknown property"),
    "an unknown segment in --where": mistake("query", *DATA, "--where", "segment in nope",
                                             says=f"bot {BOT!r} has no segment named 'nope'"),
    "an unknown segment in a --filter file": mistake(
        "query", *DATA, "--filter", "{tmp}/unknown-segment.json",
        says=f"bot {BOT!r} has no segment named 'Gold'"),
    "a broadcast to an unknown segment": mistake("broadcast", *DATA, "--segment", "nope",
                                                 "--text", "hi", says="no segment named 'nope'"),
    "an export of an unknown segment": mistake("export", *DATA, "--segment", "nope",
                                               "-o", "{tmp}/a.csv",
                                               says="no segment named 'nope'"),
    "an unknown export column": mistake("export", *DATA, "--column", "shoe_size",
                                        "-o", "{tmp}/a.csv", says="unknown columns: 'shoe_size'"),
    "users added to an unknown segment": mistake("segments", "add", *DATA, "--segment", "nope",
                                                 "--user", "u1", says="no segment named 'nope'"),
    "users added to a dynamic segment": mistake("segments", "add", *DATA, "--segment",
                                                "everyone", "--user", "u1",
                                                says="segment 'Everyone' is dynamic"),
    "a segment name taken": mistake("segments", "create", *DATA, "--name", "vip", "--static",
                                    says="a segment named 'vip' already exists"),
    "an empty segment name": mistake("segments", "create", *DATA, "--name", " ", "--static",
                                     says="'name' must be 1 to 100 characters"),
    "a webhook for an unknown segment": mistake("webhooks", "create", *DATA, "--url",
                                                "https://crm.example.com/in", "--event",
                                                "handover", "--segment", "nope",
                                                says="no segment named 'nope'"),
    "a webhook to an FTP URL": mistake("webhooks", "create", *DATA, "--url", "ftp://crm",
                                       "--event", "handover", says="http or https"),
    "an unknown webhook": mistake("webhooks", "delete", *DATA, "--webhook", "nope",
                                  says="no webhook 'nope'"),
    "the deliveries of an unknown webhook": mistake("webhooks", "deliveries", *DATA,
                                                    "--webhook", "nope",
                                                    says="no webhook 'nope'"),
    "a file that is no table": mistake("import", "{tmp}/garbage.bin", *DATA,
                                       says="not text in a known encoding"),
    "an import mapped to an unknown property": mistake(
        "import", "{tmp}/users.csv", *DATA, "--map", "E-mail=shoe_size",
        says="'E-mail' → 'shoe_size': unknown property"),
    "a bot file that is no YAML": mistake("serve", "--port", "0", "--bot", "{tmp}/broken.yaml",
                                          says="(document): invalid YAML"),
    # The command was right, the operation failed.
    "a host that is not this machine": mistake("serve", "--host", "nowhere.invalid",
                                               "--port", "0", status=1,
                                               says="cannot listen on nowhere.invalid:0"),
    "RabbitMQ away": mistake("rasa", "consume", *DATA, "--amqp-url", "amqp://127.0.0.1:1/",
                             status=1, says="cannot use RabbitMQ at amqp://127.0.0.1:1/"),
}


@dataclass(frozen=True)
class Workspace:
    tmp: Path
    env: dict[str, str]


@pytest_asyncio.fixture(scope="module")
async def workspace(mongo_uri: str,
                    tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Workspace]:
    """The files the mistakes name, and a database of its own with bot ``shop``'s
    segments VIP (static) and Everyone (dynamic)."""
    tmp = tmp_path_factory.mktemp("mistakes")
    (tmp / "broken.json").write_text("{conditions: []")
    (tmp / "list.json").write_text("[]")
    (tmp / "filter.json").write_text('{"conditions": []}')
    (tmp / "unknown-segment.json").write_text(
        '{"conditions": [{"property": "segment", "operator": "in", "value": "Gold"}]}')
    (tmp / "users.csv").write_text("E-mail,Name\nann@example.com,Ann\n")
    (tmp / "garbage.bin").write_bytes(bytes(range(256)) * 4)
    (tmp / "broken.yaml").write_text("id: shop\nname: [Shop\n")
    (tmp / "empty").mkdir()
    db_name = f"cli_mistakes_{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("AUDIENCE_") and k != "MONGODB_URI"}
    env.update(MONGODB_URI=mongo_uri, AUDIENCE_DB_NAME=db_name)
    for segment in (("--name", "VIP", "--static"),
                    ("--name", "Everyone", "--where", "message_count gte 0")):
        code, _, err = await _run("segments", "create", *DATA, *segment, env=env)
        assert code == 0, err
    yield Workspace(tmp, env)


@pytest.mark.parametrize("name", list(MISTAKES))
async def test_a_mistake_is_one_line_and_an_exit_status(workspace: Workspace, name: str) -> None:
    case = MISTAKES[name]
    env = dict(workspace.env)
    for key, value in case.env.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    args = [a.replace("{tmp}", str(workspace.tmp)) for a in case.args]
    code, _, err = await _run(*args, env=env, cwd=workspace.tmp)
    assert "Traceback" not in err
    assert ONE_LINE.fullmatch(err), err
    assert case.says.replace("{tmp}", str(workspace.tmp)) in err
    assert code == case.status, err


async def test_a_port_in_use_is_one_line_and_status_1(workspace: Workspace) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _, err = await _run("serve", "--port", str(port), env=workspace.env)
    assert ONE_LINE.fullmatch(err), err
    assert f"cannot listen on 127.0.0.1:{port}: the port is in use" in err
    assert code == 1


async def test_a_database_that_does_not_answer_is_one_line_and_status_1(
        workspace: Workspace) -> None:
    # The URI's own timeout (tests/integration/test_database_open.py), to fail in a second.
    env = {**workspace.env, "MONGODB_URI": "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=1000"}
    code, _, err = await _run("query", *DATA, env=env)
    assert ONE_LINE.fullmatch(err), err
    assert code == 1
