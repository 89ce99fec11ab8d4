"""Scenario files: YAML text -> JSON Schema check -> meaning checks -> :class:`Scenario`.

>>> from pathlib import Path
>>> [s.name for s in load_scenarios(Path("scenarios/suites/starting.yaml"))][:1]
['hi starts the welcome module']

Every problem is reported at once in one :class:`ScenarioError`, each with
the file, the path in the document (``scenarios/2/steps/1/expect/apis``), the
line and the reason: the same shape, YAML loader and line mapping as bot files
(both read through ``plugin.core.documents``). Meaning checks: the bot file loads, stubbed and
expected APIs, properties, modules and FAQs exist in the bot, regular
expressions compile, and no profile expectation is made against a target
that cannot show a profile.

Owns the YAML and JSON Schema handling of scenarios; no I/O besides reading
the files.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml

from plugin.core.documents import (
    DocumentPath,
    LineMap,
    SchemaSet,
    UnreadableYaml,
    did_you_mean,
    load_yaml,
    parse_yaml,
    schema_problems,
)
from plugin.core.properties import InvalidValue
from runtime.errors import BotDefinitionError, DocumentError, Problem
from runtime.loader import load_bot
from runtime.model import Bot

from .model import (
    DEFAULT_STEP_TIMEOUT,
    ApiExpect,
    ApiStub,
    AudienceTarget,
    Choice,
    Expect,
    Given,
    RasaTarget,
    Scenario,
    Step,
    StepKind,
    StubFailure,
    Target,
    WebhookTarget,
)

__all__ = [
    "ScenarioError",
    "scenario_schema",
    "load_scenarios",
    "parse_scenarios",
    "is_scenario_file",
    "find_scenario_files",
]

_SCHEMAS = SchemaSet("simulator", "schemas")
_DEFAULT_KEYS = ("bot", "target", "channel", "variables", "profile", "apis", "timeout", "quiet")
_PROFILE_KEYS = ("no_fallback", "properties", "set", "not_set", "rejected", "module", "apis",
                 "branch", "faq", "assigned_to")


class ScenarioError(DocumentError):
    """A scenario file that cannot be loaded (see :class:`runtime.errors.DocumentError`)."""

    code = "invalid_scenario"


def scenario_schema() -> dict[str, Any]:
    """The JSON Schema of a scenario file (``simulator/schemas/scenario.schema.json``)."""
    return _SCHEMAS.schema("scenario")


def is_scenario_file(path: Path) -> bool:
    """Whether the YAML file at ``path`` looks like scenarios (a top-level
    ``scenarios`` key) rather than, say, a bot definition beside them."""
    try:
        document = load_yaml(path.read_text("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError):
        return True  # let the loader report it
    return isinstance(document, dict) and "scenarios" in document


def find_scenario_files(paths: Iterable[Path]) -> list[Path]:
    """The scenario files named by ``paths``: files as given, directories walked
    for ``*.yaml``/``*.yml`` files that hold scenarios."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            candidates = sorted([*path.rglob("*.yaml"), *path.rglob("*.yml")])
            found += [p for p in candidates if is_scenario_file(p)]
        else:
            found.append(path)
    return list(dict.fromkeys(found))


def load_scenarios(path: Path, *, target: Target = None,
                   channels: tuple[str, ...] | None = None) -> list[Scenario]:
    """Load the scenario file at ``path``.

    ``target`` and ``channels`` (from the command line) replace what the file says.

    Raises:
        ScenarioError: the file is not valid (every problem listed).
        OSError: the file cannot be read.
    """
    return parse_scenarios(path.read_text("utf-8"), path, target=target, channels=channels)


