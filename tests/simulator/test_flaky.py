"""--repeat and --retries: a bot whose answer changes from one conversation to
the next (a real server on loopback that says the wrong thing every other
time) is reported flaky, with the differing step, in the summary, JUnit and
JSON; a pass after a retry is flaky, not a plain pass."""

from __future__ import annotations

import asyncio
import json
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from plugin.cli.main import main


@pytest.fixture
def moody_bot() -> Iterator[str]:
    """A webhook bot in a thread of its own (the CLI runs its own loop): the
    first conversation's answer is wrong, then right, then wrong…"""
    calls = {"n": 0}
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    url: dict[str, Any] = {}

    async def hook(request: web.Request) -> web.Response:
        body = await request.json()
        if body["text"] == "steady":
            return web.json_response({"replies": [{"text": "always the same"}]})
        calls["n"] += 1
        said = "hello" if calls["n"] % 2 == 0 else "hullo"
        return web.json_response({"replies": [{"text": said}]})

    async def serve() -> web.AppRunner:
        app = web.Application()
        app.router.add_post("/hook", hook)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        url["url"] = "http://{}:{}/hook".format(*runner.addresses[0][:2])
        return runner

    def run() -> None:
        asyncio.set_event_loop(loop)
        url["runner"] = loop.run_until_complete(serve())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    ready.wait(10)
    yield url["url"]
    asyncio.run_coroutine_threadsafe(url["runner"].cleanup(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


def _suite(tmp_path: Path, url: str) -> Path:
    suite = tmp_path / "moody.yaml"
    suite.write_text(f"""
target: {{webhook: {{url: "{url}"}}}}
scenarios:
  - name: greeting
    steps:
      - say: steady
        expect: {{text: always the same}}
      - say: hi
        expect: {{text: hello}}
""")
    return suite


def test_repeat_reports_a_flipping_verdict_with_the_differing_step(
        moody_bot: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junit, report = tmp_path / "junit.xml", tmp_path / "report.json"
    status = main(["simulate", str(_suite(tmp_path, moody_bot)), "--repeat", "4",
                   "--concurrency", "1", "--junit", str(junit), "--json", str(report)])
    out, _ = capsys.readouterr()
    assert status == 0, out  # flaky is reported, not failed
    assert "0 passed, 0 failed, 1 flaky" in out
    assert "FLAKY greeting [web]" in out and "2 of 4 attempts failed" in out
    assert "step 2 (say 'hi'): text\n  expected: a reply 'hello'" in out
    [result] = json.loads(report.read_text())["results"]
    assert result["outcome"] == "flaky"
    assert [a["outcome"] for a in result["attempts"]] == ["failed", "passed"] * 2
    assert result["failure"]["step"] == 2
    root = ET.parse(junit).getroot()
    assert root.get("flaky") == "1" and root.get("failures") == "0"
    case = root.find("testsuite/testcase")
    assert case is not None and case.find("failure") is None
    assert len(case.findall("flakyFailure")) == 2


def test_a_pass_after_a_retry_is_flaky_and_a_failure_every_time_fails(
        moody_bot: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junit = tmp_path / "junit.xml"
    status = main(["simulate", str(_suite(tmp_path, moody_bot)), "--retries", "2",
                   "--junit", str(junit)])
    out, _ = capsys.readouterr()
    assert status == 0 and "0 passed, 0 failed, 1 flaky" in out, out
    assert "1 of 2 attempts failed" in out
    case = ET.parse(junit).getroot().find("testsuite/testcase")
    assert case is not None and len(case.findall("flakyFailure")) == 1
    stuck = tmp_path / "stuck.yaml"
    stuck.write_text(_suite(tmp_path, moody_bot).read_text().replace("text: hello",
                                                                    "text: bonjour"))
    status = main(["simulate", str(stuck), "--retries", "2"])
    out, _ = capsys.readouterr()
    assert status == 1 and "0 passed, 1 failed" in out and "3 of 3 attempts failed" in out
