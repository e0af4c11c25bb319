"""A voice message without a transcription: a kind word when gridbot was spoken to.

A voice with its transcription (the Official Account's Recognition, a WeCom robot's
voice.content) is read like typed text; only one without text reaches this handler.
"""

from __future__ import annotations

from domain.decisions import Context, Decision, Send, ToGroup, ToSender
from handlers import texts


def addressed(ctx: Context) -> bool:
    """Whether gridbot was spoken to: a 1:1 chat always is; a group only with an @-mention."""
    message = ctx.message
    return message.chat_id is None or message.mentions_bot


def untranscribed(ctx: Context) -> Decision:
    """Ask to type, or to call the building captain — never into a group's chatter."""
    if not addressed(ctx):
        return Decision("ignored", texts.WHY_VOICE_IGNORED)
    message = ctx.message
    if ctx.group_id is not None:
        send = Send(ToGroup(ctx.group_id, (message.sender_id,)), "@{sender} " + texts.VOICE_UNHEARD,
                    {"sender": message.sender_name or message.sender_id}, key="voice")
    else:
        send = Send(ToSender(message.channel, message.sender_id, message.chat_id),
                    texts.VOICE_UNHEARD, key="voice")
    return Decision("answered", texts.WHY_VOICE_UNHEARD, sends=[send])
