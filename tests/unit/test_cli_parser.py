"""The dispatcher without a database: what ``--help`` imports, every command's
help, and options read as a person types them."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from plugin.cli.main import BUILT_IN, build_parser, main
from plugin.core.commands import Command, Record
from plugin.core.settings import Settings
from plugin.extensions import Extension, load_extensions

# What the help must not wait for: the web server, the database driver, the
# spreadsheet, YAML and schema libraries, the bot runtime.
HEAVY = {"aiohttp", "pymongo", "bson", "motor", "openpyxl", "xlsxwriter", "yaml", "jsonschema",
         "aio_pika", "runtime"}
SHOW_IMPORTS = """
import contextlib, io, json, sys
from plugin.cli.main import main
with contextlib.redirect_stdout(io.StringIO()):
    status = main(sys.argv[1:])
print(json.dumps({"status": status, "modules": sorted({m.split(".")[0] for m in sys.modules})}))
"""


def records() -> list[Record]:
    found = [r for table in BUILT_IN for r in table]
    return found + [r for extension in load_extensions() for r in extension.commands()]


def commands() -> list[Command]:
    return [r for r in records() if isinstance(r, Command)]


@pytest.mark.parametrize("argv", [["--help"], ["query", "--help"]], ids=" ".join)
def test_the_help_imports_no_server_database_or_spreadsheet(argv: list[str],
                                                            tmp_path: Path) -> None:
    shown = subprocess.run([sys.executable, "-c", SHOW_IMPORTS, *argv], cwd=tmp_path,
                           capture_output=True, text=True, check=True, timeout=60)
    result = json.loads(shown.stdout)
    assert result["status"] == 0
    assert HEAVY & set(result["modules"]) == set()


@pytest.mark.parametrize("command", commands(), ids=lambda c: " ".join(c.path))
def test_every_command_has_help(command: Command, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*command.path, "--help"]) == 0
    assert f"usage: audience {' '.join(command.path)}" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["--sort", "-message_count"], ["--sort=-message_count"],
                                  ["--sort", "message_count"]])
def test_a_descending_sort_reads_as_typed(argv: list[str]) -> None:
    args = build_parser(records()).parse_args(["query", "--bot", "b", *argv])
    assert args.sort == argv[-1].removeprefix("--sort=")


def test_a_usage_error_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["query", "--bot", "b", "--limit", "many"]) == 2
    assert capsys.readouterr().err == ("audience: argument --limit: 'many' is not a whole "
                                       "number (see 'audience query --help')\n")


class _Argparse(Extension):
    """An extension written before Extension.commands: it adds to argparse itself."""

    def add_commands(self, commands: argparse._SubParsersAction[argparse.ArgumentParser],
                     data_options: argparse.ArgumentParser) -> None:
        hello = commands.add_parser("hello", parents=[data_options], help="say hello")
        hello.add_argument("--name", required=True)
        hello.set_defaults(run_command=lambda args, settings: len(args.name))


def test_an_extension_may_still_add_commands_to_argparse() -> None:
    args = build_parser(records(), [_Argparse()]).parse_args(
        ["hello", "--name", "Ann", "--data-dir", ":memory:"])
    assert args.run_command(args, Settings()) == 3 and args.data_dir == ":memory:"
