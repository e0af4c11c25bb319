"""The top of the functional core: a text that is not a command."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from domain.decisions import (
    Context,
    Decision,
    ReviewRequest,
    Send,
    ToGroup,
    ToSender,
    ignore,
)
from domain.notices import NoticeView
from domain.tickets import TicketView
from handlers import texts
from handlers.intents import (
    _reply,
    building_of,
    handle_intent,
    own_open_ticket,
    reported_building,
)
from handlers.notice_answers import answer_asked, look_up

TICKET_INTENTS = ("complaint", "repair_request", "micro_wish", "dispute")
# Writing @gridbot is asking to be heard: a ticket intent this likely is taken.
MENTION_THRESHOLD = 0.25
# A ticket made with less confidence than this, or a ticket intent the model ranked first
# but did not dare to act on, goes to the admins' review queue.
REVIEW_BELOW = 0.6


def review_request(message_text: str, nlu: dict[str, Any]) -> ReviewRequest | None:
    """Whether an admin should look at what the model made of this text."""
    ranking = nlu.get("intent_ranking") or []
    top = ranking[0] if ranking else {}
    intent = nlu.get("intent", {})
    unsure_top = top.get("name") in TICKET_INTENTS and top.get("name") != intent.get("name")
    unsure_ticket = intent.get("name") in TICKET_INTENTS and (
        intent.get("confidence", 1.0) < REVIEW_BELOW or nlu.get("mention_override")
        or nlu.get("danger_override"))
    if not (unsure_top or unsure_ticket):
        return None
    return ReviewRequest("low_confidence", message_text, top.get("name"), top.get("confidence"))


#: What a message telling of people in danger now is taken for when the model read it as
#: no matter, or as a matter nobody would rush to: someone trapped or a gas smell is an
#: emergency repair (LABELING.md), read as chatter, a complaint or a wish alike ("有人困在
#: 电梯里了"), a fire when read as chatter (a complaint may fear one: "纸箱堆成山 着火了都
#: 跑不出去"); someone collapsed is a call for help for a person, for the grid worker, not
#: the volunteers (`handlers.intents`: an emergency wish is not published to be claimed);
#: a fight or a knife is a big dispute. A dispute stays a dispute.
_TAKEN_FOR = {
    "trapped": ("repair_request", ("none", "complaint", "micro_wish")),
    "fire": ("repair_request", ("none",)),
    "gas": ("repair_request", ("none", "complaint", "micro_wish")),
    "medical": ("micro_wish", ("none", "complaint", "repair_request")),
    "self_harm": ("micro_wish", ("none", "complaint", "repair_request")),
    "violence": ("dispute", ("none", "complaint")),
}


def _taken_for_danger(nlu: dict[str, Any], intent: str) -> dict[str, Any]:
    """`nlu` with the intent a danger now makes of it (`_TAKEN_FOR`), the model's confidence
    in that intent kept, and `danger_override` saying so; as it was otherwise."""
    taken, instead_of = _TAKEN_FOR.get(nlu.get("danger") or "", ("", ()))
    if intent not in instead_of:
        return nlu
    ranked = {r.get("name"): r.get("confidence", 0.0) for r in nlu.get("intent_ranking", ())}
    changed = {**nlu, "intent": {"name": taken, "confidence": ranked.get(taken, 0.0)},
               "danger_override": True}
    if taken == "dispute":
        changed["tier"] = "big"
    return changed


def _with_mention_bar(nlu: dict[str, Any]) -> dict[str, Any]:
    for ranked in nlu.get("intent_ranking", ()):
        if ranked.get("name") in TICKET_INTENTS and ranked.get("confidence", 0) >= MENTION_THRESHOLD:
            return {**nlu, "intent": dict(ranked), "mention_override": True}
    return nlu


#: Roles whose holders handle tickets. Their own words to gridbot on WeCom, 1:1, are talk
#: about the work ("9号楼那个老人已经送医院了", "3号楼楼道灯的事你们跟进一下"), which
#: the model reads as reports; a problem a worker finds is recorded with 走访, which opens
#: its ticket. A captain or a volunteer writing there is a resident as well, and anyone's
#: words of people in danger now still open an emergency.
HANDLING_ROLES = frozenset({"grid_worker", "grid_leader", "mediator", "admin", "department"})


def _staff_talk(ctx: Context, nlu: dict[str, Any]) -> bool:
    """Whether this is a ticket handler's own words to gridbot on the WeCom app (or in the
    simulator's pane that stands for it: someone known by their WeCom account)."""
    message = ctx.message
    on_wecom = message.channel == "wecom_app" or (
        message.channel == "simulator" and ctx.org.person_by_wecom(message.sender_id) is not None)
    if not on_wecom or ctx.group_id is not None or nlu.get("danger"):
        return False
    return ctx.person_id is not None and any(
        role.role in HANDLING_ROLES for role in ctx.org.roles_of(ctx.person_id))


#: Words that take back a matter just reported ("算了不用了，已经通好了", "不用修了").
_TAKEN_BACK = re.compile(r"^(?:算了|不用了|不用修了|不需要了|取消吧|不用来了|已经好了|自己修好了)")


def takes_back(text: str, mentions_bot: bool = False) -> bool:
    """Whether a message's words take back a matter ("算了不用了"): the shell then reads the
    open tickets of its building, as for a report, to find the sender's own."""
    return _TAKEN_BACK.match(texts.without_bot_mention(text, mentions_bot).strip()) is not None


