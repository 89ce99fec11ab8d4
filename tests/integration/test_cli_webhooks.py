"""`audience webhooks` as operators run it, beside a running `audience serve` on
the same data directory: the CLI configures, the server's worker delivers to a
real receiver on loopback."""

from __future__ import annotations

import os
from pathlib import Path

import aiohttp

from tests.integration.conftest import Receiver
from tests.integration.test_cli import _run, running_server
from tests.integration.test_dummy_channel import LEADS

KEY = "cli-webhooks-admin-key"


async def test_webhooks_from_the_command_line(tmp_path: Path, receiver: Receiver) -> None:
    data_dir = str(tmp_path / "data")
    env = {k: v for k, v in os.environ.items() if k != "MONGODB_URI"}
    env["AUDIENCE_ADMIN_KEY"] = KEY
    env["AUDIENCE_WEBHOOK_ALLOW_PRIVATE"] = "1"  # the receiver is on loopback
    data = ("--bot", "leads", "--data-dir", data_dir)
    async with running_server(data_dir, "--bot", str(LEADS), env=env) as url:
        code, out, err = await _run("webhooks", "create", *data, "--url", receiver.url,
                                    "--event", "message.received", "--event",
                                    "profile.created", env=env)
        assert code == 0, err
        hook_id = out.split()[1].rstrip(":")
        secret = out.splitlines()[1].rsplit(" ", 1)[1]
        assert len(secret) == 64

        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {KEY}"}) as http:
            async with http.post(f"{url}/v1/channels/dummy/leads/messages?wait=true",
                                 json={"user_id": "ann", "text": "hi"}) as response:
                assert response.status == 200
        await receiver.wait_for(lambda: len(receiver.requests) >= 2, timeout=30)
        assert [r.json["event"] for r in receiver.requests] == ["profile.created",
                                                               "message.received"]

        code, out, err = await _run("webhooks", "deliveries", *data, "--webhook", hook_id)
        assert code == 0, err
        rows = [line.split() for line in out.splitlines()[1:]]
        assert sorted((row[1], row[3], row[4]) for row in rows) == [
            ("message.received", "delivered", "1"), ("profile.created", "delivered", "1")]
        code, out, err = await _run("webhooks", "list", *data)
        assert code == 0, err
        assert out.splitlines()[1].split() == [hook_id, receiver.url,
                                               "profile.created,message.received", "yes",
                                               "0", "0"]
        code, out, err = await _run("webhooks", "replay", *data, "--webhook", hook_id)
        assert (code, out.strip()) == (0, "replayed: 0"), err

        code, out, err = await _run("webhooks", "create", *data, "--url", "ftp://crm",
                                    "--event", "handover")
        assert code == 2 and "http or https" in err
        code, out, err = await _run("webhooks", "create", *data, "--url", receiver.url,
                                    "--event", "handover", "--secret", "short", env=env)
        assert code == 2 and "secret" in err
        env.pop("AUDIENCE_WEBHOOK_ALLOW_PRIVATE")
        code, out, err = await _run("webhooks", "create", *data, "--url", receiver.url,
                                    "--event", "handover", env=env)
        assert code == 2 and "127.0.0.1 is a loopback address" in err
        code, out, err = await _run("webhooks", "pause", *data, "--webhook", hook_id)
        assert (code, out.strip()) == (0, f"webhook {hook_id}: paused"), err
        code, out, err = await _run("webhooks", "list", *data)
        assert out.splitlines()[1].split()[3] == "paused"
        code, out, err = await _run("webhooks", "resume", *data, "--webhook", hook_id)
        assert (code, out.strip()) == (0, f"webhook {hook_id}: active"), err
        code, out, err = await _run("webhooks", "delete", *data, "--webhook", hook_id)
        assert (code, out.strip()) == (0, f"deleted webhook {hook_id}"), err
        code, out, err = await _run("webhooks", "delete", *data, "--webhook", hook_id)
        assert code == 2 and "no webhook" in err
        assert err == f"audience: no webhook {hook_id!r}\n"
