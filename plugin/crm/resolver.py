"""The delivery worker's resolver: resolve, check every address, hand over
only checked ones.

aiohttp's connector connects to exactly the addresses its resolver returns,
so refusing here — the whole answer, when any of its addresses is not
allowed (:func:`plugin.crm.addresses.refusal`) — means a webhook's name
cannot lead a delivery to a loopback, private or metadata address, however
its DNS answers change between checks (DNS rebinding). Addresses written in
the URL itself never reach a resolver: the worker checks those before it
sends (:func:`address_refusal`).
"""

from __future__ import annotations

import ipaddress
import socket

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from plugin.crm.addresses import explained, ip_literal, refusal

__all__ = ["PublicResolver", "RefusedAddress", "address_refusal", "refused_by"]


class RefusedAddress(OSError):
    """A webhook's host resolves to an address it may not be sent to."""


class PublicResolver(AbstractResolver):
    """aiohttp's default resolver, refusing names that resolve to an address a
    webhook may not reach (unless ``allow_private``, loopback and private ones)."""

    def __init__(self, *, allow_private: bool = False) -> None:
        self.allow_private = allow_private
        self._resolver = aiohttp.DefaultResolver()

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        found = await self._resolver.resolve(host, port, family)
        for answer in found:
            why = refusal(ipaddress.ip_address(answer["host"]),
                          allow_private=self.allow_private)
            if why is not None:
                raise RefusedAddress(explained(f"{host} resolves to {answer['host']}, which",
                                               why))
        return found

    async def close(self) -> None:
        await self._resolver.close()


def address_refusal(url: str, *, allow_private: bool = False) -> str | None:
    """Why (in words) a delivery may not go to ``url`` when its host is an
    address (``http://10.0.0.1/``, ``http://[::1]/``), or None."""
    host = URL(url).raw_host or ""
    ip = ip_literal(host)
    why = None if ip is None else refusal(ip, allow_private=allow_private)
    return None if why is None else explained(host, why)


def refused_by(exc: BaseException) -> RefusedAddress | None:
    """The refusal behind a connection error aiohttp raised, if that is what it was."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, RefusedAddress):
            return cause
        cause = cause.__cause__
    return None
