"""The ``rasa_sdk_plugins`` package rasa_sdk 3.x looks for, as a shim for many.

rasa_sdk imports one top-level package of this name and calls its
``init_hooks(manager)``; only one such package can exist in an environment.
This one registers every plugin published under the ``rasa_sdk`` entry-point
group, so several projects can each add their own::

    [options.entry_points]
    rasa_sdk =
        audience = connectors.rasa.action_server

A plugin that fails to load is logged and left out; the action server and
the other plugins start all the same.
"""

from __future__ import annotations

import logging
from importlib.metadata import entry_points

import pluggy

__all__ = ["GROUP", "init_hooks"]

GROUP = "rasa_sdk"
log = logging.getLogger(__name__)


def init_hooks(manager: pluggy.PluginManager) -> None:
    """Register each plugin of the ``rasa_sdk`` entry-point group with ``manager``."""
    for entry in sorted(entry_points(group=GROUP), key=lambda e: e.name):
        if manager.get_plugin(entry.name) is not None:
            continue
        try:
            plugin = entry.load()
            manager.register(plugin, name=entry.name)
        except Exception:
            log.exception("rasa_sdk plugin %r (%s) could not be loaded; skipped",
                          entry.name, entry.value)
            continue
        log.info("rasa_sdk plugin %r registered (%s)", entry.name, entry.value)
