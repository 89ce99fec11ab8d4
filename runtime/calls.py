"""The ``call`` step: the runtime's HTTP session, the ``${NAME}`` values of
api templates, and what a call's outcome does to the conversation (mapped
values checked and set, the observer told, the next module chosen).

The request itself is :func:`runtime.apis.call_api`'s.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import aiohttp

from plugin.core.properties import InvalidValue
from runtime.apis import ApiOutcome, call_api
from runtime.model import Bot, Call, FailureKind
from runtime.turn import Turn, notify

__all__ = ["ApiCalls"]

log = logging.getLogger(__name__)


class ApiCalls:
    """Runs ``call`` steps.

    Args:
        api_base: the value of ``${API_BASE}`` (overrides the bot's ``api_base``).
        variables: other ``${NAME}`` values (tokens, hosts).
        session: the session to call with; without one, one is opened on the
            first call and :meth:`close` closes it.
    """

    def __init__(
        self,
        api_base: str | None,
        variables: Mapping[str, str],
        session: aiohttp.ClientSession | None,
    ) -> None:
        self.api_base = api_base
        # Per deployed bot: its deployment's own ${API_BASE}, which wins over the rest.
        self.deployed: dict[str, str | None] = {}
        self._variables = dict(variables)
        self._session = session
        self._owns_session = session is None

    async def close(self) -> None:
        """Close the session opened here (not one that was given)."""
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    def env(self, bot: Bot) -> dict[str, str]:
        """The ``${NAME}`` values for ``bot``'s templates, ``API_BASE`` included."""
        env = dict(self._variables)
        api_base = (self.deployed.get(bot.id) or self.api_base or env.get("API_BASE")
                    or bot.api_base or "")
        env["API_BASE"] = api_base.rstrip("/")
        return env

    async def run(self, turn: Turn, step: Call) -> str | None:
        """Make the call; return the module it leads to, or ``None`` to go on."""
        api = turn.bot.apis[step.api]
        outcome = await call_api(self._http(), api, turn.values, self.env(turn.bot), step.save)
        values: dict[str, Any] = {}
        rejected: list[tuple[str, object, str]] = []
        for name, raw in outcome.values.items():
            try:
                values[name] = turn.bot.properties[name].check(raw)
            except InvalidValue as exc:
                rejected.append((name, raw, exc.reason))
        if rejected:
            outcome = _failed(outcome, f"mapped value for {rejected[0][0]!r}: {rejected[0][2]}")
        await notify(
            turn.observer.api_call,
            outcome.api,
            outcome.method,
            outcome.url,
            outcome.status,
            outcome.latency_ms,
            outcome.ok,
            None if outcome.error_kind is None else str(outcome.error_kind),
        )
        for name, raw, reason in rejected:
            await notify(turn.observer.property_rejected, name, raw, reason)
        if outcome.error_kind is not None:
            log.info("api %s failed: %s (%s)", api.name, outcome.error_kind, outcome.detail)
            return step.on_failure.route(outcome.error_kind)
        for name, value in values.items():
            await turn.set_property(name, value)
        return step.on_success

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session


def _failed(outcome: ApiOutcome, detail: str) -> ApiOutcome:
    return ApiOutcome(
        outcome.api,
        outcome.method,
        outcome.url,
        outcome.status,
        outcome.latency_ms,
        FailureKind.INVALID_RESPONSE,
        detail,
    )
