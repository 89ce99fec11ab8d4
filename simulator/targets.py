"""Where a scenario's bot runs, and how the simulator talks to it and reads
back what was captured.

* :class:`InProcess`: the bot file run by ``runtime`` through the dummy
  channel, captured by a :class:`~plugin.capture.recorder.Recorder` into a store the
  simulator owns (one database per simulate run, one runtime per scenario run
  so each gets its own ``${API_BASE}``).
* :class:`AudienceServer`: a running Audience server. The bot is deployed
  per scenario run (``PUT /v1/bots/{id}/definition``) under its own bot id,
  so each run's ``api_base`` points at its own stubs; messages go through
  ``POST /v1/channels/dummy/{id}/messages?wait=true`` and the profile and
  timeline are read through the API.
* :class:`Webhook`: any bot behind a JSON webhook; replies only, no capture.
* :class:`simulator.rasa_target.Rasa`: a Rasa bot behind its REST channel;
  the profile and timeline are read from the Audience database its broker
  consumer fills.

Targets return replies as the channel delivered them (``{text, buttons,
quick_replies, cards}``) and :class:`Captured` data shaped like the API's
profile and timeline. Nothing here reads runtime internals after a turn.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

import aiohttp
import yaml

from connectors.dummy import DummyChannel
from plugin.audience.profile_store import ProfileStore
from plugin.audience.property_store import PropertyStore
from plugin.capture.recorder import Recorder
from plugin.capture.store import CaptureStore
from plugin.core.constants import TIMELINE_MAX_LIMIT
from plugin.core.documents import load_yaml
from plugin.core.errors import AudienceError
from plugin.core.events import utc_now
from plugin.db.database import Database
from runtime.engine import Runtime
from runtime.model import Bot
from runtime.observer import Observer

from . import jsonpath
from .late import InboxSubscriber, LateInbox
from .ledger import CaptureLedger, CaptureLost
from .model import AudienceTarget, ScenarioRun, WebhookTarget

__all__ = [
    "SOURCE",
    "TargetError",
    "Captured",
    "Conversation",
    "Target",
    "InProcess",
    "AudienceServer",
    "Webhook",
]

SOURCE = "simulator"  # the source of simulated users' first event: their profile is a test one
_MARKER = "simulation"


class TargetError(AudienceError):
    """The target could not be reached or answered something unusable."""

    code = "target_error"


@dataclass(frozen=True, slots=True)
class Captured:
    """A test user's profile and timeline (oldest event first), as captured."""

    profile: Mapping[str, Any] | None
    events: Sequence[Mapping[str, Any]] = field(default_factory=list)

    def turn_events(self) -> list[Mapping[str, Any]]:
        """The events since the last user message: what the last step did."""
        for index in range(len(self.events) - 1, -1, -1):
            if self.events[index].get("type") == "user_message":
                return list(self.events[index:])
        return list(self.events)

    @property
    def attributes(self) -> Mapping[str, Any]:
        return (self.profile or {}).get("attributes") or {}


