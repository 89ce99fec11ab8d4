"""``audience serve --workers 2``: two servers on one port and one embedded
database, one started again when it dies, all stopped by one SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
from pathlib import Path

import aiohttp

from tests.multiprocess.conftest import AUDIENCE, BOT, BOT_ID, KEY, _drain, server_env


def children(pid: int) -> set[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return {int(p) for p in text.split()}


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_workers_share_a_port_and_a_database_and_stop_together(tmp_path: Path) -> None:
    env = server_env()
    del env["AUDIENCE_LINK_SECRET"]  # the parent makes one for its workers
    parent = await asyncio.create_subprocess_exec(
        AUDIENCE, "serve", "--workers", "2", "--port", "0", "--data-dir", str(tmp_path),
        "--bot", str(BOT), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        env=env)
    assert parent.stdout is not None
    drain = None
    try:
        line = (await asyncio.wait_for(parent.stdout.readline(), 60)).decode()
        match = re.search(r"serving on (http://\S+) with 2 workers", line)
        assert match, line
        url = match.group(1)
        drain = asyncio.create_task(_drain(parent.stdout))
        # The database is started once, by the parent; the workers attach to it.
        database = json.loads((tmp_path / "server.json").read_text())["pid"]
        assert database in children(parent.pid)
        workers = children(parent.pid) - {database}
        assert len(workers) == 2

        auth = {"Authorization": f"Bearer {KEY}"}
        async with aiohttp.ClientSession(headers=auth) as session:
            async def say(text: str) -> list[str]:
                # A connection per turn, so the kernel may give each to either worker.
                async with session.post(f"{url}/v1/channels/dummy/{BOT_ID}/messages",
                                        json={"user_id": "w1", "text": text},
                                        headers={"Connection": "close"}) as response:
                    assert response.status == 200
                    return [r["text"] for r in (await response.json())["replies"]]

            assert await say("hi") == ["What's your name?"]
            assert await say("Grace") == ["Thanks Grace, which email?"]

            # A worker killed is started again; the service goes on meanwhile.
            os.kill(min(workers), signal.SIGKILL)
            assert await say("grace@example.com") == ["Which plan?"]
            for _ in range(100):
                now = children(parent.pid) - {database}
                if len(now) == 2 and min(workers) not in now:
                    break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError(f"the killed worker was not started again: {now}")
            async with session.get(f"{url}/health") as response:
                assert response.status == 200

        parent.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(parent.wait(), 40) == 0
        assert not any(alive(pid) for pid in now)
        assert not alive(database)  # the database stopped with them
    finally:
        if parent.returncode is None:
            parent.kill()
            await parent.wait()
        if drain is not None:
            drain.cancel()


async def test_workers_stop_when_their_parent_is_killed(tmp_path: Path) -> None:
    parent = await asyncio.create_subprocess_exec(
        AUDIENCE, "serve", "--workers", "2", "--port", "0", "--data-dir", str(tmp_path),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL, env=server_env())
    assert parent.stdout is not None
    database = None
    try:
        line = (await asyncio.wait_for(parent.stdout.readline(), 60)).decode()
        assert "with 2 workers" in line, line
        database = json.loads((tmp_path / "server.json").read_text())["pid"]
        workers = children(parent.pid) - {database}
        assert len(workers) == 2
        parent.kill()
        await parent.wait()
        for _ in range(100):
            if not any(alive(pid) for pid in workers):
                break
            await asyncio.sleep(0.1)
        assert not any(alive(pid) for pid in workers)
    finally:
        if parent.returncode is None:
            parent.kill()
            await parent.wait()
        if database is not None and alive(database):
            os.kill(database, signal.SIGKILL)  # the parent would have stopped it
