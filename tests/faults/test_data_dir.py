"""Where the embedded database keeps its files: in the ``--data-dir`` of the
folder the command runs in, never in the temp folder the database process
runs in. Two checkouts served side by side (the default, relative
``.audience-data`` in each) keep their data apart; a command run from
another folder reaches a checkout's running server when given its data dir,
absolute or relative to where it runs.

Real ``audience serve`` processes and CLI runs; both servers get the same
temp folder (``TMPDIR``), as two checkouts on one machine do.
"""

from __future__ import annotations

import os
from pathlib import Path

import aiohttp
import pytest

from plugin.core.constants import MEMORY
from plugin.core.settings import Settings
from tests.integration.test_cli import _run, running_server

KEY = "data-dir-admin-key"


def test_the_data_dir_is_made_absolute_once_where_the_command_runs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert Settings.from_env({}).data_dir == str(tmp_path / ".audience-data")
    assert Settings.from_env({}, data_dir="data").data_dir == str(tmp_path / "data")
    assert Settings(data_dir="../x").data_dir == str(tmp_path.parent / "x")
    assert Settings.from_env({"AUDIENCE_DATA_DIR": MEMORY}).data_dir == MEMORY


async def _ingest(url: str, user: str) -> None:
    event = {"events": [{"user_id": user, "type": "user_message", "data": {"text": "hi"}}]}
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {KEY}"}) as http:
        async with http.post(f"{url}/v1/bots/shop/events", json=event) as response:
            assert response.status == 202, await response.text()


async def _users(url: str) -> set[str]:
    body = {"filter": {"conditions": []}, "limit": 10}
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {KEY}"}) as http:
        async with http.post(f"{url}/v1/bots/shop/audience/query", json=body) as response:
            assert response.status == 200, await response.text()
            return {u["user_id"] for u in (await response.json())["users"]}


async def test_two_checkouts_keep_their_data_apart_and_others_attach(tmp_path: Path) -> None:
    shared_tmp, first, second, elsewhere = (tmp_path / name for name in (
        "tmp", "checkout-a", "checkout-b", "elsewhere"))
    for folder in (shared_tmp, first, second, elsewhere):
        folder.mkdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("AUDIENCE_") and k != "MONGODB_URI"}
    env.update(TMPDIR=str(shared_tmp), AUDIENCE_ADMIN_KEY=KEY)

    async with running_server(None, env=env, cwd=first) as url_a, \
            running_server(None, env=env, cwd=second) as url_b:
        await _ingest(url_a, "ann")
        await _ingest(url_b, "bob")
        assert await _users(url_a) == {"ann"}
        assert await _users(url_b) == {"bob"}

        # From another folder: the running server's database, not a second one on its files.
        for data_dir, user in ((str(first / ".audience-data"), "ann"),
                               ("../checkout-b/.audience-data", "bob")):
            code, out, err = await _run("query", "--bot", "shop", "--data-dir", data_dir,
                                        env=env, cwd=elsewhere)
            assert code == 0, err
            assert out.splitlines()[0] == "Total: 1" and user in out
        code, key, err = await _run("keys", "create", "--role", "viewer", "--bot", "shop",
                                    "--data-dir", str(second / ".audience-data"), env=env,
                                    cwd=elsewhere)
        assert code == 0, err
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{url_b}/v1/bots/shop/users/bob",
                                headers={"Authorization": f"Bearer {key.strip()}"}) as answer:
                assert answer.status == 200

    for checkout in (first, second):
        stored = checkout / ".audience-data" / "db"
        assert stored.is_dir() and any(stored.iterdir()), checkout
    assert list(shared_tmp.rglob(".audience-data")) == []
    assert not (elsewhere / ".audience-data").exists()
    # The data stayed in its folder: a command run later, with no server, finds it there.
    code, out, err = await _run("query", "--bot", "shop", "--data-dir",
                                str(first / ".audience-data"), env=env, cwd=elsewhere)
    assert code == 0, err
    assert "ann" in out and "bob" not in out
