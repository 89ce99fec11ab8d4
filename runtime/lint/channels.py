"""The channel rules: what a message may hold on each channel it is sent to.

The limits come from the caller as :class:`ChannelLimits` (the dummy
channel's profiles in ``plugin.handover.channel_profiles``, which adapt messages the same
way): the runtime knows no channel. A message breaking a limit is refused by
the real platform (Messenger takes three buttons and thirteen quick replies,
2,000 characters a message); quick replies on a channel that has none
(WhatsApp) become numbered options, which is a warning.

Pure: reads the bot only.
"""

from __future__ import annotations

from typing import Protocol

from runtime.graph import Place, message_places
from runtime.model import BotMessage
from runtime.templating import placeholders

from .rules import Context

__all__ = ["ChannelLimits", "check_channel"]


class ChannelLimits(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def max_buttons(self) -> int | None: ...  # None: no limit

    @property
    def max_quick_replies(self) -> int | None: ...  # 0: the channel has none

    @property
    def max_text(self) -> int | None: ...


def check_channel(ctx: Context, channel: ChannelLimits) -> None:
    """Every message of the bot (and every error message) against ``channel``."""
    places = list(message_places(ctx.bot))
    for name, spec in ctx.bot.properties.items():
        if spec.error_message:
            places.append(Place(("properties", name, "error_message"),
                                BotMessage(spec.error_message)))
    for place in places:
        _check(ctx, place, channel)


def _check(ctx: Context, place: Place, channel: ChannelLimits) -> None:
    message, path = place.message, place.path
    name = channel.name
    if channel.max_buttons is not None:
        limit = channel.max_buttons
        if len(message.buttons) > limit:
            links = sum(1 for b in message.buttons if b.url is not None)
            counted = f" ({links} of them links)" if links else ""
            ctx.report("too-many-buttons", (*path, "buttons", limit),
                       f"{len(message.buttons)} buttons{counted}: {name} shows at most {limit}",
                       name)
        for index, card in enumerate(message.cards):
            if len(card.buttons) > limit:
                ctx.report("too-many-buttons", (*path, "cards", index, "buttons", limit),
                           f"card {card.title!r} has {len(card.buttons)} buttons: {name} "
                           f"shows at most {limit} a card", name)
    if message.quick_replies and channel.max_quick_replies is not None:
        limit = channel.max_quick_replies
        if limit == 0:
            ctx.report("quick-replies-unsupported", (*path, "quick_replies"),
                       f"{len(message.quick_replies)} quick replies: {name} has none, so "
                       "they are sent as numbered options at the end of the text", name)
        elif len(message.quick_replies) > limit:
            ctx.report("too-many-quick-replies", (*path, "quick_replies", limit),
                       f"{len(message.quick_replies)} quick replies: {name} shows at most "
                       f"{limit}", name)
    if channel.max_text is not None and len(message.text) > channel.max_text:
        filled = " before its templates are filled" if placeholders(message.text) else ""
        text_path = (*path, "text") if place.path[-1] in ("say", "prompt") else path
        ctx.report("text-too-long", text_path,
                   f"{len(message.text):,} characters{filled}: {name} takes at most "
                   f"{channel.max_text:,} a message", name)
