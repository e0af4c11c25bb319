"""Feedback that closes the loop, decided without a server: a resolved ticket waits for its
rating with one reminder and closes unrated at its street's confirm time; 没修好 reopens it
(within 7 days of closing) with fresh deadlines and without its rating; 撤销 is the
reporter's alone."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from domain.decisions import ScheduleTimer, ToDepartment, ToGroup, ToPerson, ToSender
from domain.org import StreetInfo
from domain.sla import Sla
from domain.tickets import Follower
from handlers import confirmation
from handlers.registry import handle_command, parse_command
from handlers.ticket_commands import CommandData
from handlers.timers import TimerContext, TimerView, on_timer
from tests.handlers.support import NOW, ORG, WORKER, ctx, staff_ctx, ticket

RESOLVED_AT = NOW - timedelta(hours=30)
CONFIRM_DUE = RESOLVED_AT + timedelta(days=3)
WAITING = dict(status="resolved", resolved_at=RESOLVED_AT, confirm_due_at=CONFIRM_DUE,
               accepted_at=RESOLVED_AT - timedelta(hours=2))
# A street that gives residents 12 hours to rate, an hour to accept, 6 hours to resolve.
QUICK = Sla.from_dict({"confirm": 12 * 3600, "accept": {"normal": 3600},
                       "resolve": {"repair": 6 * 3600}})
QUICK_ORG = replace(ORG, streets={**ORG.streets, 1: StreetInfo(1, "宜川路街道", QUICK)})


def command(text: str, view, **context):  # type: ignore[no-untyped-def]
    given = context.pop("context", None) or ctx(text, **context)
    return handle_command(given, parse_command(text), CommandData(ticket=view))


def fire(kind: str, due, view, org=ORG, now=NOW):  # type: ignore[no-untyped-def]
    return on_timer(TimerContext(org, now, TimerView(7, kind, due, 128), view))


# ---------------------------------------------------------------- resolving


def test_resolving_sets_the_confirm_deadline_and_one_reminder_a_day_later():
    done = command("完成 128 已更换灯泡", ticket(status="accepted"),
                   context=staff_ctx("完成 128 已更换灯泡", WORKER, "zhangwg"))
    [change] = done.changes
    assert change.fields["resolved_at"] == NOW
    assert change.fields["confirm_due_at"] == NOW + timedelta(days=3)  # the default
    assert done.timers == [ScheduleTimer("rate_reminder", NOW + timedelta(days=1), 128)]


def test_a_street_with_a_short_confirm_time_reminds_halfway():
    fields, timers = confirmation.awaiting_rating(QUICK_ORG, NOW, ticket(status="accepted"))
    assert fields["confirm_due_at"] == NOW + timedelta(hours=12)
    assert timers == [ScheduleTimer("rate_reminder", NOW + timedelta(hours=6), 128)]


def test_a_refused_resolution_schedules_nothing():
    done = command("完成 128", ticket(status="closed"),
                   context=staff_ctx("完成 128", WORKER, "zhangwg"))
    assert done.outcome == "refused" and done.timers == [] and done.changes == []


# ---------------------------------------------------------------- the reminder


def test_the_reminder_asks_the_residents_where_they_reported():
    view = ticket(**WAITING)
    decision = fire("rate_reminder", confirmation.reminder_at(RESOLVED_AT, CONFIRM_DUE), view)
    assert decision.outcome == "rate_reminded" and decision.changes == []
    [send] = decision.sends
    assert send.to == ToGroup(100, ("wxid_res1",))
    text = send.render(128)
    assert "评价 128 1-5" in text and "没修好 128" in text and "@王阿姨" in text


def test_a_wish_is_reminded_to_be_confirmed():
    view = ticket(**WAITING, category="wish")
    decision = fire("rate_reminder", confirmation.reminder_at(RESOLVED_AT, CONFIRM_DUE), view)
    text = decision.sends[0].render(128)
    assert "微心愿 #128" in text and "没修好" not in text


def test_no_reminder_once_rated_or_for_an_earlier_resolution():
    due = confirmation.reminder_at(RESOLVED_AT, CONFIRM_DUE)
    rated = fire("rate_reminder", due, ticket(**{**WAITING, "status": "closed", "rating": 5}))
    assert rated.outcome == "ignored" and rated.sends == []
    # Reopened and resolved again since: this reminder belonged to the first resolution.
    again = ticket(**{**WAITING, "resolved_at": NOW, "confirm_due_at": NOW + timedelta(days=3)})
    assert fire("rate_reminder", due, again).sends == []


# ---------------------------------------------------------------- closing unrated


def test_unrated_at_the_confirm_time_closes_without_a_rating():
    decision = fire("confirm_due", CONFIRM_DUE, ticket(**WAITING), now=CONFIRM_DUE)
    assert decision.outcome == "auto_closed"
    [change] = decision.changes
    assert change.kind == "closed" and change.status == "closed"
    assert change.expect_status == ("resolved",)
    assert change.expect_fields == {"confirm_due_at": CONFIRM_DUE}
    assert change.fields == {"closed_at": CONFIRM_DUE}  # no rating
    [told] = decision.sends
    assert "没修好 128" in told.render(128) and "7 天内" in told.render(128)


def test_a_rated_or_reopened_ticket_is_not_closed_by_an_old_timer():
    rated = ticket(**{**WAITING, "status": "closed", "rating": 4})
    assert fire("confirm_due", CONFIRM_DUE, rated).outcome == "ignored"
    reopened = ticket(**{**WAITING, "status": "reopened", "resolved_at": None,
                         "confirm_due_at": None})
    assert fire("confirm_due", CONFIRM_DUE, reopened).changes == []
    resolved_again = ticket(**{**WAITING, "confirm_due_at": CONFIRM_DUE + timedelta(days=1)})
    assert fire("confirm_due", CONFIRM_DUE, resolved_again).changes == []


# ---------------------------------------------------------------- 没修好


def test_not_fixed_while_resolved_reopens_to_the_same_holder_with_fresh_deadlines():
    view = ticket(**WAITING, rating=None)
    decision = command("没修好 128", view, context=replace(ctx("没修好 128"), org=QUICK_ORG))
    [change] = decision.changes
    assert change.kind == "reopened" and change.status == "reopened"
    assert change.expect_status == ("resolved", "closed")
    fields = change.fields
    assert fields["accept_due_at"] == NOW + timedelta(hours=1)  # the street's SLA
    assert fields["resolve_due_at"] == NOW + timedelta(hours=6)
    assert fields["rating"] is None and fields["confirm_due_at"] is None
    assert fields["resolved_at"] is None and fields["closed_at"] is None
    assert "assignee_id" not in fields  # the same holder
    [push] = [s for s in decision.sends if s.to == ToPerson(WORKER)]
    pushed = push.render(128)
    assert "#128" in pushed and "3号楼电梯坏了" in pushed and "地点：3号楼（第1网格）" in pushed
    assert "接单时限：11-22 17:00｜办结时限：11-22 22:00" in pushed  # the fresh deadlines
    answer = decision.sends[0].render(128)
    assert "已重新打开" in answer and "张网格" in answer


def test_what_the_resident_adds_stays_on_the_reopened_ticket_and_reaches_its_holder():
    decision = command("没修好６７６，水还在漏", ticket(**WAITING, rating=None))
    [change] = decision.changes
    assert change.text == "居民反馈没有解决：水还在漏"
    [push] = [s for s in decision.sends if s.to == ToPerson(WORKER)]
    assert "联系我13812345678\n居民补充：水还在漏\n地点：3号楼" in push.render(128)
    bare = command("没修好 128", ticket(**WAITING, rating=None))
    assert bare.changes[0].text == "居民反馈没有解决"
    assert "居民补充" not in [s for s in bare.sends if s.to == ToPerson(WORKER)][0].render(128)


def test_a_whistled_department_hears_its_work_was_not_enough():
    whistled = ticket(**WAITING, rating=None, department_id=5, reported_at=NOW)
    decision = command("没修好 128 还是滴水", whistled)
    [told] = [s for s in decision.sends if s.to == ToDepartment(5)]
    assert told.render(128) == ("工单 #128 居民反馈没有解决，已重新打开，请继续处理："
                                "3号楼电梯坏了 联系我13812345678\n居民补充：还是滴水")


def test_not_fixed_within_seven_days_of_closing_takes_the_rating_out():
    closed = ticket(**{**WAITING, "status": "closed", "rating": 5,
                       "closed_at": NOW - timedelta(days=6, hours=23)})
    decision = command("没修好 128", closed)
    [change] = decision.changes
    assert change.fields["rating"] is None and change.status == "reopened"


def test_not_fixed_after_seven_days_is_refused_with_a_hint_to_report_anew():
    closed = ticket(**{**WAITING, "status": "closed", "rating": 5,
                       "closed_at": NOW - timedelta(days=7, minutes=1)})
    decision = command("没修好 128", closed)
    assert decision.outcome == "refused" and decision.changes == []
    [answer] = decision.sends
    text = answer.render(128)
    assert "超过 7 天" in text and "新建工单" in text and "#128" in text


def test_not_fixed_by_a_follower_reopens_and_by_a_stranger_is_refused():
    followed = ticket(**WAITING, followers=(("bridge", "wxid_res2"),))
    assert command("没修好 128", followed, sender="wxid_res2").changes
    stranger = command("没修好 128", followed, sender="wxid_nosy")
    assert stranger.outcome == "refused" and stranger.changes == []


def test_the_reporter_rates_and_a_follower_is_pointed_to_not_fixed():
    followed = ticket(**WAITING, followers=(("bridge", "wxid_res2"),))
    follower = command("评价 128 5", followed, sender="wxid_res2")
    assert follower.outcome == "refused" and follower.changes == []
    assert follower.sends[0].render(128).endswith(
        "工单 #128：由最先反映问题的居民评价；您如觉得没有解决，可回复“没修好 128”。")
    reporter = command("评价 128 4", followed)
    assert reporter.changes[0].fields["rating"] == 4 and reporter.changes[0].status == "closed"


def test_what_is_said_with_a_rating_stays_on_the_ticket_and_reaches_its_holder():
    decision = command("评价 128 1 拖了这么久，态度也差", ticket(**WAITING))
    [change] = decision.changes
    assert change.fields["rating"] == 1 and change.text == "评价 1 星：拖了这么久，态度也差"
    [told] = [s.render(128) for s in decision.sends if s.to == ToPerson(WORKER)]
    assert told == "工单 #128 居民评价 1 星：拖了这么久，态度也差"
    poor = command("评价 128 2", ticket(**WAITING))  # a poor rating, words or none
    assert [s.render(128) for s in poor.sends if s.to == ToPerson(WORKER)] == [
        "工单 #128 居民评价 2 星"]
    good = command("评价 128 5", ticket(**WAITING))
    assert not [s for s in good.sends if s.to == ToPerson(WORKER)]
    assert good.changes[0].text == "评价 5 星"


def test_not_fixed_on_an_open_ticket_is_refused():
    decision = command("没修好 128", ticket(status="accepted"))
    assert decision.outcome == "refused" and decision.changes == []


# ---------------------------------------------------------------- 撤销


def test_the_reporter_cancels_a_ticket_nobody_resolved_and_the_holder_is_told():
    for status in ("new", "accepted", "in_progress", "reopened"):
        decision = command("撤销 128", ticket(status=status))
        [change] = decision.changes
        assert change.kind == "cancelled" and change.status == "cancelled"
        assert status in change.expect_status and "resolved" not in change.expect_status
        [told] = [s for s in decision.sends if s.to == ToPerson(WORKER)]
        assert "撤销" in told.render(128) and "#128" in told.render(128)


def test_why_the_reporter_cancels_reaches_the_holder():
    decision = command("撤销 128 已经自己找人修好了", ticket(status="accepted"))
    assert decision.changes[0].text.endswith("撤销了工单（已经自己找人修好了）")
    [told] = [s for s in decision.sends if s.to == ToPerson(WORKER)]
    assert told.render(128) == "工单 #128 已由反映人撤销（已经自己找人修好了），无需再处理，谢谢！"


def test_a_whistled_department_hears_of_the_cancellation_too():
    decision = command("撤销 128", ticket(status="accepted", department_id=5))
    assert any(s.to == ToDepartment(5) for s in decision.sends)


def test_only_the_reporter_cancels():
    followed = ticket(followers=(("bridge", "wxid_res2"),))
    for sender in ("wxid_res2", "wxid_nosy"):
        decision = command("撤销 128", followed, sender=sender)
        assert decision.outcome == "refused" and decision.changes == []
        assert "反映问题的居民本人" in decision.sends[0].render(128)
    staff = command("撤销 128", followed, context=staff_ctx("撤销 128", WORKER, "zhangwg"))
    assert staff.outcome == "refused" and staff.changes == []


def test_a_resolved_ticket_cannot_be_cancelled():
    decision = command("撤销 128", ticket(**WAITING))
    assert decision.outcome == "refused" and decision.changes == []


def test_a_cancellation_asked_one_to_one_is_answered_one_to_one():
    view = ticket(group_id=None, reporter_channel="wechat", reporter_id="oRes")
    decision = command("撤销 128", view, sender="oRes", channel="wechat", chat_id=None)
    assert decision.changes and decision.sends[0].to == ToSender("wechat", "oRes", None)


def test_followers_hear_of_it_too():
    view = ticket(**WAITING, follower_chats=(Follower("wecom_bot", "lisi", "李四", 101),))
    decision = fire("rate_reminder", confirmation.reminder_at(RESOLVED_AT, CONFIRM_DUE), view)
    assert {s.to for s in decision.sends} == {ToGroup(100, ("wxid_res1",)),
                                             ToGroup(101, ("lisi",))}
    # only the first reporter rates: a follower is not asked to
    for send in decision.sends:
        assert "请最先反映的居民回复“评价 128 1-5”打分" in send.render(128)
    alone = fire("rate_reminder", confirmation.reminder_at(RESOLVED_AT, CONFIRM_DUE),
                 ticket(**WAITING))
    assert "还没收到您的评价。请回复“评价 128 1-5”打分" in alone.sends[0].render(128)
