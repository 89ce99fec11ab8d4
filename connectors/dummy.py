"""The dummy channel: a bot deployed on the reference runtime, talked to over
HTTP (and a WebSocket for messages sent outside a request), the way a team
tries a bot before go-live.

A user's input goes to the runtime; the bot's messages are adapted to the
user's channel (plugin.handover.channel_profiles) and the delivered form is
returned and recorded. Everything the runtime reports goes to the Audience recorder, so
the profile's timeline shows the whole conversation.

Several servers may run it over one database (``audience serve --workers N``,
or hosts behind a load balancer): the runtime keeps conversations in the
database, the numbered options a user may answer go there too
(:class:`plugin.handover.store.ConversationStore`), and a message for a
user's WebSockets reaches them on whichever server holds them
(:class:`plugin.handover.relay.Relay`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Mapping
from typing import Any, Protocol

from plugin.capture.recorder import Recorder
from plugin.handover.channel_profiles import adapt, profile_for, resolve_option
from plugin.handover.relay import Relay
from plugin.handover.store import ConversationStore, DefinitionStore
from runtime.engine import Runtime
from runtime.loader import parse_bot
from runtime.model import Bot

from .capture import RecorderObserver

__all__ = ["DummyChannel", "SOURCE", "Subscriber"]

SOURCE = "dummy"
log = logging.getLogger(__name__)


class Subscriber(Protocol):
    """Who hears a user's messages sent outside a turn: a WebSocket, or a
    listener in-process (the simulator's late-message inbox)."""

    async def send_json(self, data: Any) -> None: ...

    async def close(self) -> object: ...


class DummyChannel:
    """Implements :class:`plugin.handover.channels.ChannelConnector` for source ``dummy``."""

    source = SOURCE

    def __init__(self, runtime: Runtime, recorder: Recorder | None, *,
                 relay: Relay | None = None, shared: ConversationStore | None = None,
                 definitions: DefinitionStore | None = None) -> None:
        self.runtime = runtime
        self.recorder = recorder  # None: capture off (the runtime benchmark's baseline)
        # Set when servers share the database: messages for sockets held
        # elsewhere, options a user answers on another server, bots deployed
        # through the API on another server (and the version running here).
        self.relay = relay
        self.shared = shared
        self.definitions = definitions
        self._versions: dict[str, int] = {}
        self._options: dict[tuple[str, str], list[dict[str, str]]] = {}
        self._channels: dict[tuple[str, str], str] = {}
        self._sockets: dict[tuple[str, str], set[Subscriber]] = defaultdict(set)

    async def receive(
        self,
        bot_id: str,
        user_id: str,
        *,
        text: str | None = None,
        payload: str | None = None,
        channel: str = "web",
        profile: Mapping[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """One user input; returns the bot's replies as the channel delivers them."""
        key = (bot_id, user_id)
        await self.require_bot(bot_id)  # an unknown bot is a 404 before anything is recorded
        self._channels[key] = channel
        if self.shared is None:
            options = self._options.pop(key, [])
        else:  # a channel that shows every button (web) never numbers options: no read
            limits = profile_for(channel)
            numbers = limits.max_buttons is not None or limits.max_quick_replies is not None
            options = await self.shared.options(bot_id, user_id) if numbers else []
        if text is not None and payload is None and options:
            payload = resolve_option(text, options)
        observer = self._observer(bot_id, user_id, channel)
        await self._first_contact(bot_id, user_id, channel, profile)
        known = {"channel": channel, "attributes": dict(profile or {})}
        result = await self.runtime.handle(bot_id, user_id, text=text, payload=payload,
                                           channel=channel, profile=known, observer=observer)
        delivered = self._adapt(bot_id, user_id, channel, [m.to_dict() for m in result.messages])
        await self._share_options(bot_id, user_id, replaced=bool(options))
        if observer is not None:
            for message in delivered:
                await observer.delivered(message)
        return delivered

    async def deliver(self, bot_id: str, user_id: str, channel: str | None,
                      message: dict[str, Any]) -> list[dict[str, Any]]:
        """A message from outside a turn (an agent, a broadcast): adapt, push to the
        user's open WebSockets, return the delivered form. The caller records it."""
        channel = channel or self._channels.get((bot_id, user_id), "web")
        delivered = self._adapt(bot_id, user_id, channel, [message])
        await self._share_options(bot_id, user_id)
        await self._send(bot_id, user_id, delivered)
        return delivered

    async def require_bot(self, bot_id: str) -> Bot:
        """The bot, as deployed last on any server of the deployment.

        Raises:
            NotFound: no such bot is deployed.
        """
        if self.definitions is not None:
            version = await self.definitions.version(bot_id)
            if version is not None and version != self._versions.get(bot_id):
                found = await self.definitions.definition(bot_id)
                if found is not None:
                    text, version = found
                    bot = parse_bot(text, f"bot {bot_id!r} as deployed through the API")
                    self.runtime.deploy(bot, api_base=bot.api_base)
                    self._versions[bot_id] = version
        return self.runtime.bot(bot_id)

    async def share_definition(self, bot: Bot, text: str) -> None:
        """``bot``, just deployed here from ``text`` through the API, for every server."""
        if self.definitions is not None:
            self._versions[bot.id] = await self.definitions.save(bot.id, text)

    def has_module(self, bot_id: str, module: str) -> bool:
        bot = self.runtime.bots.get(bot_id)
        return bot is not None and module in bot.modules

    def modules(self, bot_id: str) -> list[str]:
        bot = self.runtime.bots.get(bot_id)
        return sorted(bot.modules) if bot is not None else []

    async def start_module(self, bot_id: str, user_id: str, channel: str | None,
                           module: str, *, properties: Mapping[str, Any] | None = None,
                           profile: Mapping[str, Any] | None = None,
                           push: bool = True) -> list[dict[str, Any]]:
        """Run ``module`` for the user as if they had triggered it (a workflow): the
        replies are adapted, pushed to the user's WebSockets (unless ``push`` is
        off: the caller hands them over itself) and recorded. ``properties`` are
        stored first, as if collected (a conversation started mid-flow; see
        :meth:`runtime.engine.Runtime.start_module`); ``profile`` is what the
        channel knows of the user on first contact, as for :meth:`receive`."""
        await self.require_bot(bot_id)
        channel = channel or self._channels.get((bot_id, user_id), "web")
        self._channels[(bot_id, user_id)] = channel
        observer = self._observer(bot_id, user_id, channel)
        await self._first_contact(bot_id, user_id, channel, profile)
        known = {"channel": channel, "attributes": dict(profile or {})}
        result = await self.runtime.start_module(bot_id, user_id, module, channel=channel,
                                                 profile=known, observer=observer,
                                                 properties=properties)
        delivered = self._adapt(bot_id, user_id, channel, [m.to_dict() for m in result.messages])
        await self._share_options(bot_id, user_id)
        if observer is not None:
            for message in delivered:
                await observer.delivered(message)
        if push:
            await self._send(bot_id, user_id, delivered)
        return delivered

    async def assignment_changed(self, bot_id: str, user_id: str, assigned_to: str) -> None:
        await self.runtime.assign(bot_id, user_id, human=assigned_to != "bot")

    def subscribe(self, bot_id: str, user_id: str, socket: Subscriber) -> None:
        self._sockets[(bot_id, user_id)].add(socket)
        if self.relay is not None:
            self.relay.watch(bot_id, user_id)

    def unsubscribe(self, bot_id: str, user_id: str, socket: Subscriber) -> None:
        sockets = self._sockets.get((bot_id, user_id))
        if sockets is not None:
            sockets.discard(socket)
            if not sockets:
                del self._sockets[(bot_id, user_id)]
                if self.relay is not None:
                    self.relay.unwatch(bot_id, user_id)

    async def close_sockets(self) -> None:
        for sockets in list(self._sockets.values()):
            for socket in list(sockets):
                await socket.close()
        self._sockets.clear()

    async def _first_contact(self, bot_id: str, user_id: str, channel: str,
                             profile: Mapping[str, Any] | None) -> None:
        """Record what the channel knows of a user it meets for the first time."""
        first_contact = not await self.runtime.known(bot_id, user_id)
        if first_contact and profile and self.recorder is not None:
            for name, value in profile.items():
                await self.recorder.property_set(bot_id, user_id, name, value, channel=channel,
                                                 source=SOURCE)

    def _observer(self, bot_id: str, user_id: str, channel: str) -> RecorderObserver | None:
        if self.recorder is None:
            return None
        return RecorderObserver(self.recorder, bot_id, user_id, channel, SOURCE)

    def _adapt(self, bot_id: str, user_id: str, channel: str,
               messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The messages as ``channel`` delivers them; remembers the numbered
        options the user may answer next."""
        profile = profile_for(channel)
        delivered: list[dict[str, Any]] = []
        options: list[dict[str, str]] = []
        for message in messages:
            adapted = adapt(message, profile)
            delivered += adapted.messages
            options += adapted.options
        if options:
            self._options[(bot_id, user_id)] = options
        return delivered

    async def _share_options(self, bot_id: str, user_id: str, *, replaced: bool = False) -> None:
        """Keep the options just offered where every server finds them (and drop the
        ones the user has just answered, ``replaced``, when no new ones come)."""
        if self.shared is None:
            return
        options = self._options.pop((bot_id, user_id), [])
        if options or replaced:
            await self.shared.set_options(bot_id, user_id, options)

    async def _send(self, bot_id: str, user_id: str, messages: list[dict[str, Any]]) -> None:
        """To the user's sockets: those of the other servers first (through the
        database: once written, the message reaches them even if this server
        dies now), then this server's own."""
        frames = [{"type": "message", "message": message} for message in messages]
        if self.relay is not None:
            await self.relay.publish(bot_id, user_id, frames)
        await self.push_here(bot_id, user_id, frames)

    async def push_here(self, bot_id: str, user_id: str, frames: list[dict[str, Any]]) -> None:
        """Frames to the user's sockets this server holds (the relay's :data:`Push`)."""
        sockets = list(self._sockets.get((bot_id, user_id), ()))
        await asyncio.gather(*(self._push(socket, frames) for socket in sockets))

    async def _push(self, socket: Subscriber, frames: list[dict[str, Any]]) -> None:
        with contextlib.suppress(ConnectionResetError, RuntimeError):
            for frame in frames:
                await socket.send_json(frame)
