"""Bot files: YAML text -> JSON Schema check -> meaning checks -> :class:`Bot`.

>>> bot = parse_bot('''
... bot: {id: hello, name: Hello}
... modules:
...   welcome:
...     default: true
...     steps:
...       - say: Hi there!
... ''', "hello.yaml")
>>> bot.default_module.name
'welcome'

Every problem found is reported at once in one :class:`BotDefinitionError`,
each with the file, the path in the document (``modules/checkout/steps/2/call``),
the line (from the marks of YAML's composed node tree) and the reason. The
schema checks shape; this module checks meaning: one default module, module,
api and property references, branch conditions (with the filter engine),
regular expressions, template placeholders and literal ``set`` values.

Owns the YAML and JSON Schema handling of bots; imports no HTTP code.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from plugin.audience.filters import parse_filter
from plugin.core.documents import (
    DocumentPath,
    LineMap,
    SchemaSet,
    UnreadableYaml,
    did_you_mean,
    parse_yaml,
    schema_problems,
)
from plugin.core.errors import FilterError
from plugin.core.properties import (
    SYSTEM_PROPERTIES,
    InvalidValue,
    PropertyType,
    custom_property,
)
from runtime.errors import BotDefinitionError, Problem
from runtime.model import (
    Api,
    Ask,
    Bot,
    BotMessage,
    Branch,
    BranchArm,
    Button,
    Call,
    Card,
    FailureRoutes,
    Faq,
    FaqThen,
    Goto,
    Handover,
    Module,
    PropertySpec,
    QuickReply,
    Say,
    SetValues,
    Step,
    Trigger,
    Validation,
)
from runtime.templating import message_texts, placeholders

__all__ = ["BotReading", "load_bot", "parse_bot", "read_bot", "bot_schema", "describe_conditions"]

_SCHEMAS = SchemaSet("runtime", "schemas")
_NUMERIC_RULES = ("min", "max")
_LENGTH_RULES = ("min_length", "max_length")
_LENGTH_TYPES = frozenset(
    {PropertyType.TEXT, PropertyType.EMAIL, PropertyType.PHONE, PropertyType.LIST}
)


def bot_schema() -> dict[str, Any]:
    """The JSON Schema of a bot file (``runtime/schemas/bot.schema.json``)."""
    return _SCHEMAS.schema("bot")


def load_bot(path: str | Path) -> Bot:
    """Load the bot file at ``path``.

    Raises:
        BotDefinitionError: the file is not a valid bot (every problem listed).
        OSError: the file cannot be read.
    """
    path = Path(path)
    return parse_bot(path.read_text("utf-8"), str(path))


def parse_bot(text: str, source_name: str = "<bot>") -> Bot:
    """Parse a bot from YAML ``text``; ``source_name`` names it in errors.

    Raises:
        BotDefinitionError: the text is not a valid bot (every problem listed).
    """
    reading = read_bot(text, source_name)
    if reading.problems or reading.bot is None:
        raise BotDefinitionError(source_name, reading.problems)
    return reading.bot


@dataclass(frozen=True, slots=True)
class BotReading:
    """A bot file read as far as it goes, for tools that report rather than
    refuse (``audience lint``): ``bot`` is built whenever the YAML and its
    shape are right, even when ``problems`` lists meaning problems (an
    unknown module, an undeclared property), so it may name modules, apis and
    properties that are not there. ``lines`` maps document paths to lines."""

    bot: Bot | None
    problems: tuple[Problem, ...]
    lines: LineMap | None


def read_bot(text: str, source_name: str = "<bot>") -> BotReading:
    """Read a bot from YAML ``text`` without raising for what is wrong with it."""
    try:
        document = parse_yaml(text)
    except UnreadableYaml as exc:
        return BotReading(None, (exc.problem,), None)
    problems = schema_problems(_SCHEMAS.validator("bot"), document.data, document.lines)
    if problems:
        return BotReading(None, tuple(problems), document.lines)
    builder = _Builder(document.data, document.lines, source_name)
    bot = builder.build()
    return BotReading(bot, tuple(builder.problems), document.lines)


def describe_conditions(when: Mapping[str, Any]) -> str:
    """A branch condition as one readable line, e.g. ``budget gte 1000 and plan is_set``."""
    parts = []
    for condition in when.get("conditions", []):
        text = f"{condition.get('property')} {condition.get('operator')}"
        if "value" in condition:
            text += f" {json.dumps(condition['value'], default=str)}"
        parts.append(text)
    expression = when.get("expression")
    if not expression:
        return " and ".join(parts)
    numbered = ", ".join(f"{n}: {text}" for n, text in enumerate(parts, start=1))
    return f"{expression} where {numbered}"


class _Builder:
    """Builds the model from a schema-valid document, collecting meaning problems."""

    def __init__(self, document: dict[str, Any], lines: LineMap, source: str) -> None:
        self.doc = document
        self.lines = lines
        self.source = source
        self.problems: list[Problem] = []
        self.module_names = tuple(document["modules"])
        self.api_names = tuple(document.get("apis", {}))
        self.property_names = tuple(document.get("properties", {}))
        self.properties: dict[str, PropertySpec] = {}

    def problem(self, path: DocumentPath, reason: str) -> None:
        text = "/".join(str(p) for p in path)
        self.problems.append(Problem(text, self.lines.line(path), reason))

    def build(self) -> Bot:
        info = self.doc["bot"]
        self.properties = {
            name: spec
            for name, raw in self.doc.get("properties", {}).items()
            if (spec := self._property(name, raw)) is not None
        }
        apis = {name: self._api(name, raw) for name, raw in self.doc.get("apis", {}).items()}
        self._check_defaults()
        modules = {name: self._module(name, raw) for name, raw in self.doc["modules"].items()}
        self._check_start_payloads()
        faqs = tuple(self._faq(i, raw) for i, raw in enumerate(self.doc.get("faqs", [])))
        fallback = cta = None
        if "fallback" in info:
            fallback = self._message(("bot", "fallback"), info["fallback"])
        if "cta" in info:
            cta = self._message(("bot", "cta"), info["cta"])
        return Bot(
            id=info["id"],
            name=info["name"],
            properties=self.properties,
            apis=apis,
            modules=modules,
            faqs=faqs,
            fallback=fallback,
            cta=cta,
            api_base=info.get("api_base"),
            source=self.source,
        )

    # --- references ---------------------------------------------------------

    def _module_ref(self, path: DocumentPath, name: str | None) -> str | None:
        if name is not None and name not in self.module_names:
            self.problem(path, f"unknown module {name!r}{did_you_mean(name, self.module_names)}")
        return name

    def _property_ref(self, path: DocumentPath, name: str) -> None:
        if name in self.property_names:
            return
        if name in SYSTEM_PROPERTIES:
            self.problem(path, f"{name!r} is a system property: only the bot's properties are set")
        else:
            hint = did_you_mean(name, self.property_names)
            self.problem(path, f"undeclared property {name!r}{hint}; declare it under properties")

    def _templates(self, path: DocumentPath, texts: Iterable[str]) -> None:
        for text in texts:
            for name in placeholders(text):
                if name not in self.property_names and name not in SYSTEM_PROPERTIES:
                    hint = did_you_mean(name, self.property_names)
                    self.problem(path, f"template names undeclared property {name!r}{hint}")

    def _regex(self, path: DocumentPath, pattern: str, flags: int = 0) -> re.Pattern[str] | None:
        try:
            return re.compile(pattern, flags)
        except re.error as exc:
            self.problem(path, f"invalid regular expression {pattern!r}: {exc}")
            return None

    # --- declarations -------------------------------------------------------

    def _property(self, name: str, raw: dict[str, Any]) -> PropertySpec | None:
        path: DocumentPath = ("properties", name)
        type_ = PropertyType(raw["type"])
        if "choices" in raw and type_ is not PropertyType.CHOICE:
            self.problem((*path, "choices"), f"choices are only for choice properties, not {type_}")
        try:
            definition = custom_property(
                name, type_, raw.get("label", ""), tuple(raw.get("choices", ()))
            )
        except InvalidValue as exc:
            self.problem(path, exc.reason)
            return None
        rules = raw.get("validation", {})
        rules_path = (*path, "validation")
        for key in _NUMERIC_RULES:
            if key in rules and type_ is not PropertyType.NUMBER:
                self.problem((*rules_path, key), f"{key} is only for number properties")
        for key in _LENGTH_RULES:
            if key in rules and type_ not in _LENGTH_TYPES:
                self.problem((*rules_path, key), f"{key} is not for {type_} properties")
        for low, high in (_NUMERIC_RULES, _LENGTH_RULES):
            if low in rules and high in rules and rules[low] > rules[high]:
                self.problem((*rules_path, low), f"{low} is greater than {high}")
        regex = None
        if "regex" in rules:
            regex = self._regex((*rules_path, "regex"), rules["regex"])
        validation = Validation(
            regex=regex,
            min=rules.get("min"),
            max=rules.get("max"),
            min_length=rules.get("min_length"),
            max_length=rules.get("max_length"),
        )
        if "error_message" in raw:
            self._templates((*path, "error_message"), [raw["error_message"]])
        return PropertySpec(definition, validation, raw.get("error_message"))

    def _api(self, name: str, raw: dict[str, Any]) -> Api:
        path: DocumentPath = ("apis", name)
        self._templates((*path, "url"), [raw["url"]])
        for header, value in raw.get("headers", {}).items():
            self._templates((*path, "headers", header), [value])
        self._templates((*path, "body"), _strings(raw.get("body")))
        return Api(
            name=name,
            method=raw["method"],
            url=raw["url"],
            headers=dict(raw.get("headers", {})),
            body=raw.get("body"),
            timeout=float(raw.get("timeout", 5)),
        )

    def _message(self, path: DocumentPath, raw: str | dict[str, Any]) -> BotMessage:
        if isinstance(raw, str):
            raw = {"text": raw}

        def button(b: dict[str, Any]) -> Button:
            return Button(b["title"], b.get("payload"), b.get("url"))

        message = BotMessage(
            text=raw.get("text", ""),
            buttons=tuple(button(b) for b in raw.get("buttons", [])),
            quick_replies=tuple(
                QuickReply(q["title"], q["payload"]) for q in raw.get("quick_replies", [])
            ),
            cards=tuple(
                Card(
                    c["title"],
                    c.get("subtitle", ""),
                    c.get("image_url"),
                    tuple(button(b) for b in c.get("buttons", [])),
                )
                for c in raw.get("cards", [])
            ),
        )
        self._templates(path, message_texts(message))
        return message

    def _trigger(self, path: DocumentPath, raw: Mapping[str, Any]) -> Trigger:
        keywords = tuple(raw.get("keywords", ()))
        keyword_patterns = tuple(
            re.compile(rf"(?<!\w){re.escape(word)}(?!\w)", re.IGNORECASE) for word in keywords
        )
        patterns = tuple(
            compiled
            for i, pattern in enumerate(raw.get("patterns", ()))
            if (compiled := self._regex((*path, "patterns", i), pattern, re.IGNORECASE))
        )
        return Trigger(keywords, patterns, tuple(raw.get("payloads", ())), keyword_patterns)

    # --- modules ------------------------------------------------------------

    def _check_defaults(self) -> None:
        defaults = [name for name, raw in self.doc["modules"].items() if raw.get("default")]
        if not defaults:
            self.problem(
                ("modules",), "no default module: mark the welcome module with 'default: true'"
            )
        for extra in defaults[1:]:
            self.problem(
                ("modules", extra, "default"),
                f"more than one default module ({defaults[0]!r} is already the default)",
            )

    def _check_start_payloads(self) -> None:
        owner: dict[str, str] = {}
        for name, raw in self.doc["modules"].items():
            for i, payload in enumerate(raw.get("start", {}).get("payloads", [])):
                if payload in owner and owner[payload] != name:
                    self.problem(
                        ("modules", name, "start", "payloads", i),
                        f"payload {payload!r} already starts module {owner[payload]!r}",
                    )
                owner.setdefault(payload, name)

    def _module(self, name: str, raw: dict[str, Any]) -> Module:
        path: DocumentPath = ("modules", name)
        start = self._trigger((*path, "start"), raw.get("start", {}))
        steps = tuple(self._step((*path, "steps", i), step) for i, step in enumerate(raw["steps"]))
        return Module(name, steps, bool(raw.get("default", False)), start)

    def _step(self, path: DocumentPath, raw: dict[str, Any]) -> Step:
        ((kind, body),) = raw.items()
        path = (*path, kind)
        if kind == "say":
            return Say(self._message(path, body))
        if kind == "ask":
            self._property_ref((*path, "property"), body["property"])
            return Ask(
                property=body["property"],
                prompt=self._message((*path, "prompt"), body["prompt"]),
                retries=body.get("retries", 2),
                on_give_up=self._module_ref((*path, "on_give_up"), body.get("on_give_up")),
            )
        if kind == "call":
            return self._call(path, body)
        if kind == "branch":
            return self._branch(path, body)
        if kind == "goto":
            return Goto(self._module_ref(path, body) or body)
        if kind == "handover":
            return Handover((body or {}).get("reason", ""))
        return self._set(path, body)

    def _call(self, path: DocumentPath, body: dict[str, Any]) -> Call:
        if body["api"] not in self.api_names:
            hint = did_you_mean(body["api"], self.api_names) or (
                f" (declared: {', '.join(self.api_names)})" if self.api_names else ""
            )
            self.problem((*path, "api"), f"undeclared api {body['api']!r}{hint}")
        for prop in body.get("save", {}):
            self._property_ref((*path, "save", prop), prop)
        failure = body.get("on_failure")
        if isinstance(failure, str):
            routes = FailureRoutes(default=self._module_ref((*path, "on_failure"), failure))
        else:
            failure = failure or {}
            for reason, target in failure.items():
                self._module_ref((*path, "on_failure", reason), target)
            routes = FailureRoutes(**failure)
        return Call(
            api=body["api"],
            save=dict(body.get("save", {})),
            on_success=self._module_ref((*path, "on_success"), body.get("on_success")),
            on_failure=routes,
        )

    def _branch(self, path: DocumentPath, body: list[dict[str, Any]]) -> Branch:
        arms: list[BranchArm] = []
        otherwise = None
        properties = {
            **SYSTEM_PROPERTIES,
            **{name: spec.definition for name, spec in self.properties.items()},
        }
        for i, arm in enumerate(body):
            if "else" in arm:
                if i != len(body) - 1:
                    self.problem((*path, i, "else"), "'else' must be the last arm of a branch")
                otherwise = self._module_ref((*path, i, "else"), arm["else"])
                continue
            try:
                parse_filter(arm["when"], properties)
            except FilterError as exc:
                self.problem((*path, i, "when"), f"invalid condition: {exc.message}")
            self._module_ref((*path, i, "goto"), arm["goto"])
            label = arm.get("label", str(i))
            description = describe_conditions(arm["when"])
            arms.append(BranchArm(arm["when"], arm["goto"], label, description))
        return Branch(tuple(arms), otherwise)

    def _set(self, path: DocumentPath, body: dict[str, Any]) -> SetValues:
        for prop, value in body.items():
            self._property_ref((*path, prop), prop)
            spec = self.properties.get(prop)
            if isinstance(value, str) and placeholders(value):
                self._templates((*path, prop), [value])
            elif spec is not None:
                try:
                    spec.check(value)
                except InvalidValue as exc:
                    self.problem((*path, prop), f"invalid value for {prop!r}: {exc.reason}")
        return SetValues(dict(body))

    def _faq(self, index: int, raw: dict[str, Any]) -> Faq:
        path: DocumentPath = ("faqs", index)
        return Faq(
            name=raw["name"],
            trigger=self._trigger(path, raw),
            answer=self._message((*path, "answer"), raw["answer"]),
            then=FaqThen(raw.get("then", FaqThen.RESUME)),
        )


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []



