"""What gridbot says when it could not handle a message it should have answered."""

from __future__ import annotations

from typing import Any

from domain.decisions import Context, Decision, Send, ToGroup, ToSender
from handlers import texts
from handlers.messages import TICKET_INTENTS


def was_addressed(ctx: Context, is_command: bool, nlu: dict[str, Any] | None) -> bool:
    """Whether the sender expects an answer: a command, an @-mention, a 1:1 chat, or a
    message the model read as a matter. A group's chatter expects none."""
    message = ctx.message
    intent = ((nlu or {}).get("intent") or {}).get("name")
    return (is_command or message.mentions_bot or message.chat_id is None
            or intent in TICKET_INTENTS)


def could_not_handle(ctx: Context, is_command: bool, nlu: dict[str, Any] | None,
                     why: str) -> Decision:
    """The sender hears that gridbot could not handle the message; staff see `why`."""
    reason = texts.WHY_FAILED.format(why=why)
    if not was_addressed(ctx, is_command, nlu):
        return Decision("failed", reason, nlu=nlu)
    message = ctx.message
    to: ToGroup | ToSender
    if ctx.group_id is not None:
        to = ToGroup(ctx.group_id, (message.sender_id,))
        template = "@{sender} " + texts.COULD_NOT_HANDLE
    else:
        to = ToSender(message.channel, message.sender_id, message.chat_id)
        template = texts.COULD_NOT_HANDLE
    send = Send(to, template, {"sender": message.sender_name or message.sender_id},
                key="failed")
    return Decision("failed", reason, sends=[send], nlu=nlu)