def parse_scenarios(text: str, path: Path, *, target: Target = None,
                    channels: tuple[str, ...] | None = None) -> list[Scenario]:
    """Parse scenarios from YAML ``text``; ``path`` names the file and anchors
    relative bot paths.

    Raises:
        ScenarioError: the text is not valid (every problem listed).
    """
    source = str(path)
    try:
        document = parse_yaml(text)
    except UnreadableYaml as exc:
        raise ScenarioError(source, [exc.problem]) from None
    problems = schema_problems(_SCHEMAS.validator("scenario"), document.data, document.lines)
    # Meaning is checked too, in every scenario the schema found nothing wrong
    # with, so that one run reports all there is to fix.
    broken = _broken_scenarios(problems)
    if broken is None:
        raise ScenarioError(source, problems)
    builder = _Builder(document.data, document.lines, path, target, channels)
    scenarios = builder.build(skip=broken)
    problems = [*problems, *builder.problems]
    if problems:
        raise ScenarioError(source, sorted(problems, key=lambda p: (p.line or 0, p.path)))
    return scenarios


def _broken_scenarios(problems: Iterable[Problem]) -> set[int] | None:
    """The indexes of the scenarios ``problems`` lie in; ``None`` when one lies
    outside any scenario (the file's defaults, its shape), which every
    scenario reads."""
    broken: set[int] = set()
    for problem in problems:
        parts = problem.path.split("/")
        if len(parts) < 2 or parts[0] != "scenarios" or not parts[1].isdigit():
            return None
        broken.add(int(parts[1]))
    return broken


