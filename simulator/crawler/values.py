"""What the crawler types: a text each starting rule fires on (a keyword, a
sample of each pattern), valid answers to a question and invalid ones made
from the property's type, and the JSON body a successful call answers with.

Valid answers are a plain one that passes the property's checks, plus the
values its branch conditions compare with (``seats gte 100``: 100 and 99), so
that each arm has a chance. Invalid ones follow the type: a malformed email
or phone, a number out of range, a choice that is not there, too many list
items, empty text.

Pure; the only randomness is the :class:`random.Random` a caller passes, so
the same seed gives the same values.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator, Mapping
from re import _constants as sre  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

from plugin.core.properties import InvalidValue, PropertyType
from runtime.model import Bot, Branch, Call, PropertySpec

__all__ = ["sample", "valid_answers", "invalid_answers", "success_body", "saved_variants",
           "neutral_text"]

_PLAIN: dict[PropertyType, str] = {
    PropertyType.TEXT: "Ada Lovelace",
    PropertyType.EMAIL: "ada@example.com",
    PropertyType.PHONE: "+442079460000",
    PropertyType.DATE: "2026-06-03",
    PropertyType.BOOLEAN: "yes",
    PropertyType.LIST: "ai, web",
    PropertyType.NUMBER: "20",
}
_INVALID: dict[PropertyType, tuple[str, ...]] = {
    PropertyType.EMAIL: ("not-an-email",),
    PropertyType.PHONE: ("call me",),
    PropertyType.NUMBER: ("lots",),
    PropertyType.DATE: ("next tuesday",),
    PropertyType.BOOLEAN: ("maybe",),
    PropertyType.CHOICE: ("no-such-choice",),
    PropertyType.LIST: (),
    PropertyType.TEXT: (),
}
_MAX_REPEAT = 3


def sample(pattern: str, rng: random.Random) -> str | None:
    """A text ``pattern`` matches (searched, ignoring case), or ``None`` when it
    uses what the sampler does not know (look-arounds, back references)."""
    try:
        parsed = sre_parse.parse(pattern, re.IGNORECASE)
        text = "".join(_sample(parsed, rng))
    except (re.error, _Unsupported):
        return None
    return text if re.search(pattern, text, re.IGNORECASE) else None


class _Unsupported(Exception):
    pass


def _sample(items: Any, rng: random.Random) -> Iterator[str]:
    for op, arg in items:
        if op is sre.LITERAL:
            yield chr(arg)
        elif op is sre.NOT_LITERAL:
            yield "x" if chr(arg) != "x" else "y"
        elif op is sre.ANY:
            yield "x"
        elif op is sre.IN:
            yield _in(arg)
        elif op is sre.BRANCH:
            yield from _sample(rng.choice(arg[1]), rng)
        elif op is sre.SUBPATTERN:
            yield from _sample(arg[3], rng)
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT, getattr(sre, "POSSESSIVE_REPEAT", None)):
            low, high, body = arg
            count = max(low, min(1, high))
            count = min(count if high is sre.MAXREPEAT else min(count, high), _MAX_REPEAT)
            for _ in range(count):
                yield from _sample(body, rng)
        elif op is sre.AT:
            continue
        else:
            raise _Unsupported(str(op))


def _in(items: Any) -> str:
    negated = any(op is sre.NEGATE for op, _ in items)
    if negated:
        return "x"
    for op, arg in items:
        if op is sre.LITERAL:
            return chr(arg)
        if op is sre.RANGE:
            return chr(arg[0])
        if op is sre.CATEGORY:
            return {sre.CATEGORY_DIGIT: "7", sre.CATEGORY_SPACE: " "}.get(arg, "a")
    raise _Unsupported("IN")


def neutral_text(bot: Bot) -> str:
    """A first message no starting rule and no FAQ takes: it starts the default
    module, and later it falls back."""
    for text in ("good day to you", "zzz qqq", "0"):
        said = text
        modules = bot.modules.values()
        if any(m.start.matches_keyword(said) or m.start.matches_pattern(said) for m in modules):
            continue
        if any(f.trigger.matches_keyword(said) or f.trigger.matches_pattern(said)
               for f in bot.faqs):
            continue
        return text
    return "…"


def _valid(spec: PropertySpec, text: str) -> bool:
    try:
        spec.check(text)
    except InvalidValue:
        return False
    return True


def _plain(spec: PropertySpec, rng: random.Random) -> str:
    kind = spec.definition.type
    rules = spec.validation
    if kind is PropertyType.CHOICE:
        return spec.definition.choices[0]
    if kind is PropertyType.NUMBER:
        low, high = rules.min, rules.max
        if low is not None and high is not None:
            return f"{(low + high) / 2:g}" if high - low < 2 else f"{int(low + (high - low) // 2)}"
        if low is not None:
            return f"{low + 1:g}"
        if high is not None:
            return f"{high - 1:g}"
    if rules.regex is not None:
        found = sample(rules.regex.pattern, rng)
        if found is not None:
            return found
    text = _PLAIN.get(kind, "Ada")
    if kind is PropertyType.LIST and rules.min_length is not None and rules.min_length > 2:
        text = ", ".join(f"item{i}" for i in range(rules.min_length))
    if kind is PropertyType.TEXT:
        if rules.min_length is not None and len(text) < rules.min_length:
            text = text + "x" * (rules.min_length - len(text))
        if rules.max_length is not None:
            text = text[:max(rules.max_length, 1)]
    return text


def valid_answers(bot: Bot, prop: str, rng: random.Random) -> list[str]:
    """Answers ``prop`` takes: a plain one, then those its branches compare with."""
    spec = bot.properties.get(prop)
    if spec is None:
        return ["Ada"]
    found = [_plain(spec, rng)]
    for value in _compared(bot, prop):
        found += [v for v in _around(spec, value)]
    return [v for v in dict.fromkeys(found) if _valid(spec, v)][:4]


def _compared(bot: Bot, prop: str) -> Iterator[Any]:
    for module in bot.modules.values():
        for step in module.steps:
            if not isinstance(step, Branch):
                continue
            for arm in step.arms:
                for condition in arm.when.get("conditions", []):
                    if isinstance(condition, Mapping) and condition.get("property") == prop:
                        operator = condition.get("operator")
                        if operator in ("is_true", "is_false"):
                            yield from (True, False)
                        elif "value" in condition:
                            yield condition["value"]


def _around(spec: PropertySpec, value: Any) -> Iterator[str]:
    if isinstance(value, bool):
        yield "yes" if value else "no"
    elif isinstance(value, int | float):
        for shifted in (value, value - 1):
            yield f"{shifted:g}"
    elif isinstance(value, list):
        yield from (str(v) for v in value)
    elif isinstance(value, str):
        yield value


def invalid_answers(bot: Bot, prop: str) -> list[str]:
    """Answers ``prop``'s type or rules should refuse (empty text included)."""
    spec = bot.properties.get(prop)
    if spec is None:
        return []
    kind = spec.definition.type
    rules = spec.validation
    found = list(_INVALID.get(kind, ()))
    if kind is PropertyType.NUMBER:
        if rules.min is not None:
            found.append(f"{rules.min - 1:g}")
        if rules.max is not None:
            found.append(f"{rules.max + 1:g}")
    if rules.min_length is not None and rules.min_length > 1 and kind is not PropertyType.LIST:
        found.append("x")
    if rules.max_length is not None:
        if kind is PropertyType.LIST:
            found.append(", ".join(f"item{i}" for i in range(rules.max_length + 1)))
        else:
            found.append("x" * (rules.max_length + 1))
    if rules.regex is not None:
        found.append("!!!")
    found.append("")
    return list(dict.fromkeys(found))


