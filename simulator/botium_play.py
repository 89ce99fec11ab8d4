"""Playing a Botium convo (read by :mod:`simulator.botium`) on a live
conversation, checking as Botium does.

Each ``#me`` section sends one input (text, or ``BUTTON x``: the button titled
or with payload ``x`` on the latest message that offers it, else ``x`` sent
as the payload, as Botium's ``BUTTON`` does). Every bot message goes into a
queue; each ``#bot`` section takes the next one and checks it: its text with
the convo's matching mode, then its asserters:

``BUTTONS a|b``  each is a button, quick reply or card button (title or payload)
``MEDIA u``      each is a card image (``image_url`` or ``image``) or media URL
``CARDS t``      each is a card's title or subtitle
``INTENT i``     the turn's intent: the NLU intent captured with the user's
                 message (Rasa), else, on the reference runtime (no NLU), the
                 module the turn started or the FAQ it answered
``JSON_PATH p|v`` the path in the answer's body as the target sent it (the
                 dummy channel's ``{"replies": [...], "assigned_to": ...}``):
                 found, or with ``v``, some value there matches ``v``

``!`` turns an asserter around. A ``#bot`` section with no message left
waits for a late one (the scenario's ``quiet``), else fails naming its line.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from . import jsonpath
from .assertions import ExpectationFailed, describe_replies, offered, resolve_tap

# simulator.botium's Check and ConvoStep (it builds the scripts: no import back).
Check = Any
ConvoStep = Any

__all__ = ["ConvoScript", "botium_match"]

_SPACES = re.compile(r"\s+")


def _normalise(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


def botium_match(mode: str, actual: Any, expected: str) -> bool:
    """Whether ``actual`` matches ``expected`` in Botium's matching ``mode``."""
    got = actual if isinstance(actual, str) else json.dumps(actual) if isinstance(
        actual, dict | list) else str(actual)
    got, want = _normalise(got), _normalise(expected)
    ignore = mode.endswith(("IgnoreCase", "LowerCase"))
    if ignore:
        got, want = got.casefold(), want.casefold()
    if mode.startswith("include"):
        return want in got
    if mode.startswith("equals"):
        return got == want
    if mode.startswith("regexp"):
        try:
            return re.search(expected, got, re.IGNORECASE if ignore else 0) is not None
        except re.error:
            return False
    pattern = ".*".join(re.escape(part) for part in want.split("*"))
    if mode.startswith("wildcardExact"):
        return re.fullmatch(pattern, got, re.DOTALL) is not None
    return re.search(pattern, got, re.DOTALL) is not None


@dataclass(frozen=True, slots=True)
class _Queued:
    message: Mapping[str, Any]
    body: Any  # the answer's body the message came in