class _Builder:
    """Builds scenarios from a schema-valid document, collecting meaning problems."""

    def __init__(self, document: dict[str, Any], lines: LineMap, path: Path,
                 target: Target, channels: tuple[str, ...] | None) -> None:
        self.doc = document
        self.lines = lines
        self.path = path
        self.target_override = target
        self.channels_override = channels
        self.problems: list[Problem] = []
        self._bots: dict[Path, Bot | None] = {}

    def problem(self, path: DocumentPath, reason: str) -> None:
        found = Problem("/".join(str(p) for p in path), self.lines.line(path), reason)
        if found not in self.problems:  # a file-level default is checked once per scenario
            self.problems.append(found)

    def build(self, skip: Collection[int] = ()) -> list[Scenario]:
        """The scenarios, all but those at the indexes in ``skip`` (which the
        schema refused)."""
        scenarios = []
        seen: dict[str, int] = {}
        for index, raw in enumerate(self.doc["scenarios"]):
            if index in skip:
                continue
            path: DocumentPath = ("scenarios", index)
            if raw["name"] in seen:
                self.problem((*path, "name"), f"scenario name {raw['name']!r} is already used "
                                              f"by scenario {seen[raw['name']]}")
            seen.setdefault(raw["name"], index)
            scenarios.append(self._scenario(path, raw))
        return scenarios

    def _setting(self, raw: Mapping[str, Any], path: DocumentPath,
                 key: str) -> tuple[Any, DocumentPath]:
        """A scenario's own value for ``key``, else the file's default, with its path."""
        if key in raw:
            return raw[key], (*path, key)
        return self.doc.get(key), (key,)

    def _scenario(self, path: DocumentPath, raw: dict[str, Any]) -> Scenario:
        target_raw, _ = self._setting(raw, path, "target")
        target = self.target_override or _target(target_raw)
        bot_raw, bot_path = self._setting(raw, path, "bot")
        bot_file, bot = None, None
        if bot_raw is not None:
            bot_file = (self.path.parent / bot_raw).resolve()
            bot = self._bot(bot_path, bot_file)
        elif not isinstance(target, WebhookTarget | RasaTarget):
            self.problem(path, "no bot: give 'bot' (the bot's YAML file) here or at the top "
                               "of the file, or a webhook target")
        channel_raw, _ = self._setting(raw, path, "channel")
        given, given_channel = None, None
        if "given" in raw:
            given = self._given((*path, "given"), raw["given"], bot, target)
            given_channel = raw["given"].get("channel")
        channels = _channels(channel_raw)
        if given_channel is not None:
            if "channel" in raw and given_channel not in channels:
                self.problem((*path, "given", "channel"),
                             f"the conversation is on {given_channel!r}, but the scenario "
                             f"runs on {', '.join(channels)}: drop one of the two")
            channels = (given_channel,)
        channels = self.channels_override or channels
        apis_raw, apis_path = self._setting(raw, path, "apis")
        stubs = {name: _stub(name, spec) for name, spec in (apis_raw or {}).items()}
        if bot is not None:
            for name in stubs:
                self._api_ref((*apis_path, name), bot, name)
        profile_raw, _ = self._setting(raw, path, "profile")
        variables_raw, _ = self._setting(raw, path, "variables")
        timeout_raw, _ = self._setting(raw, path, "timeout")
        quiet_raw, _ = self._setting(raw, path, "quiet")
        known_properties = set(profile_raw or {})
        steps = tuple(
            self._step((*path, "steps", i), step, bot, known_properties, target)
            for i, step in enumerate(raw["steps"])
        )
        expect = None
        if "expect" in raw:
            expect = self._expect((*path, "expect"), raw["expect"], bot, known_properties, target)
        return Scenario(
            name=raw["name"],
            source=str(self.path),
            line=self.lines.line(path),
            bot_file=bot_file,
            target=target,
            channels=channels,
            steps=steps,
            profile=dict(profile_raw or {}),
            apis=stubs,
            variables=dict(variables_raw or {}),
            expect=expect,
            ends_with_cta=bool(raw.get("ends_with_cta", False)),
            timeout=float(timeout_raw or DEFAULT_STEP_TIMEOUT),
            given=given,
            quiet=float(quiet_raw or 0),
        )

    def _given(self, path: DocumentPath, raw: dict[str, Any], bot: Bot | None,
               target: Target) -> Given:
        if isinstance(target, WebhookTarget | RasaTarget):
            self.problem(path, "'given' starts mid-flow through the reference runtime or an "
                               "Audience server's dummy channel (POST /v1/channels/dummy/"
                               "{bot_id}/start); this target has no such hook")
        properties = {name: _plain(value) for name, value in (raw.get("profile") or {}).items()}
        if bot is not None:
            self._name_ref((*path, "module"), "module", raw["module"], bot.modules)
            for name, value in properties.items():
                spec = bot.properties.get(name)
                if spec is None:
                    self._name_ref((*path, "profile", name), "property", name, bot.properties)
                    continue
                try:
                    spec.check(value)
                except InvalidValue as exc:
                    self.problem((*path, "profile", name), f"not a valid {name}: {exc.reason}")
        return Given(raw["module"], properties, self.lines.line(path))

    def _bot(self, path: DocumentPath, file: Path) -> Bot | None:
        if file not in self._bots:
            try:
                self._bots[file] = load_bot(file)
            except OSError as exc:
                self.problem(path, f"cannot read the bot file {str(file)!r}: {exc.strerror}")
                self._bots[file] = None
            except BotDefinitionError as exc:
                first = exc.problems[0].describe(str(file))
                self.problem(path, f"the bot file is invalid: {first}")
                self._bots[file] = None
        return self._bots[file]

    def _step(self, path: DocumentPath, raw: dict[str, Any], bot: Bot | None,
              known: set[str], target: Target) -> Step:
        kind = StepKind.SAY if "say" in raw else StepKind.TAP
        expect = None
        if "expect" in raw:
            expect = self._expect((*path, "expect"), raw["expect"], bot, known, target)
        value, earlier = raw[kind.value], False
        if isinstance(value, dict):
            value, earlier = value["title"], bool(value.get("earlier", False))
        return Step(kind, str(value), expect, self.lines.line(path),
                    timeout=raw.get("timeout"), quiet=raw.get("quiet"), earlier=earlier)

    # --- expectations -------------------------------------------------------

    def _expect(self, path: DocumentPath, raw: dict[str, Any], bot: Bot | None, known: set[str],
                target: Target) -> Expect:
        if isinstance(target, WebhookTarget):
            for key in _PROFILE_KEYS:
                if key in raw:
                    self.problem((*path, key), f"'{key}' reads the captured profile, which a "
                                               "webhook target does not have; check replies only")
        if "regex" in raw:
            try:
                re.compile(raw["regex"])
            except re.error as exc:
                self.problem((*path, "regex"), f"invalid regular expression: {exc}")
        if bot is not None:
            self._check_references(path, raw, bot, known)
        apis = {name: _api_expect(spec) for name, spec in raw.get("apis", {}).items()}
        return Expect(
            text=raw.get("text"),
            contains=raw.get("contains"),
            regex=raw.get("regex"),
            messages=raw.get("messages"),
            buttons=_choices(raw.get("buttons")),
            quick_replies=_choices(raw.get("quick_replies")),
            options=_choices(raw.get("options")),
            offers=_choices(raw.get("offers")),
            cards=tuple(raw["cards"]) if "cards" in raw else None,
            no_fallback=bool(raw.get("no_fallback", False)),
            properties=dict(raw.get("properties", {})),
            set=tuple(raw.get("set", ())),
            not_set=tuple(raw.get("not_set", ())),
            rejected=tuple(raw.get("rejected", ())),
            module=raw.get("module"),
            apis=apis,
            branch=raw.get("branch"),
            faq=raw.get("faq"),
            assigned_to=raw.get("assigned_to"),
            lines={key: self.lines.line((*path, key)) for key in raw},
        )

    def _check_references(self, path: DocumentPath, raw: dict[str, Any], bot: Bot,
                          known: set[str]) -> None:
        properties = set(bot.properties) | known
        for key in ("set", "not_set", "rejected"):
            for i, name in enumerate(raw.get(key, ())):
                self._name_ref((*path, key, i), "property", name, properties)
        for name in raw.get("properties", {}):
            self._name_ref((*path, "properties", name), "property", name, properties)
        for name in raw.get("apis", {}):
            self._api_ref((*path, "apis", name), bot, name)
        if "module" in raw:
            self._name_ref((*path, "module"), "module", raw["module"], bot.modules)
        if "faq" in raw:
            self._name_ref((*path, "faq"), "faq", raw["faq"], [f.name for f in bot.faqs])
        if "branch" in raw:
            labels = {arm.label for module in bot.modules.values() for step in module.steps
                      for arm in getattr(step, "arms", ())} | {"else"}
            self._name_ref((*path, "branch"), "branch label", raw["branch"], labels)

    def _name_ref(self, path: DocumentPath, kind: str, name: str, known: Iterable[str]) -> None:
        known = list(known)
        if name not in known:
            self.problem(path, f"the bot has no {kind} {name!r}{did_you_mean(name, known)}")

    def _api_ref(self, path: DocumentPath, bot: Bot, name: str) -> None:
        if name not in bot.apis:
            hint = did_you_mean(name, bot.apis) or f" (it has: {', '.join(bot.apis) or 'none'})"
            self.problem(path, f"the bot has no api {name!r}{hint}")
        elif not bot.apis[name].url.startswith("${API_BASE}"):
            self.problem(path, f"api {name!r} does not call ${{API_BASE}}, so it cannot be "
                               "stubbed or observed by the simulator's stub server")


