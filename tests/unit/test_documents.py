"""plugin.core.documents: the one YAML loader, line maps, schema sets and
schema problems shared by the plugin, the runtime and the simulator."""

from __future__ import annotations

from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from plugin.core.documents import (
    Problem,
    SchemaSet,
    UnreadableYaml,
    did_you_mean,
    load_yaml,
    parse_yaml,
    schema_problems,
)

SIGNUP = Path(__file__).parents[2] / "scenarios" / "bots" / "signup.yaml"


def test_a_document_maps_each_path_to_its_line() -> None:
    document = parse_yaml("bot:\n  id: hello\nsteps:\n  - say: hi\n  - goto: end\n")
    assert document.data == {"bot": {"id": "hello"}, "steps": [{"say": "hi"}, {"goto": "end"}]}
    lines = document.lines
    assert [lines.line(p) for p in [(), ("bot", "id"), ("steps", 1), ("steps", 1, "goto")]] == [
        1, 2, 5, 5]
    # A path that leaves the document points at the deepest part that exists.
    assert [lines.line(p) for p in [("bot", "name"), ("steps", 9), ("bot", "id", 0)]] == [1, 3, 2]


def test_a_flow_mapping_with_a_question_mark_reads_the_same_everywhere() -> None:
    text = SIGNUP.read_text("utf-8")
    assert parse_yaml(text).data == load_yaml(text)
    signup = load_yaml(text)["modules"]["signup"]["steps"][1]["ask"]
    assert signup == {"property": "age", "prompt": "How old are you?", "retries": 3}


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        # libyaml and the pure-Python parser word this one differently; both say where.
        ("a: [1\n", 2, "(while parsing a flow sequence started at line 1)"),
        ("", None, "the file is empty"),
        ("# only a comment\n", None, "the file is empty"),
        ("a: 1\n---\nb: 2\n", 2, "invalid YAML: but found another document (expected a "
                                  "single document in the stream started at line 1)"),
        # A safe loader: no Python objects.
        ("a: !!python/name:os.system\n", 1,
         "could not determine a constructor for the tag 'tag:yaml.org,2002:python/name:os.system'"),
    ],
)
def test_unreadable_yaml_says_where_and_why(text: str, line: int | None, reason: str) -> None:
    with pytest.raises(UnreadableYaml) as caught:
        parse_yaml(text)
    problem = caught.value.problem
    assert (problem.path, problem.line) == ("", line)
    assert problem.reason.endswith(reason)
    assert caught.value.code == "invalid_yaml"


def test_a_schema_set_loads_a_package_folder_with_references_between_schemas() -> None:
    schemas = SchemaSet("plugin.schemas")
    assert "filter" in schemas.names() and "segment.create" in schemas.names()
    assert schemas.schema("filter") is schemas.schema("filter")
    assert schemas.validator("segment.create") is schemas.validator("segment.create")
    for name in schemas.names():
        Draft202012Validator.check_schema(schemas.schema(name))
    # segment.create refers to "filter": a bad condition is found through the reference.
    errors = list(schemas.validator("segment.create").iter_errors(
        {"name": "x", "filter": {"conditions": "nope"}}))
    assert errors
    with pytest.raises(FileNotFoundError):
        schemas.schema("nope")
    assert SchemaSet("runtime", "schemas").names() == ("bot",)


def test_schema_problems_point_at_an_unknown_key_and_suggest_the_closest() -> None:
    validator = Draft202012Validator({
        "type": "object",
        "additionalProperties": False,
        "properties": {"name": {"type": "string"}, "retries": {"type": "integer"}},
    })
    document = parse_yaml("name: 3\nretires: 2\n")
    assert schema_problems(validator, document.data, document.lines) == [
        Problem("name", 1, "3 is not of type 'string'"),
        Problem("retires", 2, "unknown key 'retires' (did you mean 'retries'?); "
                              "use one of: name, retries"),
    ]


def test_did_you_mean_only_suggests_a_close_name() -> None:
    assert did_you_mean("welcom", ["welcome", "checkout"]) == " (did you mean 'welcome'?)"
    assert did_you_mean("zzz", ["welcome"]) == ""
