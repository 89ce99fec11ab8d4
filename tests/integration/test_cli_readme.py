"""The README's command lines run as written: each ``audience`` line of its
"Running it" and webhook examples, in a folder like a checkout, beside the
README's own ``audience serve`` (on a free port rather than 8080)."""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

import aiohttp

from tests.integration.test_cli import _run, running_server

ROOT = Path(__file__).resolve().parents[2]
KEY = "cli-readme-admin-key"


def readme_block(after: str) -> list[list[str]]:
    """The ``audience`` command lines of the first code block after ``after``."""
    text = (ROOT / "README.md").read_text("utf-8")
    block = re.search(r"```\n(.*?)```", text[text.index(after):], re.S)
    assert block, after
    lines = [shlex.split(line, comments=True) for line in block.group(1).splitlines()]
    return [words[1:] for words in lines if words and words[0] == "audience"]


async def test_the_readme_command_lines_run_as_written(tmp_path: Path) -> None:
    running = readme_block("## Running it")
    webhooks = readme_block("From the command line, on the deployment")
    serves = [words for words in running if words[0] == "serve"]
    assert len(serves) == 2 and len(running) > 10 and len(webhooks) == 5
    (tmp_path / "scenarios").symlink_to(ROOT / "scenarios")
    (tmp_path / "filter.json").write_text(
        '{"conditions": [{"property": "email", "operator": "is_set"}]}')
    (tmp_path / "contacts.csv").write_text("E-mail,Name\nann@example.com,Ann\n")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("AUDIENCE_") and k != "MONGODB_URI"}
    env["AUDIENCE_ADMIN_KEY"] = KEY

    async with running_server(None, *serves[0][1:], env=env, cwd=tmp_path) as url:
        async with running_server(None, *serves[1][1:], env=env, cwd=tmp_path):
            pass
        events = [{"user_id": f"demo-00{n}", "type": "property_set",
                   "data": {"property": "email", "value": f"user{n}@example.com"}}
                  for n in range(1, 4)]
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {KEY}"}) as http:
            async with http.post(f"{url}/v1/bots/leads/events",
                                 json={"events": events}) as response:
                assert response.status == 202

        for words in running:
            if words[0] != "serve":
                code, out, err = await _run(*words, env=env, cwd=tmp_path)
                assert code == 0, (words, out, err)
        assert (tmp_path / "audience.xlsx").stat().st_size > 0

        code, out, err = await _run(*webhooks[0], env=env, cwd=tmp_path)
        assert code == 0, err
        hook_id = out.split()[1].rstrip(":")
        for words in webhooks[1:]:
            code, out, err = await _run(*(hook_id if w == "ID" else w for w in words),
                                        env=env, cwd=tmp_path)
            assert code == 0, (words, out, err)