def _target(raw: Any) -> Target:
    if raw is None or raw == "in-process":
        return None
    if "audience" in raw:
        return AudienceTarget(raw["audience"].rstrip("/"), raw.get("key"))
    hook = raw["webhook"]
    return WebhookTarget(hook["url"], dict(hook.get("headers", {})),
                         dict(hook.get("request", {})), dict(hook.get("reply", {})))


def _plain(value: Any) -> Any:
    """A YAML value as JSON carries it: dates and times in ISO 8601."""
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _channels(raw: Any) -> tuple[str, ...]:
    if raw is None:
        return ("web",)
    return (raw,) if isinstance(raw, str) else tuple(raw)


def _stub(name: str, raw: int | dict[str, Any]) -> ApiStub:
    if isinstance(raw, int):
        return ApiStub(name, status=raw)
    fail = StubFailure(raw["fail"]) if "fail" in raw else None
    return ApiStub(name, status=raw.get("status", 200), body=raw.get("body"),
                   text=raw.get("text"), delay=float(raw.get("delay", 0)), fail=fail)


def _choices(raw: list[Any] | None) -> tuple[Choice, ...] | None:
    if raw is None:
        return None
    return tuple(Choice(title=c) if isinstance(c, str) else Choice(**c) for c in raw)


def _api_expect(raw: dict[str, Any]) -> ApiExpect:
    return ApiExpect(status=raw.get("status"), status_given="status" in raw,
                     failed=raw.get("failed"), ok=raw.get("ok"),
                     called=raw.get("called", True))
