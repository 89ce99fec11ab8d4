"""The checks, shared by YAML scenarios and the Gherkin step library.

Reply checks read the replies as the channel delivered them; profile checks
read the :class:`~simulator.targets.Captured` profile and timeline, never the
runtime. Every failed check raises :class:`ExpectationFailed` with what was
expected and what came back, in words a bot developer reads at a glance.

On channels without quick replies (WhatsApp) the dummy channel delivers them
as numbered options at the end of the text ("1. Get a quote"): ``options``
checks those, ``offers`` checks buttons, quick replies and options alike, and
a tap finds an option by its title and answers with its number.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from typing import Any

from .model import ApiExpect, Choice, Expect
from .targets import Captured

__all__ = [
    "ExpectationFailed",
    "Offered",
    "offered",
    "numbered_options",
    "describe_replies",
    "check_replies",
    "check_captured",
    "check_ends_with_cta",
    "check_offered",
    "resolve_tap",
]

Reply = Mapping[str, Any]
_OPTION = re.compile(r"^(\d+)\. (.+)$")


class ExpectationFailed(AssertionError):
    """A check that did not hold: ``what`` was checked, ``expected`` and ``actual``
    as readable text; ``line`` is the expectation's line in a scenario file."""

    def __init__(self, what: str, expected: str, actual: str, line: int | None = None) -> None:
        self.what, self.expected, self.actual, self.line = what, expected, actual, line
        super().__init__(f"{what}: expected {expected}; got {actual}")

    def at_line(self, line: int | None) -> ExpectationFailed:
        return ExpectationFailed(self.what, self.expected, self.actual, line)


@dataclass(frozen=True, slots=True)
class Offered:
    """What a set of replies offers the user to tap."""

    buttons: list[Mapping[str, Any]]
    quick_replies: list[Mapping[str, Any]]
    options: list[Mapping[str, Any]]  # numbered options: {"title", "number"}
    cards: list[Mapping[str, Any]]

    @property
    def card_buttons(self) -> list[Mapping[str, Any]]:
        return [b for card in self.cards for b in card.get("buttons") or []]

    @property
    def any(self) -> list[Mapping[str, Any]]:
        return [*self.buttons, *self.quick_replies, *self.options]


def numbered_options(text: str) -> list[str]:
    """The titles of the numbered options closing ``text`` ("1. A\\n2. B")."""
    lines = (text or "").rstrip().split("\n")
    titles: list[str] = []
    numbers: list[int] = []
    for line in reversed(lines):
        match = _OPTION.match(line.strip())
        if match is None:
            break
        numbers.append(int(match.group(1)))
        titles.append(match.group(2))
    titles.reverse()
    numbers.reverse()
    # Only a run numbered 1..n counts: "3. Pay" alone is text, not a menu.
    return titles if numbers == list(range(1, len(titles) + 1)) else []


def offered(replies: Sequence[Reply]) -> Offered:
    buttons: list[Mapping[str, Any]] = []
    quick: list[Mapping[str, Any]] = []
    options: list[Mapping[str, Any]] = []
    cards: list[Mapping[str, Any]] = []
    for reply in replies:
        buttons += list(reply.get("buttons") or [])
        quick += list(reply.get("quick_replies") or [])
        cards += list(reply.get("cards") or [])
        options += [{"title": t, "number": n}
                    for n, t in enumerate(numbered_options(str(reply.get("text") or "")), 1)]
    return Offered(buttons, quick, options, cards)


def describe_replies(replies: Sequence[Reply]) -> str:
    """The replies as one readable line each, for failure reports."""
    if not replies:
        return "no reply"
    lines = []
    for reply in replies:
        parts = [repr(reply.get("text") or "")]
        for key in ("buttons", "quick_replies"):
            if reply.get(key):
                parts.append(f"{key}: " + ", ".join(repr(b.get("title")) for b in reply[key]))
        if reply.get("cards"):
            parts.append("cards: " + ", ".join(repr(c.get("title")) for c in reply["cards"]))
        lines.append(" | ".join(parts))
    return "\n".join(lines)


def _titles(items: Iterable[Mapping[str, Any]]) -> str:
    return "[" + ", ".join(repr(i.get("title")) for i in items) + "]"


def _choices(what: str, expected: Sequence[Choice], actual: Sequence[Mapping[str, Any]]) -> None:
    same = len(expected) == len(actual) and all(
        want.matches(got) for want, got in zip(expected, actual, strict=True))
    if not same:
        wanted = "[" + ", ".join(c.describe() for c in expected) + "]"
        shown = _titles(actual) if actual else "none"
        if any(c.payload is not None or c.url is not None for c in expected):
            shown = repr([dict(a) for a in actual])
        raise ExpectationFailed(what, wanted, shown)


