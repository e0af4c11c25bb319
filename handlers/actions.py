"""What staff do to a ticket from the console or through the API: the same decisions as
the chat commands, refused the same way.

A console action is either a chat command (接单, 进展, 完成, 转派, 升级, 吹哨, 报到), decided by
`handlers.registry.handle_command` for a `Context` that names the signed-in person
(`console_context`), or one that no chat command has — 结案 (close a resolved ticket without
waiting for the rating), 重开 (reopen), 取消 (cancel with a reason), 改层级 (a dispute's tier)
— decided here with the chat commands' own helpers (who may act, which status allows it,
what residents and the holder hear). What the chat command would answer its sender is the
console's answer (`console_answer`): it is shown on the page, not sent anywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from domain.decisions import (
    ChangeTicket,
    Context,
    Decision,
    Message,
    Send,
    ToDepartment,
    ToPerson,
    ToSender,
)
from domain.org import OrgMap
from domain.tickets import OPEN_STATUSES, TIERS, Category, Status, TicketView
from handlers import escalation, texts
from handlers.commands import Command, CommandSpec, fold
from handlers.confirmation import REOPEN_WITHIN
from handlers.departments import acts_for_department, may_whistle
from handlers.feedback import closed_too_long, reopened_fields
from handlers.registry import SPECS, handle_command
from handlers.residents import discreet
from handlers.ticket_commands import (
    CommandData,
    _actor_name,
    _answer,
    _change_decision,
    _refuse,
    can_handle,
    correct_category,
    not_found,
    usage_refused,
)

#: The channel of a console action's context: what a handler answers "its sender" on it is
#: the console's answer, never a message.
CONSOLE = "console"

TicketHandler = Callable[[Context, Command, TicketView], Decision]


# ---------------------------------------------------------------- re-filing (改类)


def recategorize(ticket: TicketView, category: str | None, by: str) -> Decision:
    """Re-file `ticket` as `category` (None: not a matter at all, which cancels it); the
    correction goes to the NLU review queue. `outcome` is "unchanged" when it already is,
    "refused" when its status no longer allows it."""
    if category is not None and category == ticket.category:
        return Decision("unchanged", texts.WHY_ACTION.format(
            actor=by, ticket=ticket.id, what=f"保持{texts.CATEGORY_NAMES[category]}"))
    change, review, what = correct_category(ticket, category)
    if ticket.status not in change.expect_status:
        status = texts.STATUS_NAMES.get(ticket.status, ticket.status)
        return Decision("refused", texts.WHY_ACTION_REFUSED.format(
            actor=by, ticket=ticket.id, what=what, status=status))
    return Decision(f"action:{change.kind}",
                    texts.WHY_ACTION.format(actor=by, ticket=ticket.id, what=what),
                    changes=[change], review=review)


# ---------------------------------------------------------------- actions without a chat command


def _oversees(ctx: Context, ticket: TicketView) -> bool:
    """The grid's leader and the admins of its district and street (those who may whistle)."""
    return may_whistle(ctx.org, ctx.person_id, ticket)


def close(ctx: Context, command: Command, ticket: TicketView) -> Decision:
    """结案: a resolved ticket closed by those over its place, without waiting for the
    residents' rating (which would close it, or `sla.confirm` unrated). The residents hear
    it and may still say 没修好 for `REOPEN_WITHIN`. No points are earned: a wish's volunteer
    earns them when the resident confirms it."""
    if not _oversees(ctx, ticket):
        return _refuse(ctx, command, "只有本网格的网格长、本居民区或本街道的管理员可以结案。")
    change = ChangeTicket(ticket.id, "closed",
                          texts.WHY_CLOSED_BY_STAFF.format(actor=_actor_name(ctx)),
                          (Status.RESOLVED,), Status.CLOSED, {"closed_at": ctx.now})
    template = (texts.WISH_CLOSED_BY_STAFF if ticket.category == Category.WISH
                else texts.CLOSED_BY_STAFF)
    return _change_decision(ctx, command, ticket, change, "结案", template,
                            {"days": REOPEN_WITHIN.days})


