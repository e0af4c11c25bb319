"""Building captains' notices that arrive and are heard.

- `通知 <text>` (now) or `通知 12-01 08:00 <text>` (at that time, Beijing time): a notice to
  every group of the captain's buildings, stored; a scheduled one is sent by its timer.
- `收到` (or 已阅, 好的收到) in a building group after a notice: that resident's acknowledgement of the
  building's latest notice of the last few days, counted once, answered with silence.
- `回执`: how many residents acknowledged the captain's latest notice, per building.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from domain.decisions import (
    NEW_NOTICE,
    AcknowledgeNotice,
    ChangeNotice,
    Context,
    CreateNotice,
    Decision,
    NewNotice,
    ScheduleTimer,
    Send,
    ToGroup,
    ToPerson,
)
from domain.notices import ACK_WINDOW, NOTICE_TIMER, NoticeStatus, NoticeView
from domain.org import OrgMap
from handlers import texts
from handlers.commands import Command, CommandSpec
from handlers.notice_time import SendAt, Unreadable, beijing, read_notice
from handlers.ticket_commands import CommandData, CommandHandler, _actor_name, _answer, _refuse

if TYPE_CHECKING:
    from handlers.timers import TimerContext

# What may follow 收到 and still be only an acknowledgement: "收到了", "收到，谢谢楼长👍",
# "收到[抱拳]". Anything else ("收到的快递被偷了") is read like any other message.
_ACK_TAIL = re.compile(
    r"(?:收到|已阅|已读|[了啦喽咯哈啊呀哦噢喔嗯滴的好]|好的|谢谢|多谢|感谢|辛苦(?:了|啦)?|明白|知道|"
    r"楼长|组长|老师|您|你|大家|[oO][kK]|\[[^\[\]\s]{1,4}\]|"
    r"[\s!！。.,，~～、…👌👍🙏💪😊🌹❤]|[\U0001F300-\U0001FAFF])*"
)
ACK_TAIL_MAX = 20


def is_acknowledgement_tail(arg: str) -> bool:
    """Whether what follows 收到 (or 已阅) keeps the message a plain acknowledgement."""
    return len(arg) <= ACK_TAIL_MAX and _ACK_TAIL.fullmatch(arg) is not None


# After 好的 an acknowledgement names what it acknowledges ("好的收到", "好的，谢谢楼长"); a
# bare 好的 may answer anyone about anything.
_ACK_WORD = re.compile(r"收到|已阅|已读|明白|知道|楼长|组长")


def is_agreeing_acknowledgement(arg: str) -> bool:
    """Whether what follows 好的 makes the message an acknowledgement of a notice."""
    return is_acknowledgement_tail(arg) and _ACK_WORD.search(arg) is not None


# ---------------------------------------------------------------- where a notice goes


def _buildings_named(org: OrgMap, building_ids: tuple[int, ...]) -> str:
    names = [f"{b.number}号楼" for b in (org.building(i) for i in building_ids) if b is not None]
    return "、".join(names)


def _captain_name(org: OrgMap, captain_id: int) -> str:
    person = org.person(captain_id)
    return person.name if person is not None else "楼组长"


def _to_groups(group_ids: tuple[int, ...], text: str, captain: str,
               notice_id: int | NewNotice) -> list[Send]:
    """The notice into each group as the captain wrote it: a number in it is one they chose
    to publish (the property's hotline, their own), unlike a resident's report repeated by
    gridbot. `key` keeps the sends apart."""
    return [Send(ToGroup(group_id), texts.NOTICE, {"text": text, "captain": captain},
                 notice_id=notice_id, key=f"notice-{group_id}") for group_id in group_ids]


# ---------------------------------------------------------------- 通知


def _to_captain(ctx: Context, template: str, params: dict[str, Any]) -> Send:
    """What a captain hears about their notices: 1:1 on WeCom when they wrote in a group
    and are on WeCom (the residents read the notice itself, not its count), else where
    they wrote."""
    person = ctx.org.person(ctx.person_id) if ctx.person_id is not None else None
    if ctx.group_id is not None and person is not None and person.wecom_userid:
        return Send(ToPerson(person.id), template, params)
    return _answer(ctx, template, params)


def is_captain(ctx: Context) -> bool:
    """Whether the sender captains a building, and so gives 通知."""
    return ctx.person_id is not None and bool(ctx.org.buildings_of_captain(ctx.person_id))


def notice(ctx: Context, command: Command) -> Decision:
    """A captain's notice to every group of their buildings, now or at the time it names."""
    person_id = ctx.person_id
    if person_id is None or not is_captain(ctx):
        return _refuse(ctx, command, "只有楼组长可以发布楼组通知。")
    buildings = ctx.org.buildings_of_captain(person_id)
    timing = read_notice(command.arg, ctx.now)
    captain = _actor_name(ctx)
    if isinstance(timing, Unreadable):
        return Decision("refused", texts.WHY_NOTICE_TIME.format(captain=captain, why=timing.why),
                        sends=[_answer(ctx, texts.NOTICE_TIME_USAGE, {"why": timing.why})])
    group_ids = tuple(g.id for b in buildings for g in ctx.org.groups_of_building(b))
    named = _buildings_named(ctx.org, buildings)
    if not group_ids:
        return _refuse(ctx, command, f"{named}还没有登记楼组群", texts.NOTICE_NO_GROUPS,
                       {"buildings": named})
    count = len(group_ids)
    if isinstance(timing, SendAt):
        at = beijing(timing.at)
        return Decision(
            "notice_scheduled",
            texts.WHY_NOTICE_SCHEDULED.format(captain=captain, at=at, count=count),
            notice=CreateNotice(person_id, timing.text, timing.at, buildings, group_ids,
                                NoticeStatus.SCHEDULED),
            timers=[ScheduleTimer(NOTICE_TIMER, timing.at, notice_id=NEW_NOTICE)],
            sends=[_to_captain(ctx, texts.NOTICE_SCHEDULED,
                               {"at": at, "count": count, "buildings": named})],
        )
    sends = _to_groups(group_ids, timing.text, captain, NEW_NOTICE)
    sends.append(_to_captain(ctx, texts.NOTICE_SENT, {"count": count, "buildings": named}))
    return Decision(
        "notice", texts.WHY_NOTICE.format(captain=captain, count=count),
        notice=CreateNotice(person_id, timing.text, ctx.now, buildings, group_ids,
                            NoticeStatus.SENT),
        sends=sends,
    )


def send_scheduled(ctx: TimerContext) -> Decision:
    """A scheduled notice's time came: it goes to its groups, is marked sent, and its
    captain hears so. A notice sent, cancelled or moved meanwhile is left alone."""
    found: NoticeView | None = ctx.notice
    if (found is None or found.status != NoticeStatus.SCHEDULED
            or found.send_at != ctx.timer.due_at):
        if found is None:
            status = "删除"
        elif found.status == NoticeStatus.SCHEDULED:
            status = "改期"  # its time is not this timer's
        else:
            status = texts.NOTICE_STATUS_NAMES.get(found.status, found.status)
        return Decision("ignored", texts.WHY_NOTICE_GONE.format(notice=ctx.timer.notice_id,
                                                                 status=status))
    captain = _captain_name(ctx.org, found.captain_id)
    count = len(found.group_ids)
    sends = _to_groups(found.group_ids, found.text, captain, found.id)
    sends.append(Send(ToPerson(found.captain_id), texts.NOTICE_SENT_LATER, {
        "at": beijing(found.send_at), "count": count,
        "buildings": _buildings_named(ctx.org, found.building_ids),
        "excerpt": texts.excerpt(found.text, 30)},
        notice_id=found.id, key="captain"))
    return Decision(
        "notice_sent", texts.WHY_NOTICE_SENT.format(captain=captain, count=count),
        notice_changes=[ChangeNotice(found.id, NoticeStatus.SENT, (NoticeStatus.SCHEDULED,))],
        sends=sends,
    )


# ---------------------------------------------------------------- 收到


def acknowledge(ctx: Context, command: Command, data: CommandData) -> Decision:
    """A resident's 收到 counts for the building's latest notice, once; nobody answers."""
    sender = ctx.message.sender_name or ctx.message.sender_id
    found: NoticeView | None = data.facts.get("notice")
    if (ctx.building_id is None or found is None or not found.covers(ctx.building_id)
            or found.status != NoticeStatus.SENT or found.sent_at is None
            or found.sent_at < ctx.now - ACK_WINDOW):
        return Decision("ignored", texts.WHY_ACK_NO_NOTICE.format(sender=sender))
    if ctx.person_id is not None and ctx.person_id == found.captain_id:
        return Decision("ignored", texts.WHY_ACK_OWN.format(sender=sender))
    if data.facts.get("acknowledged"):
        return Decision("ignored", texts.WHY_ACK_AGAIN.format(sender=sender))
    captain = _captain_name(ctx.org, found.captain_id)
    return Decision(
        "acknowledged", texts.WHY_ACKNOWLEDGED.format(sender=sender, captain=captain),
        acknowledgements=[AcknowledgeNotice(found.id, ctx.building_id, ctx.message.channel,
                                            ctx.message.sender_id)],
    )


# ---------------------------------------------------------------- 回执


#: How many of a captain's latest notices 回执 speaks of: the latest per building (收到
#: counts for it alone), each one before it in a line.
RECEIPTS_NOTICES = 3


def receipts(ctx: Context, command: Command, data: CommandData) -> Decision:
    """How many residents acknowledged the captain's latest notice, per building, and each
    of the ones before it."""
    person_id = ctx.person_id
    if person_id is None or not ctx.org.buildings_of_captain(person_id):
        return _refuse(ctx, command, "只有楼组长可以查看通知回执。")
    captain = _actor_name(ctx)
    sent: list[NoticeView] = list(data.facts.get("notices") or ())
    found = sent[0] if sent else None
    waiting = int(data.facts.get("scheduled", 0))
    later = texts.RECEIPTS_SCHEDULED.format(count=waiting) if waiting else ""
    if found is None:
        return Decision("answered", texts.WHY_RECEIPTS_NONE.format(captain=captain),
                        sends=[_to_captain(ctx, texts.RECEIPTS_NONE, {"later": later})])
    lines = []
    for building_id in found.building_ids:
        building = ctx.org.building(building_id)
        name = f"{building.number}号楼" if building is not None else "已撤销的楼栋"
        lines.append(texts.RECEIPT_LINE.format(building=name,
                                               count=found.acknowledged.get(building_id, 0)))
    total = found.acknowledged_total
    before = [texts.RECEIPT_BEFORE_LINE.format(
        sent=beijing(n.sent_at or n.send_at), excerpt=texts.excerpt(n.text, 15),
        total=n.acknowledged_total) for n in sent[1:]]
    return Decision(
        "answered", texts.WHY_RECEIPTS.format(captain=captain, total=total),
        sends=[_to_captain(ctx, texts.RECEIPTS, {
            "sent": beijing(found.sent_at or found.send_at),
            "excerpt": texts.excerpt(found.text, 30), "total": total,
            "lines": "\n".join(lines),
            "before": texts.RECEIPTS_BEFORE.format(lines="\n".join(before)) if before else "",
            "later": later})],
    )


COMMANDS: list[tuple[CommandSpec, CommandHandler]] = [
    (CommandSpec("通知", "通知 通知内容，或定时：通知 12-01 08:00 通知内容", ticket=False,
                 arg="required", loads="nothing", given_by=is_captain),
     lambda ctx, command, data: notice(ctx, command)),
    # 已阅, 已收到, 知道了 and 好的收到 are how many residents say 收到.
    *((CommandSpec(word, "收到", ticket=False, arg="optional", check=is_acknowledgement_tail,
                   bad_arg_is_conversation=True, loads="building_notice"), acknowledge)
      for word in ("收到", "已收到", "已阅", "已读", "知道了")),
    *((CommandSpec(word, "收到", ticket=False, arg="required", check=is_agreeing_acknowledgement,
                   bad_arg_is_conversation=True, loads="building_notice"), acknowledge)
      for word in ("好的", "OK", "ok")),
    (CommandSpec("回执", "回执", ticket=False, loads="captain_notice"), receipts),
]
