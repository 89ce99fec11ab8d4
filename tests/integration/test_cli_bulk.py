"""`audience segments` and `audience broadcast` as users run them, beside a
running `audience serve` on the same data directory: the CLI queues the
broadcast and the server's job worker delivers it."""

from __future__ import annotations

import os
from pathlib import Path

import aiohttp

from tests.integration.test_cli import _run, running_server
from tests.integration.test_dummy_channel import LEADS

KEY = "cli-bulk-admin-key"


async def test_segments_and_a_broadcast_from_the_command_line(tmp_path: Path) -> None:
    data_dir = str(tmp_path / "data")
    env = {k: v for k, v in os.environ.items() if k != "MONGODB_URI"}
    env["AUDIENCE_ADMIN_KEY"] = KEY
    async with running_server(data_dir, "--bot", str(LEADS), env=env) as url:
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {KEY}"}) as http:
            for user in ("a", "b", "c"):
                async with http.post(f"{url}/v1/channels/dummy/leads/messages?wait=true",
                                     json={"user_id": user, "text": "hi"}) as response:
                    assert response.status == 200

            data = ("--bot", "leads", "--data-dir", data_dir)
            code, out, err = await _run("segments", "create", *data, "--name", "VIP",
                                        "--static", "--user", "a", "--user", "b",
                                        "--user", "ghost")
            assert code == 0, err
            assert "(static, 2 users)" in out and "ghost" in err
            code, out, err = await _run("segments", "add", *data, "--segment", "vip",
                                        "--user", "c")
            assert (code, out.strip()) == (0, "add: 1"), err
            code, out, err = await _run("segments", "remove", *data, "--segment", "VIP",
                                        "--user", "c")
            assert (code, out.strip()) == (0, "remove: 1"), err
            code, out, err = await _run("segments", "create", *data, "--name", "Everyone",
                                        "--where", "message_count gte 1")
            assert code == 0 and "(dynamic, 3 users)" in out, err
            code, out, err = await _run("segments", "list", *data)
            assert code == 0, err
            assert [row.split()[1] for row in out.splitlines()[1:]] == ["Everyone", "VIP"]

            # A segment in a filter is named as a person would name it (or by id).
            code, out, err = await _run("query", *data, "--where", "segment in vip",
                                        "--sort", "-user_id")
            assert code == 0, err
            assert out.splitlines()[0] == "Total: 2"
            assert [row.split()[0] for row in out.splitlines()[2:]] == ["b", "a"]
            code, out, err = await _run("segments", "create", *data, "--name", "Not VIP",
                                        "--where", "segment not_in VIP")
            assert code == 0 and "(dynamic, 1 users)" in out, err

            code, out, err = await _run("broadcast", *data, "--segment", "VIP",
                                        "--text", "Hello from the CLI")
            assert code == 0, err
            job_id = out.split()[1].rstrip(":")
            assert "2/2  sent 2" in err
            for user, expected in (("a", 1), ("b", 1), ("c", 0)):
                async with http.get(f"{url}/v1/bots/leads/users/{user}/timeline") as response:
                    events = (await response.json())["events"]
                sent = [e for e in events if e["data"].get("job") == job_id]
                assert len(sent) == expected, user
            async with http.get(f"{url}/v1/jobs/{job_id}") as response:
                assert (await response.json())["started_by"]["label"] == "command line"
            code, _, err = await _run("broadcast", *data, "--segment", "nope", "--text", "x")
            assert code == 2 and "no segment named 'nope'" in err
            assert err == "audience: bot 'leads' has no segment named 'nope'\n"