def reopen(ctx: Context, command: Command, ticket: TicketView) -> Decision:
    """重开: staff reopen a resolved ticket, or one closed within `REOPEN_WITHIN` (as 没修好
    does: fresh deadlines from the street's SLA, the rating taken out); its holder keeps it
    and is told, the residents hear who carries on."""
    if not can_handle(ctx, ticket):
        return _refuse(ctx, command, "只有负责本工单的工作人员可以重新打开。")
    if closed_too_long(ticket, ctx.now):
        days = REOPEN_WITHIN.days
        return _refuse(ctx, command, f"工单 #{ticket.id} 已关闭超过 {days} 天",
                       texts.STAFF_REOPEN_TOO_LATE, {"days": days})
    actor = _actor_name(ctx)
    note = command.arg or texts.STAFF_REOPEN_NOTE
    change = ChangeTicket(ticket.id, "reopened",
                          texts.WHY_REOPENED_BY_STAFF.format(actor=actor, note=note),
                          (Status.RESOLVED, Status.CLOSED), Status.REOPENED,
                          reopened_fields(ctx.org, ctx.now, ticket))
    holder = ctx.org.person(ticket.assignee_id) if ticket.assignee_id is not None else None
    told = []
    if holder is not None and holder.id != ctx.person_id:
        told.append(Send(ToPerson(holder.id), texts.REOPENED_BY_STAFF_PUSH,
                         {"actor": actor, "note": note}, ticket_id=ticket.id, key="push"))
    if ticket.department_id is not None and not acts_for_department(
            ctx.org, ctx.person_id, ticket):
        told.append(Send(ToDepartment(ticket.department_id), texts.REOPENED_BY_STAFF_PUSH,
                         {"actor": actor, "note": note}, ticket_id=ticket.id,
                         key="department"))
    if holder is not None:
        template, params = texts.REOPENED_BY_STAFF_GROUP, {"holder": holder.name}
    else:
        template, params = texts.REOPENED_BY_STAFF_NOBODY, {}
    return _change_decision(ctx, command, ticket, change, "重新打开", template, params, told)


def cancel(ctx: Context, command: Command, ticket: TicketView) -> Decision:
    """取消: staff who may handle the ticket cancel it, saying why (改类 无关 cancels as "no
    matter at all"; this is for a duplicate, a withdrawn request, a matter for elsewhere).
    The residents hear the reason; the holder and a whistled department are told."""
    if not can_handle(ctx, ticket):
        return _refuse(ctx, command, "只有负责本工单的工作人员可以取消。")
    actor, note = _actor_name(ctx), command.arg
    change = ChangeTicket(ticket.id, "cancelled",
                          texts.WHY_CANCELLED_BY_STAFF.format(actor=actor, note=note),
                          tuple(OPEN_STATUSES), Status.CANCELLED)
    told: list[Send] = []
    if ticket.assignee_id is not None and ticket.assignee_id != ctx.person_id:
        told.append(Send(ToPerson(ticket.assignee_id), texts.CANCELLED_BY_STAFF_PUSH,
                         {"actor": actor, "note": note}, ticket_id=ticket.id, key="holder"))
    if (ticket.department_id is not None
            and not acts_for_department(ctx.org, ctx.person_id, ticket)):
        told.append(Send(ToDepartment(ticket.department_id), texts.CANCELLED_BY_STAFF_PUSH,
                         {"actor": actor, "note": texts.mask_phones(note)}, ticket_id=ticket.id,
                         key="department"))
    return _change_decision(ctx, command, ticket, change, "取消", texts.CANCELLED_BY_STAFF_GROUP,
                            {"note": texts.mask_phones(note)}, told)


def tier_holder(org: OrgMap, ticket: TicketView, tier: str) -> tuple[int, str] | None:
    """Who mediates a dispute of `tier` at the ticket's building, and their title: the
    building's captain for a micro dispute, the district's mediator of the tier otherwise."""
    building = org.building(ticket.building_id) if ticket.building_id is not None else None
    if building is None:
        return None
    if tier == "micro":
        captains = org.captains_of(building.id)
        return (captains[0], texts.HOLDER_TITLES["captain"]) if captains else None
    mediator = org.mediator(building.district_id, tier)
    return (mediator, texts.HOLDER_TITLES[tier]) if mediator is not None else None


