"""A Rasa bot as a simulator target: talked to through its REST channel,
what it did read from the Audience database its broker consumer fills
(``audience rasa consume``). See :mod:`simulator.targets` for the others."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

import aiohttp

from plugin.audience.profile_store import ProfileStore
from plugin.capture.store import CaptureStore
from plugin.core.constants import TIMELINE_MAX_LIMIT
from plugin.db.database import Database
from runtime.model import Bot

from .model import RasaTarget, ScenarioRun
from .targets import Captured, Conversation, TargetError

__all__ = ["Rasa", "REST_PATH"]


REST_PATH = "/webhooks/rest/webhook"
# How long a check waits for the broker consumer to store a turn, and how often it looks.
CAPTURE_WAIT_S = 10.0
CAPTURE_POLL_S = 0.05
CAPTURE_STEADY_POLLS = 2
_MEDIA = ("image", "custom", "attachment")


class Rasa:
    """A Rasa bot: each input is ``POST {url}/webhooks/rest/webhook`` with
    ``{"sender", "message"}`` (a tap sends the button's payload), answered by a
    list of ``{recipient_id, text?, buttons?, image?, custom?}``. What was
    captured is read from ``store`` under the consumer's bot id."""

    name = "rasa"
    captures = True

    def __init__(self, spec: RasaTarget, session: aiohttp.ClientSession,
                 db: Database | None) -> None:
        self.spec = spec
        self.url = spec.url.rstrip("/") + REST_PATH
        self.session = session
        self.db = db

    async def open(self, run: ScenarioRun, bot: Bot | None, api_base: str | None
                   ) -> Conversation:
        return _RasaConversation(self, run)


class _RasaConversation:
    def __init__(self, target: Rasa, run: ScenarioRun) -> None:
        self._target = target
        self.bot_id = target.spec.bot_id or "rasa"
        self.user_id = run.user_id
        self.channel = run.channel
        self.last_body: Any = None
        self._sent = 0

    async def send(self, *, text: str | None = None,
                   payload: str | None = None) -> list[dict[str, Any]]:
        target = self._target
        body = {"sender": self.user_id, "message": payload if payload is not None else text}
        try:
            async with target.session.post(target.url, json=body) as response:
                if response.status >= 400:
                    raise TargetError(f"the Rasa REST channel answered HTTP {response.status}")
                answer = await response.json(content_type=None)
        except aiohttp.ClientError as exc:
            raise TargetError(f"cannot reach Rasa at {target.url}: {exc}") from exc
        except ValueError as exc:
            raise TargetError(f"Rasa's answer is not JSON: {exc}") from exc
        if not isinstance(answer, list) or not all(isinstance(m, dict) for m in answer):
            raise TargetError("Rasa's REST channel answered something other than a list of "
                              f"messages: {str(answer)[:200]}")
        self._sent += 1
        self.last_body = answer
        return [_rasa_message(m) for m in answer]

    async def late(self, quiet: float) -> list[dict[str, Any]]:
        return []  # the REST channel answers in its response only

    async def start(self, module: str, properties: Mapping[str, Any]) -> list[dict[str, Any]]:
        raise TargetError("a Rasa target cannot start mid-flow ('given'): play the turns "
                          "that lead there")

    async def captured(self) -> Captured:
        db = self._target.db
        if db is None or self._target.spec.bot_id is None:
            raise TargetError("profile checks on a Rasa target read the Audience database "
                              "its broker consumer writes to: give the consumer's bot id "
                              "(--bot-id) and the same --data-dir or MONGODB_URI")
        # The consumer stores a turn shortly after Rasa answers, and a custom
        # action's plugin may store part of it sooner: wait until every input is
        # there, followed by the bot message of Rasa's last reply, and the
        # timeline has stopped growing.
        deadline = time.monotonic() + CAPTURE_WAIT_S
        last_size, steady = -1, 0
        while True:
            docs, _ = await CaptureStore.of(db).timeline(self.bot_id, self.user_id,
                                                         limit=TIMELINE_MAX_LIMIT)
            types = [d["type"] for d in docs]  # newest first
            # A long conversation may hold more inputs than one timeline page.
            users = self._sent if len(docs) >= TIMELINE_MAX_LIMIT else types.count("user_message")
            answered = not self.last_body or _answered(self.last_body[-1], docs)
            steady = steady + 1 if len(docs) == last_size else 0
            if users >= self._sent and answered and steady >= CAPTURE_STEADY_POLLS:
                break
            if time.monotonic() > deadline:
                break
            last_size = len(docs)
            await asyncio.sleep(CAPTURE_POLL_S)
        profile = await ProfileStore.of(db).get_profile(self.bot_id, self.user_id)
        events = [{"type": d["type"], "data": d["data"], "ts": d["ts"],
                   "channel": d.get("channel")} for d in reversed(docs)]
        return Captured(profile, events)

    async def close(self) -> None:
        pass


def _answered(reply: Mapping[str, Any], newest_first: list[dict[str, Any]]) -> bool:
    """Whether a bot message since the last input holds ``reply``. REST messages
    do not map one to one to bot events: Rasa sends each blank-line-separated
    part of a text, and an image, custom payload or attachment, as a message of
    its own."""
    for doc in newest_first:
        if doc["type"] == "user_message":
            return False
        if doc["type"] != "bot_message":
            continue
        data = doc.get("data") or {}
        if text := reply.get("text"):
            if text in (data.get("text") or "").strip().split("\n\n"):
                return True
        elif media := [k for k in _MEDIA if reply.get(k) is not None]:
            if any(data.get(k) == reply[k] for k in media):
                return True
        else:
            return True  # nothing to match it by: any bot message will do
    return False


def _rasa_message(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A REST-channel message in the shape the checks read."""
    message: dict[str, Any] = {"text": raw.get("text") or ""}
    buttons = raw.get("buttons")
    if isinstance(buttons, list) and buttons:
        message["buttons"] = buttons
    if raw.get("image"):
        message["cards"] = [{"image": raw["image"]}]
    if raw.get("custom") is not None:
        message["custom"] = raw["custom"]
    return message
