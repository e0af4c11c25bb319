"""Conversations that remember: a message read with what gridbot remembers of its sender.

- A report without a building (a 1:1 chat, a group gridbot does not know as one building's)
  gets one question (texts.ASK_BUILDING); the sender's next message within `ANSWER_WINDOW`
  that names a building ("5号楼", "5栋", "我住5号楼3单元") completes the report, and the
  building is remembered as the sender's home. Anything else is handled as itself and the
  question lapses.
- In a 1:1 chat a report uses the remembered home; `我住5号楼` sets or changes it.
- A 1:1 repair in a few words that name nothing broken ("又坏了") gets one question, what
  is broken; the next message within `ANSWER_WINDOW` completes it.
- Short messages that were no matter by themselves are kept for `FRAGMENT_WINDOW`; a next
  one that is no matter either is read together with them, and if together they are a
  matter, the ticket is made from all of them.
- A short message a moment after the sender's report that adds to it (the unit, "又坏了")
  is added to that ticket instead of making another.

Pure: the shell reads the `Memory` before the transaction and hands it in with the NLU of
the message (and of the message joined to its fragments); the decision carries the new
state (`Decision.conversation`) for the one writer.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any

from domain.conversations import (
    ConversationChange,
    ConversationKey,
    Fragment,
    Memory,
    PendingReport,
)
from domain.decisions import (
    NEW_TICKET,
    ChangeTicket,
    Context,
    Decision,
    Send,
    ToGroup,
    ToPerson,
    ToSender,
)
from domain.notices import NoticeView
from domain.org import BuildingInfo
from domain.tickets import DANGER_FACILITIES, INTENT_CATEGORY, OPEN_STATUSES, TicketView
from handlers import texts
from handlers.intents import (
    PERSONAL_DANGERS,
    REPAIR_DANGERS,
    building_of,
    location_of,
    made_emergency,
)
from handlers.messages import READ_BY_MATTER, TICKET_INTENTS, handle_message
from handlers.ticket_commands import CATEGORY_INTENT

#: Words that correct what was just said ("不是3号楼，是5号楼", "说错了", "应该是").
_CORRECTING = re.compile(r"不是|说错|搞错|写错|打错|弄错|更正|纠正|应该是")
#: The matters whose building a correction moves: those one worker of the building's grid
#: handles (a dispute's mediator and a wish's volunteers are found otherwise).
CORRECTABLE = ("repair", "complaint")

#: How long the answer to a question is awaited.
ANSWER_WINDOW = timedelta(minutes=5)
#: How long a short message waits for the rest of its report, and how long after a report a
#: short message from the same sender is taken as an addition to it.
FRAGMENT_WINDOW = timedelta(seconds=90)
#: A message longer than this says what it has to say by itself: never a fragment.
FRAGMENT_MAX_CHARS = 30
#: How many fragments are kept (the last ones).
FRAGMENT_MAX = 3
#: Fragments read together make a report only when the NLU is at least this sure of it: each
#: was no matter alone, so a guess is not enough (`python -m nlu.fragmentcheck` measures what
#: this does to chatter).
JOINED_AT_LEAST = 0.6
#: A report this short ("又坏了", "还是坏的") says too little to be another matter: right
#: after the sender's report, it adds to it.
ADDITION_MAX_CHARS = 4
#: A 1:1 repair this short that names nothing broken gets the question what is.
FACILITY_QUESTION_CHARS = 8
#: A report of another category at least this sure is another matter, not an addition.
OTHER_MATTER = 0.8

# A message that only names a building (and perhaps a unit and room): the answer to the
# building question, or with 我住 in front the sender's home.
_NUMBER = r"(?:\d{1,4}|[一二两三四五六七八九十百零〇]{1,4})"
_PLACE = (rf"{_NUMBER}\s*(?:号楼|号|栋|幢|#)(?:\s*{_NUMBER}\s*(?:单元|门洞))?"
          rf"(?:\s*\d{{1,5}}\s*(?:室|号)?)?")
_FILLER = r"[\s，,。.!！~～的呀啊哈吧呢]*"
_ANSWER = re.compile(rf"^(?:是|在)?\s*(?:我(?:家)?(?:住|是|在)(?:在)?)?\s*{_PLACE}{_FILLER}$")
_HOME = re.compile(rf"^(?:我(?:家)?(?:住|是|在)(?:在)?|我家在)\s*{_PLACE}{_FILLER}$")


MessageHandler = Callable[
    [Context, dict[str, Any], Sequence[TicketView], Sequence[NoticeView]], Decision]


def key_of(ctx: Context) -> ConversationKey:
    message = ctx.message
    return ConversationKey(message.channel, message.sender_id, message.chat_id or "")


def _entity(nlu: dict[str, Any], name: str) -> str | None:
    for entity in nlu.get("entities", ()):
        if entity.get("entity") == name:
            return str(entity.get("value"))
    return None


def _intent(nlu: dict[str, Any] | None) -> str:
    return ((nlu or {}).get("intent") or {}).get("name", "none")


def _confidence(nlu: dict[str, Any]) -> float:
    return float((nlu.get("intent") or {}).get("confidence") or 0.0)


def _one_to_one(ctx: Context) -> bool:
    """A chat with gridbot alone: no chat id (the Official Account, WeCom), or through a
    bridge a private chat, whose id is the other person's WeChat id."""
    message = ctx.message
    return message.chat_id is None or (ctx.group_id is None
                                       and message.chat_id == message.sender_id)