def change_tier(ctx: Context, command: Command, ticket: TicketView) -> Decision:
    """改层级: a dispute's tier set by hand; it goes to whoever mediates that tier (the
    captain for micro, the district's mediator of the tier), who is pushed the task, the
    previous holder told and the residents hear who has it. Escalation climbs from there."""
    if not can_handle(ctx, ticket):
        return _refuse(ctx, command, "只有负责本工单的工作人员可以更改调解层级。")
    if ticket.category != Category.DISPUTE:
        return _refuse(ctx, command, f"工单 #{ticket.id} 不是矛盾纠纷", texts.NOT_A_DISPUTE, {})
    tier = command.arg
    name = texts.TIER_NAMES[tier]
    if tier == ticket.tier:
        return Decision("answered", texts.WHY_COMMAND.format(
            actor=_actor_name(ctx), word=command.word, ticket=ticket.id, what=f"是{name}，不用改"),
            sends=[_answer(ctx, texts.DONE, {"what": f"是{name}"}, ticket.id)])
    previous = texts.TIER_NAMES.get(ticket.tier or "", "未分级")
    actor = _actor_name(ctx)
    fields: dict[str, Any] = {"tier": tier}
    text = texts.TIER_SET.format(previous=previous, tier=name)
    found = tier_holder(ctx.org, ticket, tier)
    sends: list[Send] = []
    resident_template: str | None = None
    resident_params: dict[str, Any] = {}
    if found is not None and found[0] != ticket.assignee_id:
        holder_id, title = found
        person = ctx.org.person(holder_id)
        holder = person.name if person is not None else ""
        fields["assignee_id"] = holder_id
        text += texts.TIER_SET_HOLDER.format(title=title, holder=holder)
        sends.append(Send(ToPerson(holder_id), texts.TIER_PUSH,
                          {"actor": actor, "tier": name, "text": texts.excerpt(ticket.text, 200)},
                          ticket_id=ticket.id, key="push"))
        if ticket.assignee_id is not None and ticket.assignee_id != ctx.person_id:
            sends.append(Send(ToPerson(ticket.assignee_id), texts.TIER_AWAY,
                              {"tier": name, "title": title, "holder": holder},
                              ticket_id=ticket.id, key="previous"))
        resident_template = texts.TRANSFERRED_GROUP
        resident_params = {"assignee": f"{title}{holder}"}
    change = ChangeTicket(ticket.id, "retiered", text, tuple(OPEN_STATUSES), None, fields,
                          expect_fields={"tier": ticket.tier},
                          event_data={"tier": tier, "previous_tier": ticket.tier})
    return _change_decision(ctx, command, ticket, change, f"定为{name}", resident_template,
                            resident_params, sends)


# ---------------------------------------------------------------- the console's actions


@dataclass(frozen=True, slots=True)
class ConsoleAction:
    """An action of the console: `name` in the API, `label` on the button, the command it
    is (`spec`: a chat command's, or one of `OWN_SPECS`), and the body field that carries its
    argument (`field`)."""

    name: str
    label: str
    spec: CommandSpec
    field: str | None = None
    #: Decided here (an action no chat command has); None: by the chat command.
    handler: TicketHandler | None = None


def _own(name: str, arg: str = "none", check: Callable[[str], bool] | None = None) -> CommandSpec:
    return CommandSpec(texts.CONSOLE_WORDS[name], texts.CONSOLE_USAGES[name], arg=arg,
                       check=check)


ACTIONS: dict[str, ConsoleAction] = {a.name: a for a in (
    ConsoleAction("accept", "接单", SPECS["接单"]),
    ConsoleAction("progress", "进展", SPECS["进展"], "note"),
    ConsoleAction("resolve", "办结", SPECS["完成"], "note"),
    ConsoleAction("transfer", "转派", SPECS["转派"], "to"),
    ConsoleAction("escalate", "升级", SPECS["升级"]),
    ConsoleAction("whistle", "吹哨", SPECS["吹哨"], "department"),
    ConsoleAction("report", "报到", SPECS["报到"]),
    ConsoleAction("close", "结案", _own("close"), handler=close),
    ConsoleAction("reopen", "重开", _own("reopen", "optional"), "note", handler=reopen),
    ConsoleAction("cancel", "取消", _own("cancel", "required"), "note", handler=cancel),
    ConsoleAction("tier", "改层级", _own("tier", "required", lambda arg: arg in TIERS), "tier",
                  handler=change_tier),
)}


