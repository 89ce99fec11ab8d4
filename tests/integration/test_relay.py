"""The outbound relay (plugin.handover.relay) between two servers over one
database: what one writes reaches the other's sockets once, only for the users
whose sockets it holds, only what was written after a socket opened."""

from __future__ import annotations

import asyncio
from typing import Any

from plugin.db.database import Database
from plugin.handover.relay import Relay


class Sockets:
    """A server's sockets, as the relay pushes to them: what each user got."""

    def __init__(self) -> None:
        self.got: dict[tuple[str, str], list[dict[str, Any]]] = {}

    async def push(self, bot_id: str, user_id: str, frames: list[dict[str, Any]]) -> None:
        self.got.setdefault((bot_id, user_id), []).extend(frames)


def server(db: Database, name: str) -> tuple[Relay, Sockets]:
    sockets = Sockets()
    relay = Relay(db, sockets.push)
    relay.origin = name
    return relay, sockets


def frame(text: str) -> dict[str, Any]:
    return {"type": "message", "message": {"text": text}}


async def test_a_message_reaches_the_other_servers_sockets_once(
        db: Database, bot_id: str) -> None:
    here, here_sockets = server(db, "here")
    there, there_sockets = server(db, "there")
    here.watch(bot_id, "u1")
    there.watch(bot_id, "u1")
    await there.publish(bot_id, "u1", [frame("one"), frame("two")])
    await there.publish(bot_id, "u2", [frame("not yours")])

    assert await here.poll_once() == 2
    assert await here.poll_once() == 0  # pushed once, however often it looks
    assert here_sockets.got == {(bot_id, "u1"): [frame("one"), frame("two")]}
    assert await there.poll_once() == 0  # its own: pushed when it wrote them
    assert there_sockets.got == {}


async def test_a_socket_gets_only_what_was_written_after_it_opened(
        db: Database, bot_id: str) -> None:
    here, here_sockets = server(db, "here")
    there, _ = server(db, "there")
    await there.publish(bot_id, "u3", [frame("before")])
    await asyncio.sleep(0.01)  # times are kept to the millisecond
    here.watch(bot_id, "u3")
    await there.publish(bot_id, "u3", [frame("after")])
    await here.poll_once()
    assert here_sockets.got == {(bot_id, "u3"): [frame("after")]}

    here.unwatch(bot_id, "u3")
    await there.publish(bot_id, "u3", [frame("closed")])
    assert await here.poll_once() == 0
