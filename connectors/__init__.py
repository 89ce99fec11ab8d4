"""Connectors: translate bot runtimes' and channels' events into the plugin's
recorder calls. No business logic lives here."""