def _find_building(ctx: Context, number: str, memory: Memory) -> BuildingInfo | None:
    """The building a resident names: one of that number, else the one in the district of
    the building they are known by (their group's, their home)."""
    candidates = ctx.org.buildings_by_number(number)
    if len(candidates) == 1:
        return candidates[0]
    near = ctx.building_id or memory.home_building_id
    here = ctx.org.building(near) if near is not None else None
    if here is not None:
        same = [b for b in candidates if b.district_id == here.district_id]
        if len(same) == 1:
            return same[0]
    return None


def _named_building(ctx: Context, nlu: dict[str, Any], pattern: re.Pattern[str]) -> str | None:
    """The building number, when the whole message only names a place."""
    text = texts.words_read(ctx.message, nlu).strip()
    if not pattern.match(text):
        return None
    return _entity(nlu, "building")


def with_home(ctx: Context, memory: Memory) -> Context:
    """In a 1:1 chat, a report is about the sender's remembered building."""
    if ctx.building_id is None and _one_to_one(ctx) and memory.home_building_id is not None \
            and ctx.org.building(memory.home_building_id) is not None:
        return replace(ctx, building_id=memory.home_building_id)
    return ctx


def answer_buildings(ctx: Context, nlu: dict[str, Any], memory: Memory,
                     joined_nlu: dict[str, Any] | None = None) -> set[int]:
    """The buildings whose open tickets the decision about this message may need to see
    (to join one of them): the one a pending question is answered with, and the one the
    message, its fragments read together or the pending report name — else the group's or
    the sender's remembered one."""
    live = memory.live(ctx.now)
    found: set[int] = set()
    # each matter of a message of several (3号楼电梯坏了，5号楼垃圾没人清) names its own
    understood = [nlu, joined_nlu, *nlu.get("matters", ())]
    if live.pending is not None:
        understood.append(live.pending.nlu)
        number = _named_building(ctx, nlu, _ANSWER)
        building = _find_building(ctx, number, memory) if number is not None else None
        if building is not None:
            found.add(building.id)
    here = with_home(ctx, memory)
    for each in understood:
        if each is not None and (building_id := building_of(here, each)) is not None:
            found.add(building_id)
    if _CORRECTING.search(texts.words_read(ctx.message, nlu)):  # "不是3号楼，是5号楼"
        for entity in nlu.get("entities", ()):
            if entity.get("entity") == "building":
                building = _find_building(ctx, str(entity.get("value")), memory)
                if building is not None:
                    found.add(building.id)
    return found


def joined_text(ctx: Context, nlu: dict[str, Any] | None, memory: Memory) -> str | None:
    """The sender's fragments and this message together, when they are to be read together
    (this message is no matter by itself and there are fragments): the shell understands it
    before the transaction."""
    live = memory.live(ctx.now)
    if not live.fragments or live.pending is not None or _intent(nlu) != "none":
        return None
    if len(ctx.message.text) > FRAGMENT_MAX_CHARS:
        return None
    return " ".join([f.text for f in live.fragments] + [ctx.message.text.strip()])


def after_command(decision: Decision, ctx: Context, memory: Memory) -> Decision:
    """A command is handled as itself: a pending question and fragments lapse."""
    if not memory.live(ctx.now).empty:
        decision.conversation = ConversationChange(memory.key)
    return decision