def success_body(bot: Bot, api: str, rng: random.Random,
                 variant: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A JSON answer holding every field a call of ``api`` saves, each a valid
    value of its property (``variant``: property -> value to use instead)."""
    body: dict[str, Any] = {}
    for module in bot.modules.values():
        for step in module.steps:
            if not isinstance(step, Call) or step.api != api:
                continue
            for prop, path in step.save.items():
                value = (variant or {}).get(prop)
                if value is None:
                    value = _stored(bot, prop, rng)
                _put(body, path.split("."), value)
    return body


def _stored(bot: Bot, prop: str, rng: random.Random) -> Any:
    spec = bot.properties.get(prop)
    if spec is None:
        return "x"
    text = _plain(spec, rng)
    try:
        value = spec.check(text)
    except InvalidValue:
        return text
    return value.isoformat() if hasattr(value, "isoformat") else value


def saved_variants(bot: Bot, api: str) -> list[dict[str, Any]]:
    """Other values a call's saved properties take that its branches compare with."""
    found: list[dict[str, Any]] = []
    for module in bot.modules.values():
        for step in module.steps:
            if isinstance(step, Call) and step.api == api:
                for prop in step.save:
                    spec = bot.properties.get(prop)
                    for value in _compared(bot, prop):
                        if spec is not None and _valid(spec, _as_text(value)):
                            found.append({prop: value})
    unique: list[dict[str, Any]] = []
    for variant in found:
        if variant not in unique:
            unique.append(variant)
    return unique


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _put(body: dict[str, Any], parts: list[str], value: Any) -> None:
    current: Any = body
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        nxt: Any = value if last else ([] if parts[index + 1].isdigit() else {})
        if isinstance(current, list):
            position = int(part)
            while len(current) <= position:
                current.append(None)
            if current[position] is None or last:
                current[position] = nxt
            current = current[position]
        else:
            if part not in current or last:
                current[part] = nxt
            current = current[part]
