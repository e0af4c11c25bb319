"""The top of the functional core: a text that is not a command."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from handlers import texts
from handlers.intents import handle_intent
from handlers.types import Context, Decision, Send, TicketView, ToGroup, ToSender, ignore

TICKET_INTENTS = ("complaint", "repair_request", "micro_wish", "dispute")
# Writing @gridbot is asking to be heard: a ticket intent this likely is taken.
MENTION_THRESHOLD = 0.25


def _with_mention_bar(nlu: dict[str, Any]) -> dict[str, Any]:
    for ranked in nlu.get("intent_ranking", ()):
        if ranked.get("name") in TICKET_INTENTS and ranked.get("confidence", 0) >= MENTION_THRESHOLD:
            return {**nlu, "intent": dict(ranked), "mention_override": True}
    return nlu


def handle_message(
    ctx: Context, nlu: dict[str, Any], open_tickets: Sequence[TicketView] = ()
) -> Decision:
    message = ctx.message
    intent = nlu.get("intent", {}).get("name", "none")
    if intent == "none" and message.mentions_bot:
        nlu = _with_mention_bar(nlu)
        intent = nlu["intent"]["name"]
    if intent in TICKET_INTENTS:
        return handle_intent(ctx, nlu, open_tickets)
    if message.chat_id is None or message.mentions_bot:
        # Someone talking to gridbot directly deserves an answer; a group's chatter does not.
        staff = ctx.person_id is not None and ctx.org.is_staff(ctx.person_id)
        help_text = texts.HELP_STAFF if staff else texts.HELP_RESIDENT
        to = ToSender(message.channel, message.sender_id, message.chat_id)
        if ctx.group_id is not None:
            to = ToGroup(ctx.group_id, (message.sender_id,))
        return Decision("help", "addressed to gridbot but no ticket intent",
                        sends=[Send(to, help_text)], nlu=nlu)
    return ignore("chatter: the NLU found no ticket intent", nlu)
