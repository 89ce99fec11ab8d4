"""The CLI as users run it: `audience serve`, and `audience keys create` on the
same data directory while the server is running."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp

AUDIENCE = str(Path(sys.executable).parent / "audience")


async def _run(*args: str, env: dict[str, str] | None = None,
               cwd: Path | None = None) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        AUDIENCE, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env=env, cwd=cwd)
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@contextlib.asynccontextmanager
async def running_server(data_dir: str | None, *args: str, env: dict[str, str] | None = None,
                         cwd: Path | None = None) -> AsyncIterator[str]:
    """``audience serve`` as a real process on a free port (whatever ``args``
    say); yields its URL, and checks on the way out that SIGTERM stops it
    cleanly. Without ``data_dir``, the default one (in ``cwd``)."""
    data = () if data_dir is None else ("--data-dir", data_dir)
    server = await asyncio.create_subprocess_exec(
        AUDIENCE, "serve", *data, *args, "--port", "0",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL, env=env, cwd=cwd)
    try:
        assert server.stdout is not None
        line = (await asyncio.wait_for(server.stdout.readline(), 60)).decode()
        match = re.search(r"serving on (http://\S+)", line)
        assert match, line
        yield match.group(1)
    finally:
        server.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(server.wait(), 30) == 0


async def test_keys_created_beside_a_running_server(tmp_path: Path) -> None:
    data_dir = str(tmp_path / "data")
    env = {k: v for k, v in os.environ.items() if k not in ("MONGODB_URI", "AUDIENCE_ADMIN_KEY")}
    async with running_server(data_dir, env=env) as url:
        code, key, err = await _run("keys", "create", "--role", "editor", "--bot", "b1",
                                    "--data-dir", data_dir)
        assert code == 0, err
        key = key.strip()
        assert key.startswith("aud_")

        headers = {"Authorization": f"Bearer {key}"}
        event = {"events": [{"user_id": "u", "type": "user_message", "data": {"text": "hi"}}]}
        async with aiohttp.ClientSession(headers=headers) as http:
            async with http.post(f"{url}/v1/bots/b1/events", json=event) as response:
                assert response.status == 202
            async with http.get(f"{url}/v1/bots/b1/users/u") as response:
                assert response.status == 200
                assert (await response.json())["message_count"] == 1
            async with http.get(f"{url}/v1/bots/b2/users/u") as response:
                assert response.status == 404

        code, out, err = await _run("query", "--bot", "b1", "--data-dir", data_dir,
                                    "--where", "message_count gte 1",
                                    "--where", "channel equals whatsapp", "--expr", "1 or 2")
        assert code == 0, err
        lines = out.splitlines()
        assert lines[0] == "Total: 1"
        assert lines[1].split() == ["user_id", "channel", "current_module", "last_message_at",
                                    "message_count"]
        assert lines[2].split()[:3] == ["u", "-", "-"] and lines[2].split()[-1] == "1"

        code, _, err = await _run("query", "--bot", "b1", "--data-dir", data_dir,
                                  "--where", "message_count gte 1", "--expr", "1 and not 1")
        assert code == 2
        assert "NOT is not supported" in err
    assert not (Path(data_dir) / "server.json").exists()


async def test_cli_reports_bad_arguments(tmp_path: Path) -> None:
    code, _, err = await _run("keys", "create", "--role", "owner", "--bot", "b1",
                              "--data-dir", str(tmp_path))
    assert code == 2
    assert "invalid choice: 'owner'" in err
    broken = tmp_path / "filter.json"
    broken.write_text("{conditions: []")
    code, _, err = await _run("query", "--bot", "b1", "--data-dir", ":memory:",
                              "--filter", str(broken))
    assert code == 2
    assert f"{broken} is not JSON" in err
    code, _, err = await _run("query", "--bot", "b1", "--data-dir", ":memory:",
                              "--where", "email")
    assert code == 2
    assert "--where 1 ('email') needs a property and an operator" in err
