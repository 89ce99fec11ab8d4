"""``audience demo`` as a new user runs it: it prints the tab's URL and a key,
and that URL and key open the demo bot's audience in the browser."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

from playwright.async_api import Page, expect

AUDIENCE = str(Path(sys.executable).parent / "audience")


async def test_the_demo_prints_the_tab_and_a_key_that_opens_it(page: Page,
                                                              tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("MONGODB_URI", "AUDIENCE_ADMIN_KEY")}
    demo = await asyncio.create_subprocess_exec(
        AUDIENCE, "demo", "--port", "0", "--data-dir", str(tmp_path / "data"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL, env=env)
    try:
        assert demo.stdout is not None
        printed = ""
        while "Press Ctrl-C" not in printed:
            line = await asyncio.wait_for(demo.stdout.readline(), 90)
            assert line, printed
            printed += line.decode()
        tab = re.search(r"The Audience tab: (http://\S+/)", printed)
        key = re.search(r"Admin API key: (\S+)", printed)
        assert tab and key, printed
        assert f"Open {tab[1]} in a browser and sign in with that key." in printed

        await page.goto(tab[1])
        await page.get_by_label("API key").fill(key[1])
        await page.get_by_role("button", name="Sign in").click()
        await page.get_by_role("link", name="Acme lead capture").click()
        await expect(page.get_by_role("status", name="Total")).to_have_text("200 users")
    finally:
        demo.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(demo.wait(), 30) == 0