def check_replies(expect: Expect, replies: Sequence[Reply]) -> None:
    """Check ``expect``'s reply expectations against one step's ``replies``."""
    __tracebackhide__ = True
    line = expect.lines.get
    texts = [str(r.get("text") or "") for r in replies]
    try:
        if expect.messages is not None and len(replies) != expect.messages:
            raise ExpectationFailed("messages", f"{expect.messages} message(s)",
                                    f"{len(replies)}:\n{describe_replies(replies)}")
        if expect.text is not None and expect.text not in texts:
            raise ExpectationFailed("text", f"a reply {expect.text!r}", describe_replies(replies))
        if expect.contains is not None and not any(expect.contains in t for t in texts):
            raise ExpectationFailed("contains", f"a reply containing {expect.contains!r}",
                                    describe_replies(replies))
        if expect.regex is not None and not any(re.search(expect.regex, t) for t in texts):
            raise ExpectationFailed("regex", f"a reply matching /{expect.regex}/",
                                    describe_replies(replies))
        found = offered(replies)
        for what, wanted, actual in (
            ("buttons", expect.buttons, found.buttons),
            ("quick_replies", expect.quick_replies, found.quick_replies),
            ("options", expect.options, found.options),
            ("offers", expect.offers, found.any),
        ):
            if wanted is not None:
                _choices(what, wanted, actual)
        if expect.cards is not None:
            titles = [str(c.get("title")) for c in found.cards]
            if titles != list(expect.cards):
                raise ExpectationFailed("cards", repr(list(expect.cards)), repr(titles))
    except ExpectationFailed as failed:
        raise failed.at_line(line(failed.what)) from None


def check_captured(expect: Expect, captured: Captured, *, whole_conversation: bool) -> None:
    """Check ``expect``'s profile expectations. Timeline checks look at the last
    step's events, or at the whole conversation for end-of-scenario checks."""
    __tracebackhide__ = True
    scope = captured.events if whole_conversation else captured.turn_events()
    try:
        _check_captured(expect, captured, scope)
    except ExpectationFailed as failed:
        raise failed.at_line(expect.lines.get(failed.what)) from None


def _check_captured(expect: Expect, captured: Captured, scope: Sequence[Mapping[str, Any]]) -> None:
    attributes = captured.attributes
    profile = captured.profile or {}
    if captured.profile is None:
        raise ExpectationFailed("profile", "a captured profile", "no profile for this user")
    for name in expect.set:
        if attributes.get(name) is None:
            raise ExpectationFailed("set", f"property {name!r} set", "it is not set")
    for name in expect.not_set:
        if attributes.get(name) is not None:
            raise ExpectationFailed("not_set", f"property {name!r} not set",
                                    f"it is {attributes[name]!r}")
    for name, value in expect.properties.items():
        if not _same(value, attributes.get(name)):
            got = "it is not set" if attributes.get(name) is None else repr(attributes[name])
            raise ExpectationFailed("properties", f"property {name!r} = {value!r}", got)
    for name in expect.rejected:
        if not any(e.get("type") == "property_set" and e["data"].get("rejected")
                   and e["data"].get("property") == name for e in scope):
            raise ExpectationFailed("rejected", f"a value for {name!r} refused by validation",
                                    _describe_properties(scope))
    if expect.module is not None and profile.get("current_module") != expect.module:
        raise ExpectationFailed("module", f"current module {expect.module!r}",
                                repr(profile.get("current_module")))
    for api, wanted in expect.apis.items():
        _check_api(api, wanted, scope)
    if expect.branch is not None:
        taken = [e["data"].get("branch") for e in scope if e.get("type") == "branch"]
        if expect.branch not in taken:
            raise ExpectationFailed("branch", f"branch {expect.branch!r} taken",
                                    f"branches taken: {taken}" if taken else "no branch taken")
    if expect.faq is not None:
        answered = [e["data"].get("faq") for e in scope if _custom(e, "faq_answered")]
        if expect.faq not in answered:
            raise ExpectationFailed("faq", f"FAQ {expect.faq!r} answered",
                                    f"FAQs answered: {answered}" if answered else "no FAQ")
    if expect.no_fallback:
        fallbacks = [e["data"].get("text") for e in scope if _custom(e, "fallback")]
        if fallbacks:
            raise ExpectationFailed("no_fallback", "no fallback",
                                    f"the bot fell back on {fallbacks[0]!r}")
    if expect.assigned_to is not None:
        assigned = str(profile.get("assigned_to") or "bot")
        assignee = expect.assigned_to
        if not (assigned == assignee
                or (assignee == "human" and assigned.startswith("human:"))):
            raise ExpectationFailed("assigned_to", f"assigned to {assignee!r}", repr(assigned))


def _custom(event: Mapping[str, Any], name: str) -> bool:
    return event.get("type") == "custom" and event["data"].get("name") == name


