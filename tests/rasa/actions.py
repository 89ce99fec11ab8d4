"""Custom actions the test action server runs (``rasa_sdk --actions tests.rasa.actions``).

Ordinary rasa_sdk actions: capture comes from the plugin, not from this code,
apart from the one helper for backend calls.
"""

from __future__ import annotations

from typing import Any

import aiohttp
from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.interfaces import ActionExecutionRejection

from connectors.rasa.api_calls import record_api_call


class GreetUser(Action):
    def name(self) -> str:
        return "action_greet_user"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[dict[str, Any]]:
        dispatcher.utter_message(text="Welcome back!",
                                 buttons=[{"title": "Order", "payload": "/order"}])
        return [SlotSet("name", "Ada"), SlotSet("vip", True)]


class Broken(Action):
    def name(self) -> str:
        return "action_broken"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[dict[str, Any]]:
        raise RuntimeError("the action itself failed")


class Rejects(Action):
    def name(self) -> str:
        return "action_rejects"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[dict[str, Any]]:
        raise ActionExecutionRejection(self.name(), "nothing to do here")


class CheckOrder(Action):
    """Calls the backend named by the ``api_url`` slot, through the helper."""

    def name(self) -> str:
        return "action_check_order"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[dict[str, Any]]:
        url = str(tracker.get_slot("api_url"))
        timeout = aiohttp.ClientTimeout(total=1)
        try:
            async with aiohttp.ClientSession(timeout=timeout) as session:
                async with record_api_call(tracker, "order_status", url) as call:
                    async with session.get(url) as response:
                        call.status = response.status
                        body = await response.json() if response.status == 200 else {}
        except (aiohttp.ClientError, TimeoutError, ValueError):
            dispatcher.utter_message(text="I could not check your order.")
            return []
        dispatcher.utter_message(text=f"Your order is {body.get('status', 'unknown')}.")
        return [SlotSet("order_status", body.get("status"))]
