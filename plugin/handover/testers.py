"""The seam between the web tab's test-bot page and whoever runs bots on a
test channel (the simulator extension, over the dummy channel).

The page lets a person chat with a deployed bot as a test user, keep that
conversation as a scenario file, and run a bot's scenario suite. ``plugin``
cannot run a bot nor read a scenario (it imports no runtime, connector or
simulator), so an extension that can puts a :class:`BotTester` into the app
(``plugin.http.appkeys.BOT_TESTER``) and the page calls it. Without one, the
page says so. Pure: no I/O here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["BotTester", "ScenarioOutcome", "SuiteFile", "TestSuite", "TEST_CHANNELS"]

# The channels a test user can talk on, as (value, label), in the order shown.
TEST_CHANNELS = (("web", "Web"), ("messenger", "Messenger"), ("whatsapp", "WhatsApp"))


@dataclass(frozen=True, slots=True)
class SuiteFile:
    """A scenario file a person uploaded: its name and its text."""

    name: str
    text: str


@dataclass(frozen=True, slots=True)
class ScenarioOutcome:
    """One scenario run of a suite, as the page shows it."""

    title: str  # "name [channel]"
    where: str  # file:line
    passed: bool
    outcome: str  # passed, failed, error
    detail: str  # what failed and how ("" when it passed)
    bot_id: str | None
    user_id: str  # the run's test user, whose profile shows what happened


class TestSuite(Protocol):
    """A loaded suite, ready to run."""

    @property
    def files(self) -> Sequence[str]:
        """The scenario files, as named to the person who runs them."""

    @property
    def total(self) -> int:
        """Runs: one per scenario and channel."""

    async def run(self, progress: Callable[[ScenarioOutcome], None]) -> None:
        """Run every scenario, calling ``progress`` as each one ends."""


class BotTester(Protocol):
    """What the test-bot page needs from a test channel."""

    def knows(self, bot_id: str) -> bool:
        """Whether the bot is deployed on the test channel."""

    async def start(self, bot_id: str, user_id: str, channel: str) -> None:
        """Make ``user_id`` a test user (its profile marked ``test``), before its
        first message."""

    async def send(self, bot_id: str, user_id: str, channel: str, *, text: str | None = None,
                   payload: str | None = None) -> list[dict[str, Any]]:
        """One input of the test user; the bot's replies as the channel delivers
        them, once the turn's capture is written."""

    def scenario(self, bot_id: str, channel: str, events: Sequence[Mapping[str, Any]]) -> str:
        """The conversation of ``events`` (a timeline, oldest first) as a scenario
        file's YAML text, expectations filled from what happened."""

    def suite_files(self, bot_id: str) -> list[str]:
        """The scenario files configured for the bot."""

    def suite(self, bot_id: str, uploaded: SuiteFile | None) -> TestSuite:
        """The bot's configured scenario files and ``uploaded``, loaded.

        Raises:
            InvalidRequest: a file is not a valid scenario file (every problem,
                at its line), or there is no scenario to run.
        """