def converse(
    ctx: Context, nlu: dict[str, Any], memory: Memory,
    open_tickets: Sequence[TicketView] = (), notices: Sequence[NoticeView] = (),
    joined_nlu: dict[str, Any] | None = None, last_ticket: TicketView | None = None,
    decide: MessageHandler = handle_message,
) -> Decision:
    """Decide a text that is not a command, with what is remembered of its sender.

    `open_tickets`: those of `answer_buildings`' buildings; `joined_nlu`: the NLU of
    `joined_text`; `last_ticket`: the ticket `memory.last_ticket_id` names, as it is now;
    `decide`: how a message is decided by itself (handlers.messages.handle_message)."""
    live = memory.live(ctx.now)
    if live.pending is not None:
        answered = _answered(ctx, nlu, live, open_tickets, decide)
        if answered is not None:
            return answered
    home = _home_statement(ctx, nlu, live)
    if home is not None:
        return home
    if last_ticket is not None and live.last_ticket_id == last_ticket.id:
        corrected = _correction(ctx, nlu, live, last_ticket, open_tickets, decide)
        if corrected is not None:
            return corrected
        added = _addition(ctx, nlu, live, last_ticket)
        if added is not None:
            return added
    if (joined_nlu is not None and _intent(joined_nlu) in TICKET_INTENTS
            and _confidence(joined_nlu) >= JOINED_AT_LEAST):
        text = joined_text(ctx, nlu, live) or ctx.message.text
        joined_ctx = replace(with_home(ctx, live), message=replace(ctx.message, text=text))
        decision = decide(joined_ctx, joined_nlu, open_tickets, ())
        decision.reason = texts.WHY_FRAGMENTS_JOINED.format(
            count=len(live.fragments) + 1, text=texts.excerpt(text, 80)) + "；" + decision.reason
        return _remember(decision, ctx, joined_nlu, live, text)
    here = with_home(ctx, live)
    decision = decide(here, nlu, open_tickets, notices)
    if _needs_facility(ctx, nlu, decision):
        return _ask_facility(ctx, nlu, live, decision)
    if here is not ctx and decision.create is not None:
        building = ctx.org.building(here.building_id) if here.building_id else None
        decision.reason = texts.WHY_HOME_USED.format(
            sender=_sender(ctx), building=_building_name(building)) + "；" + decision.reason
    return _remember(decision, ctx, nlu, live, ctx.message.text)


# -- the parts ------------------------------------------------------------------------------


def _sender(ctx: Context) -> str:
    return ctx.message.sender_name or ctx.message.sender_id


def _building_name(building: BuildingInfo | None) -> str:
    return f"{building.number}号楼" if building is not None else ""


def _reply_to(ctx: Context) -> ToGroup | ToSender:
    message = ctx.message
    if ctx.group_id is not None:
        return ToGroup(ctx.group_id, (message.sender_id,))
    return ToSender(message.channel, message.sender_id, message.chat_id)


