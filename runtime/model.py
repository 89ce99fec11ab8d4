"""The bot definition model: what a loaded bot file means, as frozen values.

Owns the dataclasses the loader builds and the engine reads, and the message
values (:class:`BotMessage` and its buttons, quick replies and cards) that a
definition holds as templates and a turn returns rendered. Pure: no I/O, no
YAML, no HTTP; imports only ``plugin.core.properties``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from plugin.core.properties import (
    SYSTEM_PROPERTIES,
    InvalidValue,
    PropertyDef,
    PropertyType,
    validate_value,
)

__all__ = [
    "Button",
    "QuickReply",
    "Card",
    "BotMessage",
    "Validation",
    "PropertySpec",
    "Api",
    "Trigger",
    "Say",
    "Ask",
    "FailureKind",
    "FailureRoutes",
    "Call",
    "BranchArm",
    "Branch",
    "Goto",
    "Handover",
    "SetValues",
    "Step",
    "Module",
    "FaqThen",
    "Faq",
    "Bot",
]


@dataclass(frozen=True, slots=True)
class Button:
    title: str
    payload: str | None = None
    url: str | None = None

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"title": self.title}
        if self.payload is not None:
            body["payload"] = self.payload
        if self.url is not None:
            body["url"] = self.url
        return body


@dataclass(frozen=True, slots=True)
class QuickReply:
    title: str
    payload: str

    def to_dict(self) -> dict[str, Any]:
        return {"title": self.title, "payload": self.payload}


@dataclass(frozen=True, slots=True)
class Card:
    title: str
    subtitle: str = ""
    image_url: str | None = None
    buttons: tuple[Button, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"title": self.title}
        if self.subtitle:
            body["subtitle"] = self.subtitle
        if self.image_url is not None:
            body["image_url"] = self.image_url
        if self.buttons:
            body["buttons"] = [b.to_dict() for b in self.buttons]
        return body


@dataclass(frozen=True, slots=True)
class BotMessage:
    """One message: a template in a definition, rendered in a turn's result."""

    text: str = ""
    buttons: tuple[Button, ...] = ()
    quick_replies: tuple[QuickReply, ...] = ()
    cards: tuple[Card, ...] = ()

    @property
    def has_call_to_action(self) -> bool:
        return bool(self.buttons or self.quick_replies or any(c.buttons for c in self.cards))

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"text": self.text}
        if self.buttons:
            body["buttons"] = [b.to_dict() for b in self.buttons]
        if self.quick_replies:
            body["quick_replies"] = [q.to_dict() for q in self.quick_replies]
        if self.cards:
            body["cards"] = [c.to_dict() for c in self.cards]
        return body


@dataclass(frozen=True, slots=True)
class Validation:
    """Rules checked after the property type's own validation."""

    regex: re.Pattern[str] | None = None
    min: float | None = None
    max: float | None = None
    min_length: int | None = None
    max_length: int | None = None


@dataclass(frozen=True, slots=True)
class PropertySpec:
    definition: PropertyDef
    validation: Validation = field(default_factory=Validation)
    error_message: str | None = None

    @property
    def name(self) -> str:
        return self.definition.name

    def check(self, raw: object) -> Any:
        """``raw`` normalised for storage: the type's validation, then the rules.

        A text answer for a list property is split on commas.

        Raises:
            InvalidValue: with the reason (not the bot's ``error_message``).
        """
        if self.definition.type is PropertyType.LIST and isinstance(raw, str):
            raw = [item.strip() for item in raw.split(",") if item.strip()]
        value = validate_value(self.definition, raw)
        rules = self.validation
        if rules.regex is not None and not rules.regex.fullmatch(_as_text(value)):
            raise InvalidValue(f"{_as_text(value)!r} does not have the expected format")
        if isinstance(value, int | float) and not isinstance(value, bool):
            if rules.min is not None and value < rules.min:
                raise InvalidValue(f"{value} is less than {rules.min:g}")
            if rules.max is not None and value > rules.max:
                raise InvalidValue(f"{value} is more than {rules.max:g}")
        if isinstance(value, str | list):
            unit = "items" if isinstance(value, list) else "characters"
            if rules.min_length is not None and len(value) < rules.min_length:
                raise InvalidValue(f"needs at least {rules.min_length} {unit}")
            if rules.max_length is not None and len(value) > rules.max_length:
                raise InvalidValue(f"takes at most {rules.max_length} {unit}")
        return value


