"""Typed application keys for the shared state of the aiohttp app."""

from __future__ import annotations

from aiohttp import web

from ..keys import Principal
from ..settings import Settings
from ..store import Store

__all__ = ["SETTINGS", "STORE", "PRINCIPAL"]

SETTINGS = web.AppKey("settings", Settings)
STORE = web.AppKey("store", Store)
PRINCIPAL = web.RequestKey("principal", Principal)  # the authenticated key
