"""Rasa end-to-end test files (``test_cases:``) run against a Rasa bot's REST
channel, with what happened read from the capture (the events the broker
consumer stored under ``--bot-id``), not from Rasa.

Both forms of a test case are read::

    test_cases:
      - test_case: an order                    # steps form
        steps:
          - user: hello
          - utter: utter_greet                 # a response, by name
          - bot: Hi! What would you like?      # a bot message, by its text
          - user: /order
          - slot_was_set:
              - email                          # set to anything
              - vip: true                      # set to this value
          - slot_was_not_set: [quantity]
      - test_case: the order flow               # assertions form
        steps:
          - user: /order
            assertions:
              - flow_started: order
              - action_executed: action_greet_user
              - bot_uttered: {utter_name: utter_ask_email, text_matches: "email", buttons: [...]}
              - slot_was_set: [{name: name, value: Ada}]
              - slot_was_not_set: [{name: quantity}]

In the steps form the ``bot`` and ``utter`` steps after a user message match
that turn's bot messages in order; slot steps look at the whole turn.
``flow_completed``, ``flow_cancelled`` and ``bot_did_not_utter`` are read
too; anything else (fixtures, metadata, stubbed actions, generative
assertions) is refused with its name and line.

Capture shapes read (:mod:`connectors.rasa.events`): ``bot_message`` with
``response`` (the utter action), ``property_set`` (slots), ``module_entered``
(flows started), custom ``module_left`` (flows completed or cancelled) and
custom ``action``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from plugin.core.documents import LineMap, Problem, UnreadableYaml, load_yaml, parse_yaml
from runtime.errors import DocumentError

from .assertions import ExpectationFailed, describe_replies
from .model import DEFAULT_STEP_TIMEOUT, RasaTarget, Scenario, Target

__all__ = ["E2eError", "E2eStep", "E2eScript", "is_e2e_file", "find_e2e_files", "load_e2e"]

_STEP_KEYS = ("user", "bot", "utter", "slot_was_set", "slot_was_not_set")
_ASSERTIONS = ("flow_started", "flow_completed", "flow_cancelled", "action_executed",
               "bot_uttered", "bot_did_not_utter", "slot_was_set", "slot_was_not_set")
_CASE_KEYS = ("test_case", "steps")
_FILE_KEYS = ("test_cases",)


class E2eError(DocumentError):
    """A Rasa e2e test file that cannot be run (see :class:`runtime.errors.DocumentError`)."""

    code = "invalid_e2e_test"


@dataclass(frozen=True, slots=True)
class E2eStep:
    kind: str  # user, bot, utter, slot_was_set, slot_was_not_set, or an assertion's name
    value: Any
    line: int
    assertions: tuple[E2eStep, ...] = ()  # a user step's, in the assertions form

    def describe(self) -> str:
        return f"{self.kind}: {self.value!r} (line {self.line})"


def is_e2e_file(path: Path) -> bool:
    """Whether the YAML file at ``path`` holds Rasa e2e tests (``test_cases``)."""
    try:
        document = load_yaml(path.read_text("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError, OSError):
        return False
    return isinstance(document, dict) and "test_cases" in document


def find_e2e_files(paths: Iterable[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        candidates = sorted([*path.rglob("*.yaml"), *path.rglob("*.yml")]) if path.is_dir() \
            else [path]
        found += [p for p in candidates if p.suffix in (".yaml", ".yml") and is_e2e_file(p)]
    return list(dict.fromkeys(found))


def load_e2e(path: Path, *, target: Target, channels: Sequence[str] = ("web",),
             timeout: float = DEFAULT_STEP_TIMEOUT) -> list[Scenario]:
    """The test cases of the Rasa e2e file at ``path``, as scenarios.

    Raises:
        E2eError: every problem of the file (with its line).
        OSError: the file cannot be read.
    """
    source = str(path)
    try:
        document = parse_yaml(path.read_text("utf-8"))
    except UnreadableYaml as exc:
        raise E2eError(source, [exc.problem]) from None
    reader = _Reader(document.lines)
    cases = reader.cases(document.data)
    if not isinstance(target, RasaTarget):
        reader.problem(("test_cases",), "Rasa e2e tests run against a Rasa bot: give "
                                        "--target rasa+http://host:5005 --bot-id ID")
    if reader.problems:
        raise E2eError(source, sorted(reader.problems, key=lambda p: p.line or 0))
    return [Scenario(name=name, source=source, line=line, bot_file=None, target=target,
                     channels=tuple(channels), steps=(), timeout=timeout,
                     script=E2eScript(steps))
            for name, line, steps in cases]


class _Reader:
    def __init__(self, lines: LineMap) -> None:
        self.lines = lines
        self.problems: list[Problem] = []

    def problem(self, path: tuple[str | int, ...], reason: str) -> None:
        self.problems.append(Problem("/".join(map(str, path)), self.lines.line(path), reason))

    def cases(self, data: Any) -> list[tuple[str, int, tuple[E2eStep, ...]]]:
        if not isinstance(data, dict) or not isinstance(data.get("test_cases"), list):
            self.problem((), "a Rasa e2e test file has a list under 'test_cases'")
            return []
        for key in data:
            if key not in _FILE_KEYS:
                self.problem((key,), f"'{key}' is not supported (only test_cases)")
        cases = []
        for index, raw in enumerate(data["test_cases"]):
            path: tuple[str | int, ...] = ("test_cases", index)
            if not isinstance(raw, dict) or not isinstance(raw.get("test_case"), str) \
                    or not isinstance(raw.get("steps"), list):
                self.problem(path, "a test case has 'test_case' (its name) and 'steps'")
                continue
            for key in raw:
                if key not in _CASE_KEYS:
                    self.problem((*path, key), f"'{key}' is not supported")
            steps = tuple(s for i, item in enumerate(raw["steps"])
                          if (s := self.step((*path, "steps", i), item)) is not None)
            cases.append((raw["test_case"], self.lines.line(path), steps))
        return cases

    def step(self, path: tuple[str | int, ...], raw: Any) -> E2eStep | None:
        keys = [k for k in (raw if isinstance(raw, dict) else {}) if k in _STEP_KEYS]
        if len(keys) != 1:
            self.problem(path, f"a step is one of: {', '.join(_STEP_KEYS)}")
            return None
        kind = keys[0]
        line = self.lines.line((*path, kind))
        for key in raw:
            if key != kind and not (kind == "user" and key == "assertions"):
                self.problem((*path, key), f"'{key}' is not supported on a {kind} step")
        value = raw[kind]
        if kind in ("user", "bot", "utter") and not isinstance(value, str):
            self.problem((*path, kind), f"'{kind}' takes a string")
        if kind.startswith("slot_was"):
            value = self.slots((*path, kind), value, steps_form=True)
        assertions: tuple[E2eStep, ...] = ()
        if kind == "user" and "assertions" in raw:
            assertions = self.assertions((*path, "assertions"), raw["assertions"])
        return E2eStep(kind, value, line, assertions)

    def slots(self, path: tuple[str | int, ...], raw: Any, *, steps_form: bool
              ) -> tuple[tuple[str, bool, Any], ...]:
        """(name, value given, value) for each slot named."""
        if not isinstance(raw, list):
            self.problem(path, "a list of slots")
            return ()
        slots: list[tuple[str, bool, Any]] = []
        for i, item in enumerate(raw):
            if isinstance(item, str):
                slots.append((item, False, None))
            elif steps_form and isinstance(item, dict) and len(item) == 1:
                (name, value), = item.items()
                slots.append((str(name), True, value))
            elif not steps_form and isinstance(item, dict) and isinstance(item.get("name"), str):
                slots.append((item["name"], "value" in item, item.get("value")))
            else:
                self.problem((*path, i), "a slot is a name or {name: value}" if steps_form
                             else "a slot is {name: ..., value: ...}")
        return tuple(slots)

    def assertions(self, path: tuple[str | int, ...], raw: Any) -> tuple[E2eStep, ...]:
        if not isinstance(raw, list):
            self.problem(path, "'assertions' is a list")
            return ()
        found: list[E2eStep] = []
        for i, item in enumerate(raw):
            if not isinstance(item, dict) or len(item) != 1:
                self.problem((*path, i), "an assertion is one key: its kind")
                continue
            (kind, value), = item.items()
            line = self.lines.line((*path, i, kind))
            if kind not in _ASSERTIONS:
                self.problem((*path, i, kind), f"unsupported assertion '{kind}' (supported: "
                                               f"{', '.join(_ASSERTIONS)})")
                continue
            if kind.startswith("slot_was"):
                value = self.slots((*path, i, kind), value, steps_form=False)
            elif kind.startswith("bot_"):
                value = self.utterance((*path, i, kind), value)
            elif kind in ("flow_completed", "flow_cancelled"):
                value = value.get("flow_id") if isinstance(value, dict) else value
            if kind in ("flow_started", "action_executed", "flow_completed",
                        "flow_cancelled") and not isinstance(value, str):
                self.problem((*path, i, kind), f"'{kind}' names a flow or an action")
            found.append(E2eStep(str(kind), value, line))
        return tuple(found)

    def utterance(self, path: tuple[str | int, ...], raw: Any) -> dict[str, Any]:
        if not isinstance(raw, dict) or not raw:
            self.problem(path, "a bot utterance is {utter_name, text_matches, buttons}")
            return {}
        for key in raw:
            if key not in ("utter_name", "text_matches", "buttons"):
                self.problem((*path, key), f"'{key}' is not supported")
        if "text_matches" in raw:
            try:
                re.compile(str(raw["text_matches"]))
            except re.error as exc:
                self.problem((*path, "text_matches"), f"invalid regular expression: {exc}")
        return dict(raw)


# --- playing -----------------------------------------------------------------


def _turn(events: Sequence[Mapping[str, Any]], kind: str) -> list[Mapping[str, Any]]:
    return [e for e in events if e.get("type") == kind]


@dataclass(frozen=True, slots=True)
class E2eScript:
    steps: tuple[E2eStep, ...]

    @property
    def steps_total(self) -> int:
        return len(self.steps)

    async def play(self, live: Any, started: Callable[[int], None], timeout: float) -> Any:
        from .runner import Failure

        events: list[Mapping[str, Any]] = []
        cursor = 0  # the turn's bot messages matched so far
        for number, step in enumerate(self.steps, 1):
            started(number)
            try:
                async with asyncio.timeout(timeout):
                    if step.kind == "user":
                        await live.say(step.value)
                        cursor = 0
                        events = []
                        if step.assertions:
                            events = (await live.captured()).turn_events()
                            for assertion in step.assertions:
                                _check(assertion, events)
                        continue
                    if not events:
                        events = (await live.captured()).turn_events()
                    if step.kind in ("bot", "utter"):
                        cursor = _next_message(step, _turn(events, "bot_message"), cursor)
                    else:
                        _check(step, events)
            except TimeoutError:
                return Failure(number, step.describe(), "timeout",
                               f"the step to finish within {timeout:g}s", "no answer in time",
                               step.line)
            except ExpectationFailed as failed:
                return Failure(number, step.describe(), failed.what, failed.expected,
                               failed.actual, step.line)
        return None


def _next_message(step: E2eStep, messages: Sequence[Mapping[str, Any]], cursor: int) -> int:
    """The bot message after ``cursor`` that ``step`` names; the new cursor."""
    key = "text" if step.kind == "bot" else "response"
    for index in range(cursor, len(messages)):
        if messages[index]["data"].get(key) == step.value:
            return index + 1
    said = [m["data"] for m in messages[cursor:]]
    shown = describe_replies(said) if step.kind == "bot" else repr(
        [m.get("response") for m in said])
    raise ExpectationFailed(step.kind, f"a bot message {'' if step.kind == 'bot' else 'from '}"
                            f"{step.value!r}", shown or "no more bot messages")


def _check(step: E2eStep, events: Sequence[Mapping[str, Any]]) -> None:
    kind, value = step.kind, step.value
    if kind == "flow_started":
        started = [e["data"].get("module") for e in _turn(events, "module_entered")]
        if value not in started:
            raise ExpectationFailed(kind, f"flow {value!r} started", repr(started))
    elif kind in ("flow_completed", "flow_cancelled"):
        reason = kind.removeprefix("flow_")
        left = [(e["data"].get("module"), e["data"].get("reason"))
                for e in _turn(events, "custom") if e["data"].get("name") == "module_left"]
        if (value, reason) not in left:
            raise ExpectationFailed(kind, f"flow {value!r} {reason}", repr(left))
    elif kind == "action_executed":
        actions = [e["data"].get("action") for e in _turn(events, "custom")
                   if e["data"].get("name") == "action"]
        if value not in actions:
            raise ExpectationFailed(kind, f"action {value!r} run", repr(actions))
    elif kind in ("bot_uttered", "bot_did_not_utter"):
        messages = [e["data"] for e in _turn(events, "bot_message")]
        matched = any(_utters(value, m) for m in messages)
        if matched != (kind == "bot_uttered"):
            raise ExpectationFailed(kind, f"{'a' if matched is False else 'no'} bot message "
                                    f"like {value!r}", describe_replies(messages))
    else:
        _slots(kind, value, [e["data"] for e in _turn(events, "property_set")
                             if not e["data"].get("rejected")])


def _utters(wanted: Mapping[str, Any], message: Mapping[str, Any]) -> bool:
    if "utter_name" in wanted and message.get("response") != wanted["utter_name"]:
        return False
    if "text_matches" in wanted and not re.search(str(wanted["text_matches"]),
                                                  str(message.get("text") or "")):
        return False
    if "buttons" in wanted:
        got = [{"title": b.get("title"), "payload": b.get("payload")}
               for b in message.get("buttons") or []]
        want = [{"title": b.get("title"), "payload": b.get("payload")}
                for b in wanted["buttons"] or []]
        return got == want
    return True


def _slots(kind: str, slots: Sequence[tuple[str, bool, Any]],
           sets: Sequence[Mapping[str, Any]]) -> None:
    for name, given, value in slots:
        values = [s.get("value") for s in sets if s.get("property") == name]
        hit = bool(values) if not given else any(_same(value, v) for v in values)
        if hit != (kind == "slot_was_set"):
            wanted = f"slot {name!r}" + (f" = {value!r}" if given else "")
            state = "set" if kind == "slot_was_set" else "not set"
            raise ExpectationFailed(kind, f"{wanted} {state} in this turn",
                                    f"set to {values!r}" if values else "not set")


def _same(expected: Any, actual: Any) -> bool:
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected is actual
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        return float(expected) == float(actual)
    return bool(expected == actual)
