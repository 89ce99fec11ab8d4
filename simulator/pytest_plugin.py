"""The pytest plugin (``pytest11`` entry point ``audience``): fixtures for the
simulator and, when pytest-bdd is installed, its step library
(:mod:`simulator.steps`), so ``.feature`` files run under plain ``pytest``.

Thin on purpose: the fixtures hand off to :class:`~simulator.host.SimulatorHost`
and the steps module. Nothing starts unless a test asks for a fixture; the
database is ``MONGODB_URI`` or an embedded one started on first use.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from importlib.util import find_spec
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .host import SimulatorHost
    from .steps import GherkinConversation

# Registered like a plugin, so pytest-bdd finds the steps from any test module.
pytest_plugins = ["simulator.steps"] if find_spec("pytest_bdd") is not None else []


@pytest.fixture(scope="session")
def audience_simulator() -> Iterator[SimulatorHost]:
    """The session's simulator, on a loop of its own."""
    from .host import SimulatorHost

    host = SimulatorHost.start(mongo_uri=os.environ.get("MONGODB_URI") or None)
    yield host
    host.close()


@pytest.fixture
def audience_conversation(audience_simulator: SimulatorHost,
                          request: pytest.FixtureRequest) -> Iterator[GherkinConversation]:
    """One scenario's conversation; its test user's timeline outlives it."""
    from .steps import GherkinConversation

    conversation = GherkinConversation(audience_simulator, request.config.rootpath,
                                       name=request.node.name)
    yield conversation
    conversation.close()
