"""Coverage from what was captured, for targets whose runtime the simulator
cannot observe: a reference-runtime bot on a running Audience server (its
timeline), and a Rasa bot (what its broker consumer stored) measured against
a list of modules, actions, slots and apis (:func:`read_expected`: that list,
or the bot's Rasa ``domain.yml``).

A timeline holds no step events: steps, gotos, give-ups and the call to
action at a flow's end cannot be told from it (:data:`UNOBSERVABLE`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from plugin.core.documents import DocumentPath, UnreadableYaml, parse_yaml
from plugin.core.errors import InvalidRequest
from runtime.graph import message_places, offers
from runtime.model import Ask, Bot, Branch, Call, Handover

from .items import (
    ANY_FAILURE,
    Item,
    Key,
    Kind,
    api_key,
    arm_key,
    cta_key,
    faq_key,
    invalid_key,
    module_key,
    start_key,
    tap_key,
)
from .observer import starting_rule

__all__ = ["UNOBSERVABLE", "events_hits", "Expected", "read_expected", "rasa_hits",
           "RASA_KINDS"]

UNOBSERVABLE = frozenset({Kind.STEP, Kind.GOTO, Kind.GIVE_UP, Kind.CTA})
RASA_KINDS = ("modules", "actions", "slots", "apis")
Event = Mapping[str, Any]


def _data(event: Event) -> Mapping[str, Any]:
    data = event.get("data")
    return data if isinstance(data, Mapping) else {}


def events_hits(bot: Bot, events: Sequence[Event]) -> set[Key]:
    """What a timeline of ``bot`` shows was covered (oldest event first)."""
    hits: set[Key] = set()
    module: str | None = None
    asked = {s.property for m in bot.modules.values() for s in m.steps if isinstance(s, Ask)}
    by_payload: dict[str, list[tuple[str | None, DocumentPath]]] = {}
    for place in message_places(bot):
        for offer in offers(place):
            if offer.payload:
                owner = place.step[0] if place.step else None
                by_payload.setdefault(offer.payload, []).append((owner, offer.path))
    opening: tuple[str | None, str | None] | None = None
    turns = 0
    for event in events:
        kind, data = event.get("type"), _data(event)
        if kind == "user_message":
            text, payload = data.get("text"), data.get("payload")
            if isinstance(payload, str) and payload in by_payload:
                found = by_payload[payload]
                path = next((p for owner, p in found if owner == module), found[0][1])
                hits.add(tap_key(path))
            opening = (text if isinstance(text, str) else None,
                       payload if isinstance(payload, str) else None)
            turns += 1
            continue
        # Only a module entered first thing in a turn was started by a rule.
        started, opening = opening, None
        if kind == "module_entered" and isinstance(data.get("module"), str):
            entered = data["module"]
            hits.add(module_key(entered))
            if started is not None and entered in bot.modules:
                rule = starting_rule(bot, *started)
                if rule is not None and rule[0] == entered:
                    hits.add(start_key(*rule))
                elif turns == 1 and bot.modules[entered].default:
                    hits.add(start_key(entered, "default"))
            module = entered
        elif kind == "branch" and isinstance(data.get("module"), str):
            hits.update(_arm(bot, data["module"], str(data.get("branch"))))
        elif kind == "api_call" and module is not None and module in bot.modules:
            hits.update(_api(bot, module, str(data.get("name")), data))
        elif kind == "property_set" and data.get("rejected") and data.get("property") in asked:
            hits.add(invalid_key(str(data["property"])))
        elif kind == "custom" and data.get("name") == "faq_answered":
            hits.add(faq_key(str(data.get("faq"))))
        elif kind == "handover" and module is not None and module in bot.modules and any(
                isinstance(s, Handover) for s in bot.modules[module].steps):
            hits.add(cta_key(module, "handover"))
    return hits


def _arm(bot: Bot, module: str, label: str) -> Iterable[Key]:
    for index, step in enumerate(bot.modules[module].steps if module in bot.modules else ()):
        if isinstance(step, Branch):
            if label == "else" and step.otherwise is not None:
                return [arm_key(module, index, len(step.arms))]
            for arm_index, arm in enumerate(step.arms):
                if arm.label == label:
                    return [arm_key(module, index, arm_index)]
    return []


def _api(bot: Bot, module: str, api: str, data: Mapping[str, Any]) -> Iterable[Key]:
    for index, step in enumerate(bot.modules[module].steps):
        if isinstance(step, Call) and step.api == api:
            if data.get("ok"):
                return [api_key(module, index, "success")]
            kind = str(data.get("error"))
            return [api_key(module, index, kind if step.on_failure.targets() else ANY_FAILURE)]
    return []


# --- Rasa --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Expected:
    """What a Rasa bot should show: its items, from the file given."""

    file: str
    items: tuple[Item, ...]


def read_expected(path: Path) -> Expected:
    """The modules (forms, flows), actions, slots and apis listed in ``path``:
    either ``{modules: [...], actions: [...], slots: [...], apis: [...]}``, or
    a Rasa ``domain.yml`` (its ``forms`` and ``slots`` mappings, ``actions``).

    Raises:
        InvalidRequest: the file cannot be read or lists nothing.
    """
    try:
        document = parse_yaml(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"{path}: cannot read the coverage list: {exc}") from None
    except UnreadableYaml as exc:
        raise InvalidRequest(exc.problem.describe(str(path))) from None
    data = document.data if isinstance(document.data, Mapping) else {}
    items: list[Item] = []
    sources = {"modules": ("modules", "forms", "flows"), "actions": ("actions",),
               "slots": ("slots",), "apis": ("apis",)}
    for kind, keys in sources.items():
        for key in keys:
            names = data.get(key)
            listed = list(names) if isinstance(names, Mapping | list) else []
            for index, name in enumerate(listed):
                if not isinstance(name, str):
                    continue
                where: DocumentPath = (key, name) if isinstance(names, Mapping) else (key, index)
                items.append(Item(kind, (kind, name), f"{kind[:-1]} {name!r}", where,
                                  document.lines.line(where)))
    if not items:
        raise InvalidRequest(f"{path}: lists no modules, forms, actions, slots or apis")
    return Expected(str(path), tuple(dict.fromkeys(items)))


def rasa_hits(events: Sequence[Event]) -> set[Key]:
    """What a Rasa bot's captured timeline shows: modules entered, actions run,
    slots set, apis called."""
    hits: set[Key] = set()
    for event in events:
        kind, data = event.get("type"), _data(event)
        if kind == "module_entered" and isinstance(data.get("module"), str):
            hits.add(("modules", data["module"]))
        elif kind == "property_set" and not data.get("rejected"):
            hits.add(("slots", str(data.get("property"))))
        elif kind == "api_call":
            hits.add(("apis", str(data.get("name"))))
        elif kind == "custom" and data.get("name") in ("action", "action_call") \
                and isinstance(data.get("action"), str):
            hits.add(("actions", data["action"]))
    return hits
