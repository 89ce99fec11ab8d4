"""Fixtures of the fault suite: those of tests/conftest.py apply as they are;
the integration fixtures it uses are imported here."""

from __future__ import annotations

from tests.integration.conftest import receiver  # noqa: F401
from tests.web.conftest import web_server  # noqa: F401