def _withdrawal_hint(ctx: Context, nlu: dict[str, Any],
                     open_tickets: Sequence[TicketView]) -> Decision | None:
    """Words taking back a matter from someone whose own ticket of the building is open:
    they are told how to withdraw it (`撤销 N`), which gridbot does not guess from words."""
    if not takes_back(texts.words_read(ctx.message, nlu)):
        return None
    ticket = own_open_ticket(ctx, open_tickets)
    if ticket is None:
        return None
    return Decision("help", texts.WHY_WITHDRAWAL_HINT.format(
        understood=texts.understood(nlu), ticket=ticket.id),
        sends=[_reply(ctx, texts.WITHDRAWAL_HINT, {"reporter": ctx.message.sender_name or "您"},
                      ticket_id=ticket.id)], nlu=nlu)


#: What reading a message matter by matter adds to its NLU (nlu.matters).
READ_BY_MATTER = ("matters", "set_aside", "asked", "whole")


def handle_message(
    ctx: Context, nlu: dict[str, Any], open_tickets: Sequence[TicketView] = (),
    notices: Sequence[NoticeView] = (),
) -> Decision:
    """`notices`: the building's recent notices, read when the message may ask about one."""
    # 电梯坏了，明天义诊在哪里: a question beside the matter a notice answers is answered too
    answers = answer_asked(ctx, nlu, notices)
    if nlu.get("set_aside") and nlu.get("text"):
        # 谢谢张师傅修好了水管，另外楼道灯又坏了: the matter is its own words, as when a
        # message holds several
        ctx = replace(ctx, message=replace(ctx.message, text=str(nlu["text"])))
    elif answers:  # the matter's words without the questions answered apart
        ctx = replace(ctx, message=replace(ctx.message, text=texts.without_clauses(
            ctx.message.text, [clause for clause, _ in answers])))
    decision = _decide(ctx, nlu, open_tickets, notices)
    decision.review = review_request(ctx.message.text, decision.nlu or nlu)
    decision.more += [answer for _, answer in answers]
    return decision


def _each_matter(ctx: Context, nlu: dict[str, Any], open_tickets: Sequence[TicketView],
                 notices: Sequence[NoticeView]) -> Decision:
    """A message of several matters (the shell's `matters`: 电梯坏了，楼道灯也不亮) decided
    matter by matter, each as a message of its own words; the first decision carries the
    others (`more`). A matter that names no building is in the one the matter before it
    named, else the group's, else the one the message names ("电梯坏了，5号楼垃圾没人清"
    in 3号楼's group: the lift is 3号楼's). A message whose building is not known yet is one
    matter: its building is asked once."""
    matters = nlu.get("matters") or ()
    if len(matters) < 2 or building_of(ctx, nlu) is None:
        return handle_intent(ctx, nlu, open_tickets)
    before = None if ctx.building_id is not None else reported_building(nlu)
    decisions = []
    for matter in matters:
        own = dict(matter)
        named = reported_building(own)
        if named is None and before is not None:
            own["entities"] = [{"entity": "building", "value": before},
                               *(own.get("entities") or ())]
        before = named or before
        alone = replace(ctx, message=replace(ctx.message, text=str(own.get("text", ""))))
        decisions.append(_decide(alone, own, open_tickets, notices))
    first, *others = decisions
    first.reason = texts.WHY_SEVERAL_MATTERS.format(count=len(decisions)) + first.reason
    first.more = others
    return first


def _decide(ctx: Context, nlu: dict[str, Any], open_tickets: Sequence[TicketView],
            notices: Sequence[NoticeView]) -> Decision:
    message = ctx.message
    intent = nlu.get("intent", {}).get("name", "none")
    if nlu.get("danger"):
        nlu = _taken_for_danger(nlu, intent)
        intent = nlu.get("intent", {}).get("name", "none")
    if intent == "none" and message.mentions_bot:
        nlu = _with_mention_bar(nlu)
        intent = nlu["intent"]["name"]
    if intent in TICKET_INTENTS and _staff_talk(ctx, nlu):
        return Decision("help", texts.WHY_STAFF_TALK.format(understood=texts.understood(nlu)),
                        sends=[Send(ToSender(message.channel, message.sender_id,
                                             message.chat_id), texts.STAFF_TALK)], nlu=nlu)
    if intent in TICKET_INTENTS:
        return _each_matter(ctx, nlu, open_tickets, notices)
    looked = look_up(ctx, nlu, notices)  # a question a recent notice answers
    if looked.answer is not None:
        return looked.answer
    withdrawn = _withdrawal_hint(ctx, nlu, open_tickets)
    if withdrawn is not None:
        return withdrawn
    if message.chat_id is None or message.mentions_bot:
        # Someone talking to gridbot directly deserves an answer; a group's chatter does not.
        roles = {r.role for r in ctx.org.roles_of(ctx.person_id)} if ctx.person_id else set()
        help_text = (texts.HELP_VOLUNTEER if roles == {"volunteer"}
                     else texts.HELP_STAFF if roles else texts.HELP_RESIDENT)
        to = ToSender(message.channel, message.sender_id, message.chat_id)
        if ctx.group_id is not None:
            to = ToGroup(ctx.group_id, (message.sender_id,))
        return Decision("help", texts.WHY_HELP.format(understood=texts.understood(nlu))
                        + looked.note,
                        sends=[Send(to, help_text)], nlu=nlu)
    return ignore(texts.WHY_CHATTER.format(understood=texts.understood(nlu)) + looked.note, nlu)