def console_context(org: OrgMap, now: datetime, person_id: int, text: str = "") -> Context:
    """The context of an action a signed-in person takes in the console: the person is
    known; there is no group and no building chat."""
    person = org.person(person_id)
    name = person.name if person is not None else None
    sender = (person.wecom_userid or person.wechat_id) if person is not None else None
    message = Message(0, CONSOLE, sender or f"person-{person_id}", name, text, None)
    return Context(message, org, now, None, None, person_id)


def console_command(action: ConsoleAction, ticket_id: int, arg: str | None) -> Command:
    """The command the console's action is, with its argument read as the chat reads one
    (a missing required argument or one its check refuses makes a usage answer)."""
    spec = action.spec
    arg = (arg or "").strip()
    if spec.fold:
        arg = fold(arg)
    if spec.arg == "none":
        arg = ""
    if not arg:
        if spec.arg == "required":
            return Command(spec.word, ticket_id, error=spec.usage)
        return Command(spec.word, ticket_id)
    if spec.check is not None and not spec.check(arg):
        return Command(spec.word, ticket_id, arg, error=spec.usage)
    return Command(spec.word, ticket_id, arg)


def decide(ctx: Context, action: ConsoleAction, command: Command, data: CommandData) -> Decision:
    """What the action does: the chat command's decision, or this module's for the actions
    no chat command has (refused alike: a usage answer, a missing ticket, a role or a
    status that does not allow it)."""
    if action.handler is None:
        return handle_command(ctx, command, data)
    if command.error is not None:
        return usage_refused(ctx, command)
    if data.ticket is None:
        return not_found(ctx, command)
    decision = action.handler(ctx, command, data.ticket)
    decision.sends = discreet(decision.sends, data.ticket)
    return decision


def _is_console_answer(send: Send) -> bool:
    return isinstance(send.to, ToSender) and send.to.channel == CONSOLE


def console_answer(decision: Decision, ticket_id: int | None) -> tuple[Decision, str]:
    """The decision without what it says to whoever acted (it goes to nobody), and that
    answer as text for the console to show."""
    answers = [s for s in decision.sends if _is_console_answer(s)]
    text = "\n".join(s.render(ticket_id) for s in answers)
    return replace(decision, sends=[s for s in decision.sends if not _is_console_answer(s)]), text


#: How a refusal reads: the answer's template says whether the status does not allow the
#: action ("state"), its argument is wrong ("usage") or the ticket does not exist
#: ("missing"); any other refusal is about who may do it ("role").
REFUSAL_KINDS: dict[str, str] = {
    texts.WRONG_STATE: "state", texts.ALREADY_WHISTLED: "state", texts.ALREADY_HOLDS: "state",
    texts.REOPEN_TOO_LATE: "state", texts.STAFF_REOPEN_TOO_LATE: "state",
    texts.NO_DEPARTMENTS: "state", texts.NOT_A_DISPUTE: "state",
    texts.USAGE: "usage", texts.UNKNOWN_PERSON: "usage", texts.UNKNOWN_DEPARTMENT: "usage",
    texts.NOT_FOUND: "missing",
}


def refusal_kind(decision: Decision) -> str | None:
    """None when the decision was not refused; else "state", "usage", "missing" or "role"."""
    if decision.outcome != "refused":
        return None
    for send in decision.sends:
        if _is_console_answer(send):
            return REFUSAL_KINDS.get(send.template, "role")
    return "role"


def escalation_target(org: OrgMap, ticket: TicketView) -> str | None:
    """Who an escalation would hand the ticket to, as "网格长 陈网格长" (for the console's
    button); None when nobody is above."""
    holder = escalation.next_holder(org, ticket)
    person = org.person(holder.person_id) if holder is not None else None
    return f"{holder.title} {person.name}" if holder is not None and person is not None else None


__all__ = ["ACTIONS", "CONSOLE", "ConsoleAction", "cancel", "change_tier", "close",
           "console_answer", "console_command", "console_context", "decide",
           "escalation_target", "recategorize", "refusal_kind", "reopen",
           "tier_holder"]
