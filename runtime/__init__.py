"""The reference bot runtime (bots written as YAML flows). Reaches Audience
only through a connector."""

from runtime.engine import ConversationState, Runtime, TurnResult
from runtime.errors import BotDefinitionError, Problem
from runtime.loader import load_bot, parse_bot
from runtime.model import Bot, BotMessage, Button, Card, QuickReply
from runtime.observer import NullObserver, Observer

__all__ = [
    "Bot",
    "BotDefinitionError",
    "BotMessage",
    "Button",
    "Card",
    "ConversationState",
    "NullObserver",
    "Observer",
    "Problem",
    "QuickReply",
    "Runtime",
    "TurnResult",
    "load_bot",
    "parse_bot",
]
