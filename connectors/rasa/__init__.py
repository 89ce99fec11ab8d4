"""Audience for Rasa bots, with configuration only.

* :mod:`.events` — Rasa tracker events → Audience events (pure, shared by both paths).
* :mod:`.consumer` — the event-broker consumer (RabbitMQ, aio-pika).
* :mod:`.cli` — ``audience rasa consume``.
* :mod:`.action_server` — the rasa_sdk plugin that captures custom-action calls.
* :mod:`.api_calls` — ``record_api_call``, for the backend calls custom actions make.

Nothing here is imported by ``plugin``; aio-pika and rasa_sdk are imported only
by the modules that need them (the ``rasa`` extra).
"""

__all__ = ["DEFAULT_QUEUE", "DEFAULT_EXCHANGE"]

# Rasa's own defaults for the pika event broker.
DEFAULT_QUEUE = "rasa_core_events"
DEFAULT_EXCHANGE = "rasa-exchange"
