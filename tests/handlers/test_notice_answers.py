"""Answers from notices without a server: a resident's question a recent notice of the
building answers is answered with the notice's words, cited; a near miss, chatter, another
building's or an old notice, and a matter are not."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from domain.decisions import ToGroup
from domain.notices import NoticeStatus, NoticeView
from handlers import handle_message
from handlers.messages import MENTION_THRESHOLD, TICKET_INTENTS
from handlers.notice_answers import MATTER_BAR, MATTER_INTENTS, look_up, wants_notices
from handlers.notice_match import THRESHOLD
from tests.handlers.support import CAPTAIN, NOW, ctx, nlu

# NOW is 2026-11-22 16:00 in Beijing. The captain's notices of 3号楼 (building 10).
WATER = NoticeView(
    id=7, captain_id=CAPTAIN, text="因管道维修，今天下午5点到晚上10点停水，请提前储水，有事联系 13912345678",
    send_at=NOW - timedelta(hours=2), status=NoticeStatus.SENT, building_ids=(10,),
    group_ids=(100, 101), created_at=NOW - timedelta(hours=2), sent_at=NOW - timedelta(hours=2))
LIFT = NoticeView(
    id=8, captain_id=CAPTAIN, text="明天上午9点到11点电梯保养，请走楼梯。",
    send_at=NOW - timedelta(hours=1), status=NoticeStatus.SENT, building_ids=(10,),
    group_ids=(100, 101), created_at=NOW - timedelta(hours=1), sent_at=NOW - timedelta(hours=1))


def none(confidence: float = 0.95, runner_up: tuple[str, float] | None = None) -> dict:
    ranking = [{"name": "none", "confidence": confidence}]
    if runner_up is not None:
        ranking.append({"name": runner_up[0], "confidence": runner_up[1]})
    return nlu("none", confidence, ranking=ranking)


def ask(text: str, notices=(WATER, LIFT), understood: dict | None = None, **where):
    return handle_message(ctx(text, **where), understood or none(), (), notices)


def test_a_question_is_answered_with_the_notice_words_cited_to_the_resident():
    decision = ask("今天停水到几点？")
    assert decision.outcome == "notice_answered"
    [send] = decision.sends
    assert send.to == ToGroup(100, ("wxid_res1",)) and send.notice_id == 7
    assert send.render(None) == (
        "@王阿姨 根据3号楼11月22日的通知（14:00发布）：因管道维修，今天下午5点到晚上10点停水，"
        "请提前储水，有事联系 13912345678")
    assert "#7" in decision.reason and "得分 1.00" in decision.reason and "王阿姨" in decision.reason
    assert decision.create is None and not decision.changes and decision.review is None


@pytest.mark.parametrize("text, notice", [
    ("今天停水到几点？", 7), ("水什么时候来啊", 7), ("为啥停水", 7), ("停水找谁", 7),
    ("明天电梯几点能用？", 8), ("电梯保养要多久", 8), ("明天上午电梯能坐吗", 8),
])
def test_the_notice_that_answers_is_the_one_cited(text, notice):
    decision = ask(text)
    assert decision.outcome == "notice_answered", decision.reason
    assert decision.sends[0].notice_id == notice


@pytest.mark.parametrize("text, why", [
    ("今天停电到几点？", "停电✗"),                   # another facility
    ("停水期间能用洗衣机吗", "洗衣机✗"),            # what the notice does not say
    ("明天还停水吗？", "问的是11月23日"),           # another day
    ("停水要收费吗", "问的是费用，通知没有写"),
    ("电梯保养在哪集合", "问的是地点，通知没有写"),
    ("上次停水是几号", "问的是以前的事"),
])
def test_a_near_miss_gets_nothing_and_the_reason_names_the_closest_notice(text, why):
    decision = ask(text)
    assert decision.outcome == "ignored" and decision.sends == []
    assert "最接近的是3号楼11月22日的楼组通知" in decision.reason and why in decision.reason
    assert f"不到 {THRESHOLD:.2f}，不回答" in decision.reason


@pytest.mark.parametrize("text", ["收到", "好的，谢谢楼长", "又停水，真麻烦", "今天停水"])
def test_chatter_is_never_answered(text):
    decision = ask(text)
    assert decision.outcome == "ignored" and decision.sends == []
    assert "通知" not in decision.reason


def test_a_notice_of_another_building_an_old_one_or_one_not_sent_answers_nothing():
    elsewhere = replace(WATER, building_ids=(11,))
    old = replace(WATER, sent_at=NOW - timedelta(days=8), text="下周二停水，请提前储水")
    scheduled = replace(WATER, status=NoticeStatus.SCHEDULED, sent_at=None)
    for notices in ([elsewhere], [old], [scheduled]):
        decision = ask("今天停水到几点？", notices)
        assert decision.outcome == "ignored" and decision.sends == [], notices
    assert "不在最近7天内" in ask("停水到几点？", [old]).reason


def test_a_question_in_a_group_of_another_building_is_not_answered_from_this_ones_notice():
    decision = ask("今天停水到几点？", chat_id="b5@chatroom")
    assert decision.outcome == "ignored" and decision.sends == []


def test_a_question_that_is_also_a_matter_is_a_matter_as_before():
    ticket = ask("电梯坏了几天了什么时候修", understood=nlu("repair_request", 0.97))
    assert ticket.outcome == "ticket_created"
    # The model unsure between none and a repair: not answered from the notice, and not a
    # ticket either (as before: chatter to the model).
    unsure = ask("电梯又坏了什么时候修好？", understood=none(0.55, ("repair_request", 0.45)))
    assert unsure.outcome == "ignored" and unsure.sends == []
    # Fault words alone keep it from the notice, whatever the model says.
    faulty = ask("明天电梯又坏了吗", understood=none(0.99))
    assert faulty.outcome == "ignored" and "故障" in faulty.reason


def test_addressing_gridbot_with_a_question_gets_the_notice_or_else_the_help():
    answered = ask("@gridbot 今天停水到几点", mentions=True)
    assert answered.outcome == "notice_answered"
    assert answered.sends[0].render(None).startswith("@王阿姨 根据3号楼11月22日的通知")
    helped = ask("@gridbot 今天停电吗", mentions=True)
    assert helped.outcome == "help" and "最接近的是" in helped.reason


def test_one_to_one_and_no_notices_change_nothing():
    direct = ask("今天停水到几点？", chat_id=None, channel="wechat", sender="openid1")
    assert direct.outcome == "help"
    assert ask("今天停水到几点？", notices=()).outcome == "ignored"


def test_what_the_shell_reads_notices_for():
    assert wants_notices(ctx("今天停水到几点？"), none())
    assert wants_notices(ctx("@gridbot 电梯几点好", mentions=True), none())
    assert not wants_notices(ctx("收到，谢谢"), none())  # not a question
    assert not wants_notices(ctx("今天停水到几点？", chat_id=None, channel="wechat"), none())
    assert not wants_notices(ctx("电梯坏了什么时候修"), nlu("repair_request"))
    assert not wants_notices(ctx("电梯又坏了什么时候修好"), none(0.55, ("repair_request", 0.45)))


def test_the_matter_bar_is_the_mention_bar():
    assert MATTER_BAR == MENTION_THRESHOLD and tuple(MATTER_INTENTS) == tuple(TICKET_INTENTS)


def test_look_up_says_nothing_without_a_group():
    assert look_up(ctx("今天停水到几点？", chat_id=None), none(), [WATER]).answer is None


def test_a_question_in_traditional_characters_is_read_as_the_shell_simplified_it():
    written = "電梯保養要多久？"
    assert ask(written).outcome == "ignored"  # unread, 電梯 is not 电梯
    decision = ask(written, understood={**none(), "read_as": "电梯保养要多久？"})
    assert decision.outcome == "notice_answered" and decision.sends[0].notice_id == 8
