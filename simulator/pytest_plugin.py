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
from typing import TYPE_CHECKING, Any

import pytest

from .coverage import session as coverage_session

if TYPE_CHECKING:
    from .host import SimulatorHost
    from .steps import GherkinConversation

# Registered like a plugin, so pytest-bdd finds the steps from any test module.
pytest_plugins = ["simulator.steps"] if find_spec("pytest_bdd") is not None else []


def pytest_addoption(parser: pytest.Parser) -> None:
    coverage_session.add_options(parser)


def pytest_sessionfinish(session: pytest.Session) -> None:
    coverage_session.finish(session)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter,
                            config: pytest.Config) -> None:
    coverage_session.summary(terminalreporter, config)


@pytest.fixture(scope="session")
def audience_simulator(request: pytest.FixtureRequest) -> Iterator[SimulatorHost]:
    """The session's simulator, on a loop of its own (followed for coverage
    with ``--audience-coverage``)."""
    from .host import SimulatorHost

    host = SimulatorHost.start(mongo_uri=os.environ.get("MONGODB_URI") or None,
                               watch=coverage_session.collector(request.config),
                               **_target_options())
    yield host
    host.close()


@pytest.fixture
def audience_conversation(audience_simulator: SimulatorHost,
                          request: pytest.FixtureRequest) -> Iterator[GherkinConversation]:
    """One scenario's conversation; its test user's timeline outlives it."""
    from .steps import GherkinConversation, feature_dir

    conversation = GherkinConversation(audience_simulator, request.config.rootpath,
                                       name=request.node.name,
                                       feature_dir=feature_dir(request))
    yield conversation
    conversation.close()


def _target_options() -> dict[str, Any]:
    """``AUDIENCE_TARGET=rasa+http://host:5005`` runs every feature against a Rasa
    bot, whose captures are read under ``AUDIENCE_BOT_ID`` from ``MONGODB_URI``'s
    ``AUDIENCE_DB_NAME`` (default ``audience``)."""
    target = os.environ.get("AUDIENCE_TARGET")
    if not target:
        return {}
    url = target.removeprefix("rasa+").rstrip("/")
    if not target.startswith("rasa+") or not url.startswith(("http://", "https://")):
        raise pytest.UsageError(f"AUDIENCE_TARGET must be rasa+http://host:port, not {target!r}")
    from plugin.core.constants import DEFAULT_DB_NAME

    from .model import RasaTarget

    return {"rasa": RasaTarget(url, os.environ.get("AUDIENCE_BOT_ID") or None),
            "db_name": os.environ.get("AUDIENCE_DB_NAME", DEFAULT_DB_NAME)}