class Conversation(Protocol):
    bot_id: str
    user_id: str
    channel: str
    # The last answer's body as the target sent it (the dummy channel's
    # ``{"replies": [...], "assigned_to": ...}``; in-process, the same shape):
    # what Botium's JSON_PATH asserter reads.
    last_body: Any

    async def send(self, *, text: str | None = None,
                   payload: str | None = None) -> list[dict[str, Any]]:
        """One user input; the bot's replies as the channel delivered them."""

    async def late(self, quiet: float) -> list[dict[str, Any]]:
        """Bot messages sent outside the answers so far (several over time, an
        agent's), collected until none came for ``quiet`` seconds; none on a
        target that has no way to send them."""

    async def start(self, module: str, properties: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Begin mid-flow (a scenario's ``given``): ``properties`` stored as if
        collected, then ``module`` started; the bot's replies as delivered.
        Raises :class:`TargetError` where the target has no such hook."""

    async def captured(self) -> Captured:
        """The profile and timeline so far (raises :class:`TargetError` if the
        target captures nothing)."""

    async def close(self) -> None: ...


class Target(Protocol):
    name: str
    captures: bool

    async def open(self, run: ScenarioRun, bot: Bot | None, api_base: str | None
                   ) -> Conversation:
        """Start ``run``'s conversation; ``api_base`` is its stubs' ``${API_BASE}``."""


# --- in-process -------------------------------------------------------------


class InProcess:
    """Bots run here, on ``runtime``, captured into ``store``."""

    name = "in-process"
    captures = True

    def __init__(self, db: Database, recorder: Recorder, session: aiohttp.ClientSession,
                 observe: Callable[[ScenarioRun, Bot], Observer | None] | None = None,
                 ledger: CaptureLedger | None = None) -> None:
        self.db = db
        self.recorder = recorder
        # The recorder's acknowledged writes (its listener); None: flush and query instead.
        self.ledger = ledger
        self.session = session
        self.observe = observe  # an extra observer for each run's runtime (coverage)
        self._defined: set[str] = set()

    async def open(self, run: ScenarioRun, bot: Bot | None, api_base: str | None
                   ) -> Conversation:
        if bot is None:
            raise TargetError(f"scenario {run.scenario.name!r} has no bot to run in-process")
        if bot.id not in self._defined:
            for spec in bot.properties.values():
                await PropertyStore.of(self.db).define_property(bot.id, spec.definition)
            self._defined.add(bot.id)
        extra = self.observe(run, bot) if self.observe is not None else None
        runtime = Runtime(api_base=api_base, variables=run.scenario.variables,
                          session=self.session, observers=[extra] if extra else [])
        runtime.deploy(bot)
        # Recorded first, so the profile is created as a test user's (see plugin.capture.update).
        # A millisecond early: events of one millisecond are applied in no set order.
        await self.recorder.custom(bot.id, run.user_id, _MARKER, _marker(run),
                                   channel=run.channel, source=SOURCE,
                                   ts=utc_now() - timedelta(milliseconds=1))
        return _InProcessConversation(self, runtime, bot.id, run)


class _InProcessConversation:
    def __init__(self, target: InProcess, runtime: Runtime, bot_id: str,
                 run: ScenarioRun) -> None:
        self._target = target
        self._runtime = runtime
        self._channel = DummyChannel(runtime, target.recorder)
        self._profile = dict(run.scenario.profile)
        self.bot_id = bot_id
        self.user_id = run.user_id
        self.channel = run.channel
        self.last_body: Any = None
        # What the channel sends outside a turn, heard as a WebSocket would hear it.
        self._inbox = LateInbox()
        self._listener = InboxSubscriber(self._inbox)
        self._channel.subscribe(bot_id, run.user_id, self._listener)

    @property
    def dummy_channel(self) -> DummyChannel:
        """The channel this conversation talks through (tests send late messages on it)."""
        return self._channel

    async def late(self, quiet: float) -> list[dict[str, Any]]:
        return await self._inbox.collect(quiet)

    async def send(self, *, text: str | None = None,
                   payload: str | None = None) -> list[dict[str, Any]]:
        replies = await self._channel.receive(self.bot_id, self.user_id, text=text,
                                              payload=payload, channel=self.channel,
                                              profile=self._profile or None)
        state = self._runtime.conversation(self.bot_id, self.user_id)
        # The body the dummy channel's HTTP face answers (connectors.dummy_http).
        self.last_body = {"replies": replies,
                          "assigned_to": "human" if state is not None and state.human else "bot"}
        return replies

    async def start(self, module: str, properties: Mapping[str, Any]) -> list[dict[str, Any]]:
        try:
            replies = await self._channel.start_module(
                self.bot_id, self.user_id, self.channel, module, properties=properties,
                profile=self._profile or None, push=False)
        except AudienceError as exc:
            raise TargetError(f"cannot start mid-flow at {module!r}: {exc.message}") from exc
        self.last_body = {"replies": replies, "assigned_to": "bot"}
        return replies

    async def captured(self) -> Captured:
        db, ledger = self._target.db, self._target.ledger
        if ledger is not None:
            # This conversation's own events, by id: every one recorded so far
            # acknowledged by the database; then one query, for the profile.
            try:
                await ledger.settled(self.bot_id, self.user_id)
            except CaptureLost as exc:
                raise TargetError(str(exc)) from exc
            profile = await ProfileStore.of(db).get_profile(self.bot_id, self.user_id)
            return Captured(profile, ledger.events(self.bot_id, self.user_id))
        await self._target.recorder.flush()
        profile = await ProfileStore.of(db).get_profile(self.bot_id, self.user_id)
        docs, _ = await CaptureStore.of(db).timeline(self.bot_id, self.user_id,
                                                     limit=TIMELINE_MAX_LIMIT)
        events = [{"type": d["type"], "data": d["data"], "ts": d["ts"],
                   "channel": d.get("channel")} for d in reversed(docs)]
        return Captured(profile, events)

    async def close(self) -> None:
        self._channel.unsubscribe(self.bot_id, self.user_id, self._listener)
        if self._target.ledger is not None:
            self._target.ledger.forget(self.bot_id, self.user_id)
        await self._runtime.close()  # its session is the target's: left open


# --- a running Audience server ----------------------------------------------


class AudienceServer:
    """A running Audience server with the dummy channel."""

    name = "audience"
    captures = True

    def __init__(self, spec: AudienceTarget, session: aiohttp.ClientSession) -> None:
        self.url = spec.url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {spec.key}"} if spec.key else {}
        self.session = session
        self.bot_id = spec.bot_id

    async def request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            async with self.session.request(method, self.url + path, headers=self.headers,
                                            **kwargs) as response:
                if response.content_type == "application/json":
                    body = await response.json()
                else:
                    body = await response.text()
                if response.status >= 400:
                    message = body.get("message") if isinstance(body, dict) else body
                    raise TargetError(f"{method} {path}: HTTP {response.status}: {message}",
                                      status=response.status)
                return body
        except aiohttp.ClientError as exc:
            raise TargetError(f"cannot reach the Audience server at {self.url}: {exc}") from exc

    async def open(self, run: ScenarioRun, bot: Bot | None, api_base: str | None
                   ) -> Conversation:
        if self.bot_id is not None:
            # A bot already deployed: talked to as it is (its own api_base, no stubs).
            await self._mark(self.bot_id, run)
            return await _ServerConversation(self, self.bot_id, run).listen()
        if run.scenario.bot_file is None or bot is None:
            raise TargetError(f"scenario {run.scenario.name!r} has no bot file to deploy "
                              "(or give the id of a bot deployed there: --bot-id)")
        # Read as the runtime reads it: the same loader accepts the same files.
        document = load_yaml(run.scenario.bot_file.read_text("utf-8"))
        # Its own bot id per run: a deployed bot has one api_base, and this run's
        # stubs live under their own prefix.
        bot_id = f"{bot.id}-sim-{run.run_id}"
        document["bot"]["id"] = bot_id
        if api_base is not None:
            document["bot"]["api_base"] = api_base
        await self.request("PUT", f"/v1/bots/{bot_id}/definition",
                           data=yaml.safe_dump(document, sort_keys=False).encode("utf-8"))
        await self._mark(bot_id, run)
        return await _ServerConversation(self, bot_id, run).listen()

    async def _mark(self, bot_id: str, run: ScenarioRun) -> None:
        """Record the run's first event, so its profile is a test user's."""
        marker = {"user_id": run.user_id, "type": "custom", "channel": run.channel,
                  "source": SOURCE, "data": {**_marker(run), "name": _MARKER}}
        await self.request("POST", f"/v1/bots/{bot_id}/events", json={"events": [marker]})


class _ServerConversation:
    def __init__(self, server: AudienceServer, bot_id: str, run: ScenarioRun) -> None:
        self._server = server
        self._profile = dict(run.scenario.profile)
        self._listens = run.scenario.listens
        self._inbox = LateInbox()
        self._socket: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self.bot_id = bot_id
        self.user_id = run.user_id
        self.channel = run.channel
        self.last_body: Any = None

    async def listen(self) -> _ServerConversation:
        """Open the dummy channel's WebSocket for the user when a step waits for
        late messages (a quiet period): what the server sends outside a turn."""
        if not self._listens:
            return self
        server = self._server
        url = f"{server.url}/v1/channels/dummy/{self.bot_id}/ws"
        try:
            self._socket = await server.session.ws_connect(
                url, params={"user_id": self.user_id}, headers=server.headers)
        except aiohttp.ClientError as exc:
            raise TargetError(f"cannot open the dummy channel's WebSocket at {url}: "
                              f"{exc}") from exc
        self._reader = asyncio.create_task(self._read(self._socket))
        return self

    async def _read(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        async for message in socket:
            if message.type is not aiohttp.WSMsgType.TEXT:
                break
            data = message.json()
            if isinstance(data, dict) and data.get("type") == "message":
                self._inbox.put(dict(data["message"]))

    async def late(self, quiet: float) -> list[dict[str, Any]]:
        if self._reader is not None and self._reader.done():
            self._reader.result()  # a reader that broke says why
        return await self._inbox.collect(quiet)

    async def send(self, *, text: str | None = None,
                   payload: str | None = None) -> list[dict[str, Any]]:
        body: dict[str, Any] = {"user_id": self.user_id, "channel": self.channel}
        body.update({"text": text} if payload is None else {"payload": payload})
        if self._profile:
            body["profile"] = self._profile
        answer = await self._server.request(
            "POST", f"/v1/channels/dummy/{self.bot_id}/messages?wait=true", json=body)
        self.last_body = answer
        return list(answer["replies"])

    async def start(self, module: str, properties: Mapping[str, Any]) -> list[dict[str, Any]]:
        # The documented hook (connectors.dummy_http.post_start): any server that
        # answers it as the dummy channel does can run scenarios that start mid-flow.
        body: dict[str, Any] = {"user_id": self.user_id, "channel": self.channel,
                                "module": module, "properties": dict(properties)}
        if self._profile:
            body["profile"] = self._profile
        answer = await self._server.request(
            "POST", f"/v1/channels/dummy/{self.bot_id}/start?wait=true", json=body)
        self.last_body = answer
        return list(answer["replies"])

    async def captured(self) -> Captured:
        base = f"/v1/bots/{self.bot_id}/users/{self.user_id}"
        profile = await self._server.request("GET", base)
        timeline = await self._server.request("GET", f"{base}/timeline?limit={TIMELINE_MAX_LIMIT}")
        return Captured(profile, list(reversed(timeline["events"])))

    async def close(self) -> None:
        if self._socket is not None:
            await self._socket.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)


# --- a generic JSON webhook -------------------------------------------------

_DEFAULT_REQUEST = {"user_id": "$.user_id", "text": "$.text", "payload": "$.payload",
                    "channel": "$.channel"}
_DEFAULT_REPLY = {"messages": "$.replies[*]", "text": "$.text", "buttons": "$.buttons",
                  "quick_replies": "$.quick_replies", "cards": "$.cards"}


class Webhook:
    """A bot on another runtime: each user input is POSTed as JSON, built with
    the ``request`` mapping; replies are read with the ``reply`` mapping
    (``messages`` finds the list of messages; the others are relative to one
    message). Defaults read and write the dummy channel's own shapes.

    With ``callback`` in the ``request`` mapping, each request also carries a
    URL of the simulator's (``inboxes``) where the bot may post what it says
    later, shaped like its answers; a step's quiet period collects it."""

    name = "webhook"
    captures = False

    def __init__(self, spec: WebhookTarget, session: aiohttp.ClientSession,
                 inboxes: Callable[[str], tuple[str, LateInbox]] | None = None) -> None:
        self.spec = spec
        self.request_map = {**_DEFAULT_REQUEST, **spec.request}
        self.reply_map = {**_DEFAULT_REPLY, **spec.reply}
        self.session = session
        self.inboxes = inboxes

    async def open(self, run: ScenarioRun, bot: Bot | None, api_base: str | None
                   ) -> Conversation:
        inbound = None
        if "callback" in self.request_map and self.inboxes is not None:
            inbound = self.inboxes(run.run_id)
        return _WebhookConversation(self, run, inbound)


class _WebhookConversation:
    def __init__(self, hook: Webhook, run: ScenarioRun,
                 inbound: tuple[str, LateInbox] | None) -> None:
        self._hook = hook
        self._inbound = inbound
        self.bot_id = "webhook"
        self.user_id = run.user_id
        self.channel = run.channel
        self.last_body: Any = None

    async def send(self, *, text: str | None = None,
                   payload: str | None = None) -> list[dict[str, Any]]:
        hook = self._hook
        body: dict[str, Any] = {}
        jsonpath.put(body, hook.request_map["user_id"], self.user_id)
        jsonpath.put(body, hook.request_map["channel"], self.channel)
        if payload is not None:
            jsonpath.put(body, hook.request_map["payload"], payload)
        else:
            jsonpath.put(body, hook.request_map["text"], text)
        if self._inbound is not None:
            jsonpath.put(body, hook.request_map["callback"], self._inbound[0])
        try:
            async with hook.session.post(hook.spec.url, json=body,
                                         headers=dict(hook.spec.headers)) as response:
                if response.status >= 400:
                    raise TargetError(f"the webhook answered HTTP {response.status}")
                answer = await response.json(content_type=None)
        except aiohttp.ClientError as exc:
            raise TargetError(f"cannot reach the webhook at {hook.spec.url}: {exc}") from exc
        except ValueError as exc:
            raise TargetError(f"the webhook's answer is not JSON: {exc}") from exc
        self.last_body = answer
        return self._messages(answer)

    def _messages(self, answer: Any) -> list[dict[str, Any]]:
        return [self._message(m) for m in jsonpath.find(answer, self._hook.reply_map["messages"])]

    def _message(self, raw: Any) -> dict[str, Any]:
        reply_map = self._hook.reply_map
        message: dict[str, Any] = {"text": next(iter(jsonpath.find(raw, reply_map["text"])), "")}
        for key in ("buttons", "quick_replies", "cards"):
            found = jsonpath.find(raw, reply_map[key])
            if found and isinstance(found[0], list) and found[0]:
                message[key] = found[0]
        return message

    async def late(self, quiet: float) -> list[dict[str, Any]]:
        if self._inbound is None:
            return []  # no callback: the bot answers in its response only
        posted = await self._inbound[1].collect(quiet)
        return [message for post in posted for message in self._messages(post["body"])]

    async def start(self, module: str, properties: Mapping[str, Any]) -> list[dict[str, Any]]:
        raise TargetError("a webhook target cannot start mid-flow ('given'): play the turns "
                          "that lead there")

    async def captured(self) -> Captured:
        raise TargetError("a webhook target captures no profile: check replies only, or let "
                          "the bot post its events to Audience and use an Audience target")

    async def close(self) -> None:
        pass


def _marker(run: ScenarioRun) -> dict[str, Any]:
    return {"scenario": run.scenario.name, "file": run.scenario.source, "run": run.run_id}
