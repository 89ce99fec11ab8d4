"""A captured conversation kept as a scenario file: a test user's timeline
(what the test-bot page captured) turned into the YAML ``audience simulate``
replays, expectations filled from what happened.

Each user message becomes a step (``say`` what was typed, ``tap`` a button
or quick reply by its title, an earlier message's button with ``earlier``),
and its ``expect`` holds what the turn did: the last reply's text (on
WhatsApp, what precedes the numbered options, and the options themselves),
the buttons, quick replies and cards shown, the properties set or refused,
and each API call's outcome. The APIs are stubbed
to answer as they did (the first call of each), so the replay needs no
backend: a failed call fails the same way, a successful one answers a body
rebuilt from the properties its ``save`` mapping set.

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml

from runtime.model import Bot, Call

from .assertions import numbered_options

__all__ = ["Turn", "turns_of", "scenario_document", "scenario_yaml"]

_MARKER_FREE = ("user_message", "bot_message", "property_set", "api_call")
# What a stub answers in place of a body the bot could not read.
_NOT_JSON = "not JSON (as the backend answered when the test was recorded)"


@dataclass(slots=True)
class Turn:
    """One user input and what followed it, in the order it happened."""

    user: Mapping[str, Any]
    replies: list[Mapping[str, Any]] = field(default_factory=list)
    properties: dict[str, Any] = field(default_factory=dict)
    rejected: list[str] = field(default_factory=list)
    # (the call's event data, the properties set after it in this turn)
    calls: list[tuple[Mapping[str, Any], dict[str, Any]]] = field(default_factory=list)


def turns_of(events: Iterable[Mapping[str, Any]]) -> list[Turn]:
    """The timeline's turns (events oldest first); what came before the first
    user message (the test user's marker) is left out."""
    turns: list[Turn] = []
    for event in events:
        kind, data = event.get("type"), event.get("data") or {}
        if kind == "user_message":
            turns.append(Turn(user=data))
            continue
        if not turns or kind not in _MARKER_FREE:
            continue
        turn = turns[-1]
        if kind == "bot_message" and not data.get("agent"):
            turn.replies.append(data)
        elif kind == "api_call":
            turn.calls.append((data, {}))
        elif kind == "property_set" and data.get("rejected"):
            turn.rejected.append(str(data.get("property")))
        elif kind == "property_set":
            name, value = str(data.get("property")), _plain(data.get("value"))
            turn.properties[name] = value
            if turn.calls:
                turn.calls[-1][1][name] = value
    return turns


def scenario_document(bot: Bot | None, bot_id: str, channel: str,
                      events: Sequence[Mapping[str, Any]], *, name: str) -> dict[str, Any]:
    """The scenario file's document (see :func:`scenario_yaml`)."""
    turns = turns_of(events)
    stubs = _stubs(bot, turns)
    steps: list[dict[str, Any]] = []
    earlier: list[Mapping[str, Any]] = []  # every bot message so far
    previous: list[Mapping[str, Any]] = []  # the last turn's that had any
    for turn in turns:
        step = _input(turn.user, previous, earlier)
        expect = _expect(turn, stubs)
        if expect:
            step["expect"] = expect
        steps.append(step)
        earlier += turn.replies
        if turn.replies:
            previous = turn.replies
    scenario: dict[str, Any] = {"name": name}
    if stubs:
        scenario["apis"] = {api: stub for api, (stub, _) in stubs.items()}
    scenario["steps"] = steps
    return {"bot": _bot_path(bot, bot_id), "channel": channel, "scenarios": [scenario]}


def scenario_yaml(bot: Bot | None, bot_id: str, channel: str,
                  events: Sequence[Mapping[str, Any]], *, name: str, header: str = "") -> str:
    """The conversation as a scenario file's text: ``header`` (comment lines),
    then the document."""
    document = scenario_document(bot, bot_id, channel, events, name=name)
    comments = "".join(f"# {line}\n" for line in header.splitlines())
    if not _bot_is_file(bot):
        comments += (f"# 'bot' names the file of bot {bot_id!r}, deployed through the API: "
                     "write its path (relative to this file) before you replay it.\n")
    text = yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
    return comments + text


class _Dumper(yaml.SafeDumper):
    """Lists indented under their key, as the example scenario files are written."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _bot_is_file(bot: Bot | None) -> bool:
    return bot is not None and Path(bot.source).is_file()


def _bot_path(bot: Bot | None, bot_id: str) -> str:
    if bot is not None and _bot_is_file(bot):
        return str(Path(bot.source).resolve())
    return f"{bot_id}.yaml"


def _plain(value: Any) -> Any:
    """A captured value as YAML writes it and the checks read it back."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _input(user: Mapping[str, Any], previous: Sequence[Mapping[str, Any]],
           earlier: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """``say`` what was typed (a numbered option's number included: the
    replay answers it the same way); ``tap`` a payload by its title among the
    last replies, or as an earlier message's button (``earlier: true``), else
    by the payload itself."""
    if user.get("text") is not None:
        return {"say": str(user["text"])}
    payload = str(user.get("payload"))
    title = _title(payload, previous, ("buttons", "quick_replies"))
    if title is not None:
        return {"tap": title}
    title = _title(payload, list(reversed(earlier)), ("buttons",))
    if title is not None:
        return {"tap": {"title": title, "earlier": True}}
    return {"tap": payload}


def _title(payload: str, replies: Sequence[Mapping[str, Any]],
           keys: tuple[str, ...]) -> str | None:
    for reply in replies:
        for key in keys:
            for choice in reply.get(key) or []:
                if choice.get("payload") == payload and choice.get("title"):
                    return str(choice["title"])
    return None


def _expect(turn: Turn, stubs: Mapping[str, tuple[Any, dict[str, Any]]]) -> dict[str, Any]:
    expect: dict[str, Any] = {}
    texts = [str(r.get("text")) for r in turn.replies if r.get("text")]
    if texts:
        last = texts[-1]
        options = numbered_options(last)
        if options:
            said = "\n".join(last.rstrip().split("\n")[: -len(options)]).strip()
            if said:
                expect["contains"] = said
            expect["options"] = options
        else:
            expect["text"] = last
    for key in ("buttons", "quick_replies", "cards"):
        titles = [str(item.get("title")) for reply in turn.replies
                  for item in reply.get(key) or [] if item.get("title") is not None]
        if titles:
            expect[key] = titles
    if turn.properties:
        expect["properties"] = dict(turn.properties)
    if turn.rejected:
        expect["rejected"] = list(dict.fromkeys(turn.rejected))
    apis: dict[str, Any] = {}
    for call, _ in turn.calls:
        name = str(call.get("name"))
        # Checked only where the stub makes the replay answer the same way.
        if name in stubs and stubs[name][1] == _outcome(call):
            apis[name] = _outcome(call)
    if apis:
        expect["apis"] = apis
    return expect


def _outcome(call: Mapping[str, Any]) -> dict[str, Any]:
    """What the scenario expects of a call: its status, or how it failed."""
    status, error = call.get("status"), call.get("error")
    if call.get("ok"):
        return {"ok": True, "status": status}
    found: dict[str, Any] = {"failed": str(error or "status")}
    if status is not None or error in ("timeout", "connection"):
        found["status"] = status
    return found


def _stubs(bot: Bot | None, turns: Sequence[Turn]) -> dict[str, tuple[Any, dict[str, Any]]]:
    """Each API called, stubbed to answer as its first call did, with that
    call's expected outcome."""
    stubs: dict[str, tuple[Any, dict[str, Any]]] = {}
    for turn in turns:
        for call, saved in turn.calls:
            name = str(call.get("name"))
            if name not in stubs:
                stubs[name] = (_stub(bot, call, saved), _outcome(call))
    return stubs


def _stub(bot: Bot | None, call: Mapping[str, Any], saved: Mapping[str, Any]) -> Any:
    status, error = call.get("status"), call.get("error")
    if error == "timeout":
        return {"fail": "timeout"}
    if error == "connection":
        return {"fail": "refused"}
    if error == "invalid_response":
        return {"status": status or 200, "text": _NOT_JSON}
    if not call.get("ok"):
        return int(status or 500)
    return {"status": int(status or 200), "body": _body(bot, str(call.get("name")), saved)}


def _body(bot: Bot | None, api: str, saved: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON answer from which the bot's ``save`` mappings of ``api`` read
    the values it stored: each property's value at its path."""
    body: dict[str, Any] = {}
    for prop, path in _save_paths(bot, api).items():
        if prop in saved:
            _put(body, path.split("."), saved[prop])
    return body


def _save_paths(bot: Bot | None, api: str) -> dict[str, str]:
    paths: dict[str, str] = {}
    if bot is None:
        return paths
    for module in bot.modules.values():
        for step in module.steps:
            if isinstance(step, Call) and step.api == api:
                paths.update(step.save)
    return paths


def _put(container: Any, parts: list[str], value: Any) -> None:
    """Set ``value`` at the dotted path ``parts`` ("items.0.id": a list at items)."""
    head, rest = parts[0], parts[1:]
    if isinstance(container, list):
        index = int(head)
        while len(container) <= index:
            container.append(None)
        if rest:
            if not isinstance(container[index], dict | list):
                container[index] = [] if rest[0].isdigit() else {}
            _put(container[index], rest, value)
        else:
            container[index] = value
        return
    if rest:
        if not isinstance(container.get(head), dict | list):
            container[head] = [] if rest[0].isdigit() else {}
        _put(container[head], rest, value)
    else:
        container[head] = value