@dataclass(frozen=True, slots=True)
class ConvoScript:
    """One (expanded) convo's steps, its utterance lists and its matching mode."""

    steps: tuple[ConvoStep, ...]
    utterances: Mapping[str, tuple[str, ...]]
    matching: str

    @property
    def steps_total(self) -> int:
        return sum(step.sender in ("me", "bot") for step in self.steps)

    async def play(self, live: Any, started: Callable[[int], None], timeout: float) -> Any:
        from .runner import Failure

        queue: deque[_Queued] = deque()
        number = 0
        for step in self.steps:
            if step.sender in ("me", "bot"):
                number += 1
                started(number)
            try:
                async with asyncio.timeout(timeout):
                    if step.sender == "me":
                        await self._me(live, step, queue)
                    elif step.sender == "bot":
                        await self._bot(live, step, queue)
                    await _pause(step)
            except TimeoutError:
                return Failure(number or None, step.describe(), "timeout",
                               f"the step to finish within {timeout:g}s",
                               "no answer in time", step.line)
            except ExpectationFailed as failed:
                return Failure(number or None, step.describe(), failed.what, failed.expected,
                               failed.actual, failed.line or step.line)
        return None

    async def _me(self, live: Any, step: ConvoStep, queue: deque[_Queued]) -> None:
        if step.inputs:
            label = step.inputs[0].args[0]
            try:
                message = resolve_tap(label, live.last_bot_replies, earlier=live.bot_messages())
            except ExpectationFailed:
                message = {"payload": label}  # Botium sends the argument as the payload
            replies = await live.send(**message)
        else:
            replies = await live.say(step.text or "")
        body = live.conversation.last_body
        queue.extend(_Queued(reply, body) for reply in replies)

    async def _bot(self, live: Any, step: ConvoStep, queue: deque[_Queued]) -> None:
        if not queue:
            queue.extend(_Queued(reply, live.conversation.last_body)
                         for reply in await live.collect_late())
        if not queue:
            raise ExpectationFailed("bot message", "a bot message to check",
                                    "the bot sent nothing more", step.line)
        queued = queue.popleft()
        message = queued.message
        if step.text is not None:
            self._text(step, message)
        for check in step.asserters:
            try:
                await self._assert(live, check, queued)
            except ExpectationFailed as failed:
                raise failed.at_line(check.line) from None

    def _text(self, step: ConvoStep, message: Mapping[str, Any]) -> None:
        expected = self.utterances.get(step.text or "", (step.text or "",))
        text = str(message.get("text") or "")
        matched = any(botium_match(self.matching, text, want) for want in expected)
        if matched == step.negated:
            shown = " or ".join(repr(w) for w in expected)
            raise ExpectationFailed("text", f"{'no ' if step.negated else ''}bot message "
                                    f"matching {shown} ({self.matching})",
                                    describe_replies([message]), step.text_line or step.line)

    async def _assert(self, live: Any, check: Check, queued: _Queued) -> None:
        message = queued.message
        if check.name == "BUTTONS":
            found = offered([message])
            buttons = [*found.buttons, *found.quick_replies, *found.card_buttons]
            values = [str(v) for b in buttons for v in (b.get("title"), b.get("payload"))
                      if v is not None]
            self._each(check, values, "button", [str(b.get("title")) for b in buttons])
        elif check.name == "MEDIA":
            media = [str(c.get(k)) for c in message.get("cards") or []
                     for k in ("image_url", "image") if c.get(k)]
            media += [str(m.get("url") if isinstance(m, Mapping) else m)
                      for m in message.get("media") or []]
            self._each(check, media, "media", media)
        elif check.name == "CARDS":
            texts = [str(c.get(k)) for c in message.get("cards") or []
                     for k in ("title", "subtitle") if c.get(k)]
            self._each(check, texts, "card", texts)
        elif check.name == "INTENT":
            await self._intent(live, check)
        elif check.name == "JSON_PATH":
            self._json_path(check, queued.body)

    def _each(self, check: Check, values: Sequence[str], what: str, shown: Sequence[str]
              ) -> None:
        if not check.args:  # BUTTONS alone: some button; !BUTTONS alone: none
            if bool(values) == check.negated:
                raise ExpectationFailed(check.name, f"{'no' if check.negated else 'some'} "
                                        f"{what}", repr(list(shown)) if shown else "none")
            return
        for arg in check.args:
            found = any(botium_match(self.matching, value, arg) for value in values)
            if found == check.negated:
                raise ExpectationFailed(check.name, f"{'no ' if check.negated else ''}{what} "
                                        f"{arg!r}", repr(list(shown)) if shown else "none")

    async def _intent(self, live: Any, check: Check) -> None:
        events = (await live.captured()).turn_events()
        intents = [e["data"].get("intent") for e in events
                   if e.get("type") == "user_message" and e["data"].get("intent")]
        if not intents:  # no NLU: what the turn started or answered
            intents = [e["data"].get("module") for e in events
                       if e.get("type") == "module_entered"][:1]
            intents += [e["data"].get("faq") for e in events if e.get("type") == "custom"
                        and e["data"].get("name") == "faq_answered"]
        wanted = check.args[0]
        if (wanted in intents) == check.negated:
            raise ExpectationFailed("INTENT", f"{'not ' if check.negated else ''}intent "
                                    f"{wanted!r}", repr(intents) if intents else "no intent")

    def _json_path(self, check: Check, body: Any) -> None:
        path = check.args[0]
        values = jsonpath.find(body, path)
        if len(check.args) == 1:
            if bool(values) == check.negated:
                raise ExpectationFailed("JSON_PATH", f"{'nothing' if check.negated else 'a value'}"
                                        f" at {path}", _shown(values) if values else "nothing")
            return
        wanted = check.args[1]
        if not values and not check.negated:
            raise ExpectationFailed("JSON_PATH", f"{wanted!r} at {path}", "nothing there")
        matched = any(botium_match(self.matching, value, wanted) for value in values)
        if matched == check.negated:
            raise ExpectationFailed("JSON_PATH", f"{'not ' if check.negated else ''}{wanted!r} "
                                    f"at {path}", _shown(values))


def _shown(values: Sequence[Any]) -> str:
    return json.dumps(values[0] if len(values) == 1 else list(values), default=str)[:300]


async def _pause(step: ConvoStep) -> None:
    for hook in step.hooks:
        if hook.name == "PAUSE":
            await asyncio.sleep(int(hook.args[0]) / 1000)