def _as_text(value: object) -> str:
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


@dataclass(frozen=True, slots=True)
class Api:
    """A backend call; url, header values and body strings are templates."""

    name: str
    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None
    timeout: float = 5.0


@dataclass(frozen=True, slots=True)
class Trigger:
    """What starts a module or answers an FAQ. Keywords match whole words
    ignoring case; patterns are searched ignoring case; payloads are exact."""

    keywords: tuple[str, ...] = ()
    patterns: tuple[re.Pattern[str], ...] = ()
    payloads: tuple[str, ...] = ()
    keyword_patterns: tuple[re.Pattern[str], ...] = ()

    def matches_keyword(self, text: str) -> bool:
        return any(p.search(text) for p in self.keyword_patterns)

    def matches_pattern(self, text: str) -> bool:
        return any(p.search(text) for p in self.patterns)


@dataclass(frozen=True, slots=True)
class Say:
    message: BotMessage


@dataclass(frozen=True, slots=True)
class Ask:
    property: str
    prompt: BotMessage
    retries: int = 2
    on_give_up: str | None = None


class FailureKind(StrEnum):
    STATUS = "status"
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    INVALID_RESPONSE = "invalid_response"


@dataclass(frozen=True, slots=True)
class FailureRoutes:
    """Where a failed call goes, per reason; ``None`` everywhere = next step."""

    status: str | None = None
    timeout: str | None = None
    connection: str | None = None
    invalid_response: str | None = None
    default: str | None = None

    def route(self, kind: FailureKind) -> str | None:
        specific: str | None = getattr(self, kind.value)
        return specific or self.default

    def targets(self) -> tuple[str, ...]:
        found = (self.status, self.timeout, self.connection, self.invalid_response, self.default)
        return tuple(t for t in found if t)


@dataclass(frozen=True, slots=True)
class Call:
    api: str
    # property -> dotted path in the JSON response ("customer.plan", "items.0.id")
    save: Mapping[str, str] = field(default_factory=dict)
    on_success: str | None = None
    on_failure: FailureRoutes = field(default_factory=FailureRoutes)


@dataclass(frozen=True, slots=True)
class BranchArm:
    when: Mapping[str, Any]  # a filter: {"conditions": [...], "expression": ...}
    goto: str
    label: str
    description: str  # the conditions as readable text, for the observer


@dataclass(frozen=True, slots=True)
class Branch:
    arms: tuple[BranchArm, ...]
    otherwise: str | None = None


@dataclass(frozen=True, slots=True)
class Goto:
    module: str


@dataclass(frozen=True, slots=True)
class Handover:
    reason: str = ""


@dataclass(frozen=True, slots=True)
class SetValues:
    values: Mapping[str, Any]  # property -> value (strings are templates)


Step = Say | Ask | Call | Branch | Goto | Handover | SetValues


@dataclass(frozen=True, slots=True)
class Module:
    name: str
    steps: tuple[Step, ...]
    default: bool = False
    start: Trigger = field(default_factory=Trigger)


class FaqThen(StrEnum):
    RESUME = "resume"
    CTA = "cta"


@dataclass(frozen=True, slots=True)
class Faq:
    name: str
    trigger: Trigger
    answer: BotMessage
    then: FaqThen = FaqThen.RESUME


@dataclass(frozen=True, slots=True)
class Bot:
    id: str
    name: str
    properties: Mapping[str, PropertySpec]
    apis: Mapping[str, Api]
    modules: Mapping[str, Module]
    faqs: tuple[Faq, ...] = ()
    fallback: BotMessage | None = None
    cta: BotMessage | None = None
    api_base: str | None = None
    source: str = "<bot>"

    @property
    def default_module(self) -> Module:
        return next(m for m in self.modules.values() if m.default)

    @property
    def filter_properties(self) -> dict[str, PropertyDef]:
        """Every property a branch condition may name: system ones and the bot's."""
        custom = {name: spec.definition for name, spec in self.properties.items()}
        return {**SYSTEM_PROPERTIES, **custom}
