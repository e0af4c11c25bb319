"""走访: a grid worker records a visit to a building of their grids.

`走访 3号楼 楼道灯不亮，已报修` records the visit; its words go through the NLU like a
resident's message (the shell parses them before the transaction), and when they name a
problem — a repair, a complaint, a wish or a dispute — a ticket is opened by the worker for
that building, assigned to them, and linked to the visit. `走访 3号楼 独居老人身体都好` only
records the visit.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any

from domain.decisions import (
    NEW_TICKET,
    Context,
    CreateTicket,
    Decision,
    RecordVisit,
    Send,
    ToPerson,
)
from domain.org import BuildingInfo
from domain.tickets import INTENT_CATEGORY, Category
from handlers import texts
from handlers.commands import Command, CommandSpec, chinese_number
from handlers.intents import _entity, location_of
from handlers.ticket_commands import CommandHandler, _actor_name, _answer, _refuse

#: A visit opens a ticket only when the NLU is this sure it names a problem: a worker's
#: notes often say that all is well ("一切正常，住户没有反映问题"), words the model learnt from
#: residents knows less, and a needless ticket costs more than a second message.
TICKET_CONFIDENCE = 0.8

# The building the visit was to, in front: "3号楼", "3栋", "3", "12A号楼".
_BUILDING = re.compile(
    r"^\s*([0-9０-９]+[A-Za-zＡ-Ｚａ-ｚ]?)\s*(?:号楼|号|栋|幢)?\s*[,，:：、]?\s*(.*)$", re.S)
# ... or in Chinese numerals, as people also say it: "三号楼", "十二栋".
_SPOKEN_BUILDING = re.compile(
    r"^\s*([〇零一二两三四五六七八九十百]{1,6})\s*(?:号楼|号|栋|幢)\s*[,，:：、]?\s*(.*)$", re.S)


def _named_building(ctx: Context, command: Command) -> tuple[BuildingInfo | None, str, str]:
    """(the building of the sender's grids the visit names, how it was written, the rest)."""
    match = _BUILDING.match(command.arg)
    spoken = _SPOKEN_BUILDING.match(command.arg) if match is None else None
    said = chinese_number(spoken.group(1)) if spoken is not None else None
    if match is not None:
        number, rest = unicodedata.normalize("NFKC", match.group(1)), match.group(2).strip()
    elif spoken is not None and said is not None:
        number, rest = str(said), spoken.group(2).strip()
    else:
        return None, "", command.arg
    grids = ctx.org.grids_of(ctx.person_id) if ctx.person_id is not None else ()
    mine = [b for b in ctx.org.buildings_by_number(number) if b.grid_id in grids]
    return (mine[0] if mine else None), f"{number}号楼", rest


def visit(ctx: Context, command: Command, nlu: Mapping[str, Any] | None) -> Decision:
    person_id = ctx.person_id
    if person_id is None or not ctx.org.grids_of(person_id):
        return _refuse(ctx, command, texts.WHY_NOT_GRID_WORKER)
    building, written, rest = _named_building(ctx, command)
    if building is None:
        if not written:
            return _refuse(ctx, command, "没有写明楼号", texts.USAGE,
                           {"usage": "走访 楼号 情况（例如“走访 3号楼 楼道灯不亮，已报修”）"})
        if ctx.org.buildings_by_number(written):
            return _refuse(ctx, command, f"{written}不在本人负责的网格内",
                           texts.VISIT_NOT_YOUR_BUILDING, {"building": written})
        return _refuse(ctx, command, f"没有{written}", texts.VISIT_UNKNOWN_BUILDING,
                       {"building": written})
    understood = (nlu or {}).get("intent", {})
    category = INTENT_CATEGORY.get(understood.get("name", "none")) if rest else None
    if category is not None and float(understood.get("confidence") or 0.0) >= TICKET_CONFIDENCE:
        return _visit_ticket(ctx, command, dict(nlu or {}), building, category, rest)
    return _visit_only(ctx, command, dict(nlu or {}), building, rest, unsure=category is not None)


def _visit_only(ctx: Context, command: Command, nlu: dict[str, Any], building: BuildingInfo,
                notes: str, *, unsure: bool) -> Decision:
    """The visit, recorded; when the NLU half saw a problem (`unsure`), the worker hears
    how to write one so that it becomes a ticket."""
    assert ctx.person_id is not None
    actor, name = _actor_name(ctx), f"{building.number}号楼"
    if unsure:
        template, why = texts.VISIT_RECORDED_UNSURE, texts.WHY_VISIT_UNSURE.format(
            actor=actor, building=name, understood=texts.understood(nlu),
            bar=TICKET_CONFIDENCE)
    else:
        template, why = texts.VISIT_RECORDED, texts.WHY_VISIT.format(actor=actor, building=name)
    return Decision(
        "command:visited", why,
        sends=[_answer(ctx, template,
                       {"building": name, "text": texts.mask_phones(notes or "无异常")})],
        nlu=nlu or None,
        visit=RecordVisit(ctx.person_id, building.id, command.arg),
    )


def _visit_ticket(ctx: Context, command: Command, nlu: dict[str, Any], building: BuildingInfo,
                  category: str, problem: str) -> Decision:
    """The visit, and the ticket for the problem it found: the worker's own."""
    assert ctx.person_id is not None
    actor = _actor_name(ctx)
    name = f"{building.number}号楼"
    urgency = (nlu.get("urgency") or "normal") if category == Category.REPAIR else "normal"
    tier = (nlu.get("tier") or "small") if category == Category.DISPUTE else None
    facility = _entity(nlu, "facility")
    accept_due, resolve_due = ctx.org.sla_for(building.id).deadlines(category, urgency, ctx.now)
    kind = texts.CATEGORY_NAMES[category]
    if tier:
        kind += "·" + texts.TIER_NAMES[tier]
    elif facility:
        kind += "·" + texts.FACILITY_NAMES.get(facility, facility)
    create = CreateTicket(
        category=category, urgency=urgency, tier=tier, facility=facility,
        building_id=building.id, grid_id=building.grid_id, group_id=None,
        assignee_id=ctx.person_id, text=problem, location=location_of(nlu, building.number),
        accept_due_at=accept_due, resolve_due_at=resolve_due,
        event_text=texts.VISIT_EVENT.format(actor=actor, text=texts.excerpt(problem, 200)),
        event_data={"visit": True, "intent": nlu.get("intent", {}).get("name"),
                    "confidence": nlu.get("intent", {}).get("confidence"),
                    "routed_to": actor, "role": "网格员"},
    )
    sends = [_answer(ctx, texts.VISIT_OPENED,
                     {"building": name, "category": kind, "resolve_due": texts.when(resolve_due)},
                     NEW_TICKET)]  # type: ignore[arg-type]
    if category == Category.WISH:
        # A wish is claimed by the grid's volunteers, as when a resident makes it.
        for volunteer_id in ctx.org.volunteers_of(building.grid_id):
            sends.append(Send(ToPerson(volunteer_id), texts.WISH_TO_VOLUNTEER,
                              {"building": name,
                               "text": texts.excerpt(texts.mask_phones(problem), 80)},
                              ticket_id=NEW_TICKET, key=f"volunteer-{volunteer_id}"))
    return Decision(
        "command:visited",
        texts.WHY_VISIT_TICKET.format(actor=actor, building=name,
                                      understood=texts.understood(nlu, kind)),
        create=create, sends=sends, nlu=nlu,
        visit=RecordVisit(ctx.person_id, building.id, command.arg, opened_ticket=True),
    )


COMMANDS: list[tuple[CommandSpec, CommandHandler]] = [
    (CommandSpec("走访", "走访 楼号 情况", ticket=False, arg="required", loads="nothing",
                 understands=True),
     lambda ctx, command, data: visit(ctx, command, data.nlu)),
]

__all__ = ["COMMANDS", "visit"]