def _describe_properties(scope: Sequence[Mapping[str, Any]]) -> str:
    changes = [e["data"] for e in scope if e.get("type") == "property_set"]
    if not changes:
        return "no property set or refused"
    return "; ".join(
        f"{d.get('property')}={d.get('value')!r}" + (" refused" if d.get("rejected") else "")
        for d in changes)


def _check_api(api: str, wanted: ApiExpect, scope: Sequence[Mapping[str, Any]]) -> None:
    calls = [e["data"] for e in scope
             if e.get("type") == "api_call" and e["data"].get("name") == api]
    if not wanted.called:
        if calls:
            raise ExpectationFailed("apis", f"no call of {api!r}", f"{len(calls)} call(s)")
        return
    if not calls:
        raise ExpectationFailed("apis", f"a call of {api!r}", "it was not called")
    last = calls[-1]
    got = (f"status {last.get('status')}, "
           + ("ok" if last.get("ok") else f"failed with {last.get('error')!r}"))
    if wanted.status_given and last.get("status") != wanted.status:
        raise ExpectationFailed("apis", f"{api!r} answered status {wanted.status}", got)
    if wanted.failed is not None and last.get("error") != wanted.failed:
        raise ExpectationFailed("apis", f"{api!r} failed with {wanted.failed!r}", got)
    if wanted.ok is not None and bool(last.get("ok")) != wanted.ok:
        raise ExpectationFailed("apis", f"{api!r} {'succeeded' if wanted.ok else 'failed'}", got)


def _same(expected: Any, actual: Any) -> bool:
    if expected == actual:
        return True
    moment_a, moment_b = _moment(expected), _moment(actual)
    if moment_a is not None and moment_b is not None:
        return moment_a == moment_b
    if isinstance(expected, list) and isinstance(actual, list):
        return len(expected) == len(actual) and all(map(_same, expected, actual))
    return False


def _moment(value: Any) -> datetime | None:
    """Dates and times as aware datetimes, so a YAML date equals a stored one."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time())
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)  # noqa: UP017


def check_ends_with_cta(replies: Sequence[Reply]) -> None:
    """The last bot message offers something to tap (buttons, quick replies,
    card buttons, or numbered options)."""
    if not replies:
        raise ExpectationFailed("ends_with_cta", "a last bot message with a call to action",
                                "the bot sent nothing")
    last = replies[-1]
    found = offered([last])
    if not (found.any or found.card_buttons):
        raise ExpectationFailed("ends_with_cta",
                                "a last bot message with buttons, quick replies or options",
                                describe_replies([last]))


def check_offered(choice: Choice, replies: Sequence[Reply]) -> None:
    """One of the buttons, quick replies or card buttons of ``replies`` is
    ``choice`` (each field it gives matches), whatever else is offered."""
    found = offered(replies)
    items = [*found.buttons, *found.quick_replies, *found.card_buttons]
    if not any(choice.matches(item) for item in items):
        raise ExpectationFailed("offers", f"a button {choice.describe()}",
                                repr([dict(i) for i in items]) if items else "no button")


def resolve_tap(label: str, replies: Sequence[Reply],
                earlier: Sequence[Reply] = ()) -> dict[str, str]:
    """What tapping ``label`` (a title or payload among ``replies``) sends:
    ``{"payload": ...}``, or ``{"text": "<n>"}`` for a numbered option.

    With ``earlier`` (every bot message so far, oldest first), a label the last
    replies do not offer is looked for in the earlier messages, newest first: a
    button's payload is sent, a numbered option's title (its number belongs to
    the message that listed it)."""
    found = _tap(label, replies)
    if found is not None:
        return found
    for message in reversed(earlier):
        found = _tap(label, [message], numbered=False)
        if found is not None:
            return found
    offered_now = offered(replies)
    choices = [*offered_now.buttons, *offered_now.quick_replies, *offered_now.card_buttons,
               *offered_now.options]
    where = " in any message" if earlier else ""
    raise ExpectationFailed("tap", f"a button, quick reply or option {label!r}{where}",
                            f"offered: {_titles(choices) if choices else 'nothing'}")


def _tap(label: str, replies: Sequence[Reply], *, numbered: bool = True) -> dict[str, str] | None:
    found = offered(replies)
    tappable = [*found.buttons, *found.quick_replies, *found.card_buttons]
    for exact in (True, False):
        for item in tappable:
            title = str(item.get("title") or "")
            if (title == label if exact else title.casefold() == label.casefold()) or (
                    exact and item.get("payload") == label):
                if item.get("payload") is None:
                    raise ExpectationFailed("tap", f"a button {label!r} to tap",
                                            f"it is a link to {item.get('url')!r}")
                return {"payload": str(item["payload"])}
        for option in found.options:
            title = str(option["title"])
            if title == label if exact else title.casefold() == label.casefold():
                return {"text": str(option["number"]) if numbered else title}
    return None