def _merged_nlu(report: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
    """The report's understanding with the places the answer (or an addition) names."""
    names = {e.get("entity") for e in answer.get("entities", ())
             if e.get("entity") in ("building", "unit", "room", "floor", "facility")}
    kept = [e for e in report.get("entities", ()) if e.get("entity") not in names]
    added = [e for e in answer.get("entities", ()) if e.get("entity") in names]
    return {**report, "entities": kept + added}


def _answered(ctx: Context, nlu: dict[str, Any], live: Memory,
              open_tickets: Sequence[TicketView], decide: MessageHandler) -> Decision | None:
    """The answer to the building question: the report it completes, as a ticket."""
    pending = live.pending
    assert pending is not None
    if pending.question == "facility":
        return _facility_answered(ctx, nlu, live, open_tickets, decide)
    number = _named_building(ctx, nlu, _ANSWER)
    if number is None:
        return None
    building = _find_building(ctx, number, live)
    if building is None:
        # Asked again, the report still waiting.
        return Decision(
            "asked_building",
            texts.WHY_HOME_UNKNOWN.format(sender=_sender(ctx), building=f"{number}号楼"),
            sends=[Send(_reply_to(ctx), texts.HOME_UNKNOWN, {"building": f"{number}号楼"})],
            nlu=nlu,
            conversation=ConversationChange(
                live.key, pending=replace(pending, until=ctx.now + ANSWER_WINDOW)))
    text = f"{pending.text} {ctx.message.text.strip()}"
    report_nlu = _merged_nlu(pending.nlu, nlu)
    report_ctx = replace(ctx, building_id=building.id,
                         message=replace(ctx.message, text=text, mentions_bot=False))
    decision = decide(report_ctx, report_nlu, open_tickets, ())
    decision.reason = texts.WHY_ANSWERED_BUILDING.format(
        building=_building_name(building), reason=decision.reason)
    remember_home = _one_to_one(ctx) and live.home_building_id != building.id
    if remember_home:
        note = texts.HOME_REMEMBERED.format(building=_building_name(building))
        decision.sends = [
            replace(s, template=s.template + note) if s.key == "reply" else s
            for s in decision.sends]
    decision.conversation = ConversationChange(
        live.key,
        last_ticket_id=NEW_TICKET if decision.create is not None else None,
        last_ticket_until=ctx.now + FRAGMENT_WINDOW if decision.create is not None else None,
        home_building_id=building.id if remember_home else None)
    return decision


def _needs_facility(ctx: Context, nlu: dict[str, Any], decision: Decision) -> bool:
    """A repair said 1:1 in a few words that name nothing broken ("坏了", "又坏了"): worth
    one question before it goes to a worker. Never an emergency, never in a group."""
    create = decision.create
    text = texts.without_bot_mention(ctx.message.text, ctx.message.mentions_bot).strip()
    return (create is not None and create.category == "repair" and create.facility is None
            and create.urgency != "emergency" and _one_to_one(ctx)
            and len(text) <= FACILITY_QUESTION_CHARS)


def _ask_facility(ctx: Context, nlu: dict[str, Any], live: Memory,
                  decision: Decision) -> Decision:
    assert decision.create is not None
    pending = PendingReport("facility", ctx.message.text.strip(), _report_nlu(nlu),
                            ctx.now + ANSWER_WINDOW)
    return Decision(
        "asked_facility", texts.WHY_ASK_FACILITY.format(understood=texts.understood(nlu)),
        sends=[Send(_reply_to(ctx), texts.ASK_FACILITY)], nlu=nlu,
        conversation=ConversationChange(live.key, pending=pending))


def _facility_answered(ctx: Context, nlu: dict[str, Any], live: Memory,
                       open_tickets: Sequence[TicketView],
                       decide: MessageHandler) -> Decision | None:
    """The answer to "what is broken": a short message that is not another sure matter."""
    pending = live.pending
    assert pending is not None
    text = texts.without_bot_mention(ctx.message.text, ctx.message.mentions_bot).strip()
    intent = _intent(nlu)
    if not text or len(text) > FRAGMENT_MAX_CHARS or (
            _entity(nlu, "facility") is None and intent not in ("none", "repair_request")):
        return None
    report_nlu = _merged_nlu(pending.nlu, nlu)
    report_ctx = replace(with_home(ctx, live),
                         message=replace(ctx.message, text=f"{pending.text} {text}",
                                         mentions_bot=False))
    decision = decide(report_ctx, report_nlu, open_tickets, ())
    decision.reason = texts.WHY_ANSWERED_FACILITY.format(answer=texts.excerpt(text, 40),
                                                          reason=decision.reason)
    return _remember(decision, ctx, report_nlu, replace(live, pending=None),
                     report_ctx.message.text)


def _home_statement(ctx: Context, nlu: dict[str, Any], live: Memory) -> Decision | None:
    """`我住5号楼`, said to gridbot (1:1 or @-mentioned): the sender's building from now on."""
    if not (_one_to_one(ctx) or ctx.message.mentions_bot):
        return None
    number = _named_building(ctx, nlu, _HOME)
    if number is None:
        return None
    building = _find_building(ctx, number, live)
    name = _building_name(building) if building is not None else f"{number}号楼"
    if building is None:
        return Decision(
            "home_unknown", texts.WHY_HOME_UNKNOWN.format(sender=_sender(ctx), building=name),
            sends=[Send(_reply_to(ctx), texts.HOME_UNKNOWN, {"building": name})], nlu=nlu,
            conversation=_lapsed(live))
    return Decision(
        "home_set", texts.WHY_HOME_SET.format(sender=_sender(ctx), building=name),
        sends=[Send(_reply_to(ctx), texts.HOME_SET, {"building": name})], nlu=nlu,
        conversation=ConversationChange(live.key, home_building_id=building.id))


def _addition(ctx: Context, nlu: dict[str, Any], live: Memory,
              ticket: TicketView) -> Decision | None:
    """A short message right after the sender's report that adds to it, not another
    matter: another facility, another building, a sure report of another kind or a danger
    of another kind (a fight during a repair) is not. One that says people are in danger
    now makes the ticket an emergency."""
    text = texts.without_bot_mention(ctx.message.text, ctx.message.mentions_bot).strip()
    if not text or len(text) > FRAGMENT_MAX_CHARS or ticket.status not in OPEN_STATUSES:
        return None
    danger = nlu.get("danger")
    if (danger in PERSONAL_DANGERS if ticket.category == "repair"
            else danger in REPAIR_DANGERS):
        return None  # a fight during a repair, a fire during a dispute: another matter
    if _bare(text) in _bare(ticket.text):
        return None  # the report said again: answered as a repeat, not added to itself
    # Someone trapped after a report of a dark stairwell is in a lift: another matter (after
    # a broken door, behind it: the same).
    facility = _entity(nlu, "facility")
    possible = (facility,) if facility is not None else DANGER_FACILITIES.get(str(danger), ())
    if possible and ticket.facility is not None and ticket.facility not in possible:
        return None
    facility = facility or (ticket.facility if ticket.facility in possible else None)
    number = _entity(nlu, "building")
    building = ctx.org.building(ticket.building_id) if ticket.building_id is not None else None
    if number is not None and (building is None or _find_building(ctx, number, live) != building):
        return None
    intent = _intent(nlu)
    if intent == "none":
        if not any(_entity(nlu, name) for name in ("unit", "room", "floor", "facility")):
            return None  # chatter after a report ("谢谢") is not part of it
    elif _confidence(nlu) >= OTHER_MATTER:
        # A sure report is another matter, unless it is of the same kind and too short to
        # stand alone ("又坏了") or only says where, or names the ticket's own facility.
        adds = (len(_bare(text)) <= ADDITION_MAX_CHARS
                or any(_entity(nlu, name) for name in ("unit", "room", "floor"))
                or (facility is not None and facility == ticket.facility))
        if INTENT_CATEGORY.get(intent) != ticket.category or not adds:
            return None
    places = {name: _entity(nlu, name) for name in ("unit", "room", "floor")}
    fields: dict[str, Any] = {"text": f"{ticket.text} {text}"[:4000]}
    where = ticket.location or ""
    if any(places.values()):
        where = location_of(nlu, building.number if building else None)
        fields["location"] = where
    seconds = int((ctx.now - ticket.created_at).total_seconds())
    emergency_why = ""
    sends: list[Send]
    if danger is not None and ticket.urgency != "emergency":
        fields, sends = made_emergency(ctx, ticket, text, fields, where)
        emergency_why = texts.WHY_MADE_EMERGENCY.format(
            danger=texts.DANGER_NAMES.get(str(danger), "危险"))
    else:
        sends = []
        if ticket.assignee_id is not None:
            sends.append(Send(ToPerson(ticket.assignee_id), texts.TICKET_SUPPLEMENT_TASK,
                              {"text": text, "where": where or "未注明"}, ticket_id=ticket.id,
                              key="supplement"))
        if _one_to_one(ctx):
            sends.append(Send(_reply_to(ctx), texts.TICKET_SUPPLEMENTED, ticket_id=ticket.id,
                              key="reply"))
    return Decision(
        "supplemented",
        texts.WHY_SUPPLEMENTED.format(sender=_sender(ctx), ticket=ticket.id,
                                      seconds=max(0, seconds), text=texts.excerpt(text, 60))
        + emergency_why,
        changes=[ChangeTicket(ticket.id, "supplemented",
                              texts.EVENT_SUPPLEMENTED.format(text=text),
                              expect_status=OPEN_STATUSES, fields=fields)],
        sends=sends, nlu=nlu,
        conversation=ConversationChange(live.key, last_ticket_id=ticket.id,
                                        last_ticket_until=ctx.now + FRAGMENT_WINDOW))


def _correction(ctx: Context, nlu: dict[str, Any], live: Memory, ticket: TicketView,
                open_tickets: Sequence[TicketView], decide: MessageHandler) -> Decision | None:
    """A moment after a report, its building corrected ("不是3号楼，是5号楼门口", "说错了，
    是22号楼的电梯"): while nobody has accepted its ticket, the ticket is cancelled and the
    report made again in the building named, so that one worker, the right one, has it (a
    ticket keeps its building: its events and figures are the building's). Its holder hears
    it is no longer theirs. None for anything else."""
    text = texts.words_read(ctx.message, nlu)
    if (ticket.status != "new" or ticket.category not in CORRECTABLE or ticket.followers
            or not _CORRECTING.search(text)):
        return None
    current = ctx.org.building(ticket.building_id) if ticket.building_id is not None else None
    named = [_find_building(ctx, str(entity.get("value")), live)
             for entity in nlu.get("entities", ()) if entity.get("entity") == "building"]
    others = [b for b in named if b is not None and b != current]
    if not others:
        return None
    building = others[-1]  # "不是3号楼，是5号楼": the one said last
    report_nlu = {
        **{k: v for k, v in nlu.items() if k not in READ_BY_MATTER},
        "intent": {"name": CATEGORY_INTENT[ticket.category], "confidence": 1.0},
        "entities": [{"entity": "building", "value": building.number}],
        "urgency": ticket.urgency, "danger": None,
    }
    if ticket.facility is not None:
        report_nlu["entities"].append({"entity": "facility", "value": ticket.facility})
    words = f"{ticket.text}（更正：{text}）"
    here = replace(ctx, building_id=building.id, message=replace(ctx.message, text=words))
    decision = decide(here, report_nlu, open_tickets, ())
    if decision.create is None and decision.follow is None:
        return None
    name = _building_name(building)
    said = texts.CORRECTED_REMARK.format(building=name)
    decision.changes.append(ChangeTicket(
        ticket.id, "cancelled", texts.CANCEL_EVENT.format(actor=_sender(ctx), said=said),
        ("new",), "cancelled"))
    if ticket.assignee_id is not None:
        decision.sends.append(Send(ToPerson(ticket.assignee_id), texts.CANCELLED_FOR_HOLDER,
                                   {"said": said}, ticket_id=ticket.id, key="corrected"))
    decision.reason = texts.WHY_CORRECTED.format(
        sender=_sender(ctx), ticket=ticket.id, building=name) + "；" + decision.reason
    return _remember(decision, ctx, nlu, live, words)


def _bare(text: str) -> str:
    """The words of a text without punctuation or spaces, to compare what was said."""
    return re.sub(r"[\W_]", "", text)


def _lapsed(live: Memory) -> ConversationChange | None:
    """Everything remembered of the chat lapses (nothing to write if nothing was)."""
    return None if live.empty else ConversationChange(live.key)


def _remember(decision: Decision, ctx: Context, nlu: dict[str, Any], live: Memory,
              text: str) -> Decision:
    """What to remember after a message handled as itself."""
    now = ctx.now
    if decision.outcome == "asked_building":
        pending = PendingReport("building", text, _report_nlu(nlu), now + ANSWER_WINDOW)
        if live.pending is not None:
            # A report added to one already waiting for its building: one report, and the
            # question already asked stands.
            pending = PendingReport("building", f"{live.pending.text} {text}",
                                    _merged_nlu(live.pending.nlu, nlu), now + ANSWER_WINDOW)
            decision.sends = []
            decision.reason = texts.WHY_ASKED_AGAIN.format(
                understood=texts.understood(nlu), count=pending.text.count(" ") + 1)
        decision.conversation = ConversationChange(live.key, pending=pending)
    elif decision.create is not None:
        decision.conversation = ConversationChange(
            live.key, last_ticket_id=NEW_TICKET, last_ticket_until=now + FRAGMENT_WINDOW)
    elif (_intent(decision.nlu or nlu) == "none" and decision.outcome in ("ignored", "help")
          and 0 < len(ctx.message.text.strip()) <= FRAGMENT_MAX_CHARS):
        fragment = Fragment(ctx.message.text.strip(), now)
        kept = (live.fragments + (fragment,))[-FRAGMENT_MAX:]
        # The report just made stays open to additions ("谢谢" … "3单元的").
        decision.conversation = ConversationChange(
            live.key, fragments=kept, fragments_until=now + FRAGMENT_WINDOW,
            last_ticket_id=live.last_ticket_id, last_ticket_until=live.last_ticket_until)
    else:
        decision.conversation = _lapsed(live)
    return decision


def _report_nlu(nlu: dict[str, Any]) -> dict[str, Any]:
    """What a pending report keeps of its understanding."""
    keep = ("intent", "intent_ranking", "entities", "urgency", "tier", "model")
    return {name: nlu[name] for name in keep if name in nlu}
