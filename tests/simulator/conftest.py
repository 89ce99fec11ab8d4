"""Fixtures of the simulator tests: a :class:`Simulator` on the session's
store (no database of its own), and the scenario files kept beside them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from plugin.db.database import Database
from simulator.runner import Simulator

HERE = Path(__file__).parent
SCENARIOS = HERE / "scenarios"
INVALID = HERE / "invalid"
EXAMPLES = HERE.parents[1] / "scenarios"


@pytest_asyncio.fixture
async def simulator(db: Database) -> AsyncIterator[Simulator]:
    async with Simulator(db=db) as simulator:
        yield simulator
