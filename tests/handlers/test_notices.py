"""Captains' notices without a server: when a notice goes out, who may send one, a
resident's 收到 counted once, and 回执."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from domain.decisions import NEW_NOTICE, AcknowledgeNotice, ChangeNotice, ToGroup, ToPerson
from domain.notices import NOTICE_TIMER, SHANGHAI, NoticeStatus, NoticeView
from handlers import CommandData, handle_command
from handlers.notice_time import SendAt, SendNow, Unreadable, read_notice
from handlers.registry import command_in, parse_command
from handlers.timers import TimerContext, TimerView, on_timer
from tests.handlers.support import CAPTAIN, NOW, ORG, WORKER, ctx, staff_ctx


def at_beijing(month: int, day: int, hour: int, minute: int = 0, year: int = 2026) -> datetime:
    """A moment in Beijing time, as UTC (NOW is 2026-11-22 16:00 there)."""
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


def captain_says(text: str, data: CommandData | None = None, **where):
    where.setdefault("sender", "wxid_wang")
    where.setdefault("name", "王楼长")
    return handle_command(ctx(text, person=CAPTAIN, **where), parse_command(text),
                          data or CommandData())


def a_notice(**over) -> NoticeView:
    base = dict(id=7, captain_id=CAPTAIN, text="明天停水，咨询 13912345678", send_at=NOW,
                status=NoticeStatus.SENT, building_ids=(10,), group_ids=(100, 101),
                created_at=NOW, sent_at=NOW - timedelta(hours=2))
    base.update(over)
    return NoticeView(**base)


# ---------------------------------------------------------------- when it goes out


@pytest.mark.parametrize("arg, expected", [
    ("明天停水", SendNow("明天停水")),
    ("12-01 08:00 明天停水", SendAt(at_beijing(12, 1, 8), "明天停水")),
    ("12-01 08:00明天停水", SendAt(at_beijing(12, 1, 8), "明天停水")),
    ("2026-12-01 08:00 停水", SendAt(at_beijing(12, 1, 8), "停水")),
    # a day in words is when to send only after 定时
    ("定时 12月1日 8:00 停水", SendAt(at_beijing(12, 1, 8), "停水")),
    ("定时 12月1号 8点半，停水", SendAt(at_beijing(12, 1, 8, 30), "停水")),
    ("定时：明天08:00 停水", SendAt(at_beijing(11, 23, 8), "停水")),
    ("定时 明天 下午3点 开会", SendAt(at_beijing(11, 23, 15), "开会")),
    ("定时 今晚8点 停水检修", SendAt(at_beijing(11, 22, 20), "停水检修")),
    ("定时后天 7:30：电梯保养", SendAt(at_beijing(11, 24, 7, 30), "电梯保养")),
    ("定时 12-01 08:00 停水", SendAt(at_beijing(12, 1, 8), "停水")),
    # and without it says when the matter is: the notice goes now, as written
    ("今晚8点 小区停电检修，电梯暂停使用", SendNow("今晚8点 小区停电检修，电梯暂停使用")),
    ("明天 下午3点 开会", SendNow("明天 下午3点 开会")),
    ("12月3日 上午9点 接种疫苗", SendNow("12月3日 上午9点 接种疫苗")),
    ("１２-０１ ０８：００ 全角数字", SendAt(at_beijing(12, 1, 8), "全角数字")),
    ("１２－０１　０８：００ 全角的日期", SendAt(at_beijing(12, 1, 8), "全角的日期")),
    ("１２／０１ ０８：００ 全角斜杠", SendAt(at_beijing(12, 1, 8), "全角斜杠")),
    ("01-05 08:00 元旦后第一次例会", SendAt(at_beijing(1, 5, 8, year=2027), "元旦后第一次例会")),
    # a time inside the matter, not a schedule: sent now as written
    ("明天8点开会", SendNow("明天8点开会")),
    ("明天上午9点到12点停水", SendNow("明天上午9点到12点停水")),
    ("明天 9:00-12:00 停水", SendNow("明天 9:00-12:00 停水")),
    ("12-01 08:00 至 12:00 停水", SendNow("12-01 08:00 至 12:00 停水")),
    ("5-6号楼明天停电", SendNow("5-6号楼明天停电")),
    ("12月1日停水一天", SendNow("12月1日停水一天")),
])
def test_when_a_notice_goes_out(arg, expected):
    assert read_notice(arg, NOW) == expected


@pytest.mark.parametrize("arg, why", [
    ("11-22 15:00 停水", "已经过去"),
    ("定时 今天 09:00 停水", "已经过去"),
    ("13-01 08:00 停水", "没有这个日期"),
    ("02-30 08:00 停水", "没有这个日期"),
    ("12-01 25:00 停水", "没有这个日期"),
    ("12-01 8.00 停水", "时间请写成"),
    ("12-01 08:00", "通知内容"),
    ("定时 明天停水", "定时后面先写时间"),
    ("定时 明天8点开会", "空一格"),
    ("定时 12-01 9:00-12:00 停水", "一个时刻"),
    ("2028-01-01 08:00 停水", "最多提前一年"),
])
def test_a_time_past_or_unreadable_is_explained(arg, why):
    timing = read_notice(arg, NOW)
    assert isinstance(timing, Unreadable) and why in timing.why


# ---------------------------------------------------------------- 通知


def test_a_notice_now_goes_to_every_group_of_the_captains_buildings_and_is_stored():
    d = captain_says("通知 明天停水，有事找我 13912345678")
    assert d.outcome == "notice"
    spec = d.notice
    assert (spec.captain_id, spec.status, spec.building_ids, spec.group_ids, spec.send_at) == (
        CAPTAIN, "sent", (10,), (100, 101), NOW)
    assert spec.text == "明天停水，有事找我 13912345678"  # staff see it as written
    posts = [s for s in d.sends if isinstance(s.to, ToGroup)]
    assert {s.to.group_id for s in posts} == {100, 101}  # 5号楼 (group 102) is not theirs
    assert all(s.notice_id is NEW_NOTICE for s in posts)
    assert len({s.key for s in posts}) == 2
    for post in posts:
        text = post.render(None)
        # The captain's own words, their number too: they publish it for residents to call.
        assert "明天停水，有事找我 13912345678" in text and "王楼长" in text
        assert "收到" in text  # residents learn how to acknowledge
    # how many groups it reached is the captain's to read, 1:1 on WeCom, not the residents'
    answer = d.sends[-1]
    assert answer.to == ToPerson(CAPTAIN)
    assert "3号楼" in answer.render(None) and "2 个楼组群" in answer.render(None)
    assert not d.timers


def test_a_captain_not_on_wecom_hears_where_the_notice_went_in_the_group():
    person = ORG.people[CAPTAIN]
    org = replace(ORG, people={**ORG.people, CAPTAIN: replace(person, wecom_userid=None)})
    text = "通知 明天停水"
    d = handle_command(replace(ctx(text, sender="wxid_wang", name="王楼长", person=CAPTAIN),
                               org=org), parse_command(text), CommandData())
    answer = d.sends[-1]
    assert answer.to == ToGroup(100, ("wxid_wang",))
    assert answer.render(None).startswith("@王楼长 通知已发送到 3号楼的 2 个楼组群")


def test_a_scheduled_notice_waits_for_its_timer():
    d = captain_says("通知 12-01 08:00 明天停水", channel="wecom_app", chat_id=None,
                     sender="wanglz", name=None)
    assert d.outcome == "notice_scheduled"
    at = at_beijing(12, 1, 8)
    assert (d.notice.status, d.notice.send_at, d.notice.text) == ("scheduled", at, "明天停水")
    assert d.timers == [replace(d.timers[0], kind=NOTICE_TIMER, due_at=at,
                                notice_id=NEW_NOTICE, ticket_id=None)]
    [answer] = d.sends  # nothing goes to the groups yet
    assert answer.to.sender_id == "wanglz"
    assert "12-01 08:00" in answer.render(None) and "2 个楼组群" in answer.render(None)


@pytest.mark.parametrize("text", ["通知 11-22 09:00 停水", "通知 12-01 8.00 停水"])
def test_a_past_or_unreadable_time_gets_a_usage_answer_and_nothing_is_stored(text):
    d = captain_says(text)
    assert d.outcome == "refused" and d.notice is None and not d.timers
    [answer] = d.sends
    said = answer.render(None)
    assert "没有发出" in said and "通知 12-01 08:00 内容" in said


@pytest.mark.parametrize("person, sender", [(None, "wxid_res1"), (WORKER, "zhangwg")])
def test_only_a_captain_may_send_a_notice(person, sender):
    d = handle_command(ctx("通知 明天停水", sender=sender, person=person),
                       parse_command("通知 明天停水"), CommandData())
    assert d.outcome == "refused" and d.notice is None and not d.timers
    [answer] = d.sends
    assert answer.to == ToGroup(100, (sender,)) and "楼组长" in answer.render(None)


@pytest.mark.parametrize("person, sender", [(None, "wxid_res1"), (WORKER, "zhangwg")])
def test_someone_else_passing_on_a_notice_in_a_group_is_heard_as_conversation(person, sender):
    said = "通知：明天上午9点到12点停水，请大家提前储水"
    assert command_in(ctx(said, sender=sender, person=person), said) is None
    # one to one they are told who may; a captain's is a notice wherever it is written
    assert command_in(ctx(said, sender=sender, person=person, chat_id=None), said) is not None
    assert command_in(ctx(said, sender="wxid_wang", person=CAPTAIN), said).word == "通知"


def test_a_captain_whose_buildings_have_no_group_is_told():
    org = ORG
    lonely = replace(ctx("通知 明天停水", sender="wxid_wang", person=CAPTAIN), org=type(org).build(
        buildings=list(org.buildings.values()), people=[(CAPTAIN, "王楼长", None, "wxid_wang", None)],
        roles=[(CAPTAIN, org.roles_of(CAPTAIN)[0])]), group_id=None, building_id=None)
    d = handle_command(lonely, parse_command("通知 明天停水"), CommandData())
    assert d.outcome == "refused" and d.notice is None
    assert "还没有登记楼组群" in d.sends[0].render(None)


# ---------------------------------------------------------------- the timer


def timer_fires(notice: NoticeView | None, due: datetime | None = None):
    due = due or (notice.send_at if notice else NOW)
    view = TimerView(5, NOTICE_TIMER, due, notice_id=notice.id if notice else 7)
    return on_timer(TimerContext(ORG, due + timedelta(seconds=1), view, None, notice))


def test_a_scheduled_notice_is_sent_by_its_timer_and_marked_sent():
    notice = a_notice(status="scheduled", send_at=at_beijing(12, 1, 8), sent_at=None)
    d = timer_fires(notice)
    assert d.outcome == "notice_sent"
    assert d.notice_changes == [ChangeNotice(7, "sent", ("scheduled",))]
    posts = [s for s in d.sends if isinstance(s.to, ToGroup)]
    assert {s.to.group_id for s in posts} == {100, 101}
    assert all(s.notice_id == 7 and "13912345678" in s.render(None) for s in posts)
    [told] = [s for s in d.sends if isinstance(s.to, ToPerson)]
    assert told.to == ToPerson(CAPTAIN) and "12-01 08:00" in told.render(None)


@pytest.mark.parametrize("notice, due", [
    (None, None),
    (a_notice(), None),  # sent already
    (a_notice(status="cancelled", sent_at=None), None),
    (a_notice(status="scheduled", sent_at=None), NOW - timedelta(hours=1)),  # moved
])
def test_a_timer_for_a_notice_sent_cancelled_or_moved_does_nothing(notice, due):
    d = timer_fires(notice, due)
    assert d.outcome == "ignored" and not d.sends and not d.notice_changes


# ---------------------------------------------------------------- 收到


@pytest.mark.parametrize("text", ["收到", "收到了", "收到，谢谢", "收到了，谢谢楼长👍", "收到！",
                                  "@gridbot 收到", "收到[抱拳]", "收到收到", "收到 OK"])
def test_an_acknowledgement_is_read_as_one(text):
    command = parse_command(text)
    assert command is not None and command.word == "收到" and command.error is None


@pytest.mark.parametrize("text", ["收到的快递被偷了", "收到了吗", "收到物业的催费单，但电梯还是坏的",
                                  "收到通知但是水还是没停"])
def test_a_report_that_starts_with_shoudao_is_not_swallowed(text):
    assert parse_command(text) is None


@pytest.mark.parametrize("text", ["已阅", "已阅，谢谢", "好的收到", "好的，收到了", "好的，谢谢楼长",
                                  "好的明白", "已读👌", "已收到，谢谢", "知道了", "OK收到",
                                  "ok，收到"])
def test_an_acknowledgement_in_other_words_counts_like_shoudao(text):
    d = handle_command(ctx(text), parse_command(text),
                       CommandData(facts={"notice": a_notice(), "acknowledged": False}))
    assert d.outcome == "acknowledged" and not d.sends
    assert d.acknowledgements == [AcknowledgeNotice(7, 10, "bridge", "wxid_res1")]


@pytest.mark.parametrize("text", ["好的", "好的好的", "好的我家水管也漏了", "已阅读完毕，我要投诉物业",
                                  "OK", "知道了吗", "已收到的快递被偷了"])
def test_agreeing_without_saying_what_is_not_an_acknowledgement(text):
    assert parse_command(text) is None


def resident_acks(notice: NoticeView | None, acknowledged: bool = False, **where):
    facts = {"notice": notice, "acknowledged": acknowledged} if notice else {}
    return handle_command(ctx("收到了", **where), parse_command("收到了"), CommandData(facts=facts))


def test_a_residents_shoudao_acknowledges_the_buildings_latest_notice_silently():
    d = resident_acks(a_notice())
    assert d.outcome == "acknowledged" and not d.sends and d.notice is None
    assert d.acknowledgements == [AcknowledgeNotice(7, 10, "bridge", "wxid_res1")]


def test_a_resident_is_counted_once():
    d = resident_acks(a_notice(), acknowledged=True)
    assert d.outcome == "ignored" and not d.acknowledgements and not d.sends


@pytest.mark.parametrize("notice, where", [
    (None, {}),  # no notice lately
    (a_notice(sent_at=NOW - timedelta(days=4)), {}),  # too long ago
    (a_notice(building_ids=(11,)), {}),  # another building's notice
    (a_notice(status="scheduled", sent_at=None), {}),  # not out yet
    (a_notice(), {"channel": "wecom_app", "chat_id": None, "sender": "someone"}),  # 1:1
])
def test_shoudao_without_a_notice_to_acknowledge_is_chatter(notice, where):
    d = resident_acks(notice, **where)
    assert d.outcome == "ignored" and not d.acknowledgements and not d.sends


def test_the_captains_own_shoudao_is_not_counted():
    d = handle_command(ctx("收到", sender="wxid_wang", person=CAPTAIN), parse_command("收到"),
                       CommandData(facts={"notice": a_notice(), "acknowledged": False}))
    assert d.outcome == "ignored" and not d.acknowledgements


# ---------------------------------------------------------------- 回执


def test_receipts_count_acknowledgements_per_building():
    notice = a_notice(building_ids=(10, 11), acknowledged={10: 3, 11: 1})
    d = captain_says("回执", CommandData(facts={"notices": [notice], "scheduled": 1}))
    assert d.outcome == "answered" and not d.acknowledgements
    [answer] = d.sends
    said = answer.render(None)
    assert "3号楼：3 人" in said and "5号楼：1 人" in said and "已有 4 位居民" in said
    assert "明天停水，咨询 13912345678" in said and "1 条定时通知" in said
    assert "此前的通知" not in said


def test_receipts_count_the_notices_before_the_latest_a_line_each():
    latest = a_notice(id=9, text="周六上午检查消防设施", acknowledged={10: 2})
    before = a_notice(id=7, sent_at=NOW - timedelta(days=2), acknowledged={10: 5, 11: 1})
    d = captain_says("回执", CommandData(facts={"notices": [latest, before], "scheduled": 0}))
    assert d.sends[0].render(None) == (
        "您 11-22 14:00 发出的通知“周六上午检查消防设施”，已有 2 位居民回复收到：\n3号楼：2 人\n"
        "此前的通知（“收到”只计入最新一条）：\n11-20 16:00“明天停水，咨询 139123…”：6 人")


def test_receipts_before_any_notice():
    d = captain_says("回执", CommandData(facts={"notices": [], "scheduled": 0}))
    assert d.outcome == "answered" and "还没有发出过" in d.sends[0].render(None)


@pytest.mark.parametrize("who", [ctx("回执"), staff_ctx("回执", WORKER, "zhangwg")])
def test_only_a_captain_sees_receipts(who):
    d = handle_command(who, parse_command("回执"),
                       CommandData(facts={"notices": [a_notice(acknowledged={10: 3})]}))
    assert d.outcome == "refused"
    assert "楼组长" in d.sends[0].render(None) and "3 人" not in d.sends[0].render(None)


def test_every_notice_reason_is_chinese():
    decisions = [
        captain_says("通知 明天停水"), captain_says("通知 12-01 08:00 停水"),
        captain_says("通知 11-22 09:00 停水"), resident_acks(a_notice()),
        resident_acks(a_notice(), acknowledged=True), resident_acks(None),
        captain_says("回执", CommandData(facts={"notices": [a_notice(acknowledged={10: 2})]})),
        timer_fires(a_notice(status="scheduled", send_at=at_beijing(12, 1, 8), sent_at=None)),
        timer_fires(a_notice()),
    ]
    for d in decisions:
        assert d.reason and not re.search(r"[A-Za-z_]", d.reason), d.reason
