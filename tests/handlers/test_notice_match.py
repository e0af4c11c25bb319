"""The scorer behind answers from notices, piece by piece: what is a question, the days a
text names, what a question is about, and why a notice does or does not answer it. (Its
figures on the labelled sets are in tests/nlu/test_notice_questions.py.)"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest

from domain.notices import SHANGHAI
from handlers.notice_match import (
    ANSWER_WINDOW,
    THRESHOLD,
    best_answer,
    days_named,
    is_question,
    rank,
    read_question,
)


def beijing(month: int, day: int, hour: int = 20, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


@dataclass(frozen=True)
class Notice:
    id: int
    text: str
    sent_at: datetime | None


# Monday 2026-03-09, 20:00 in Beijing.
MONDAY = beijing(3, 9)
WATER = Notice(1, "因管道维修，明天（3月10日）上午8点到下午5点停水，请提前储水。", beijing(3, 9, 18))
MEETING = Notice(2, "3月12日（周四）晚上7点在居委会二楼会议室开业主大会，讨论加装电梯。", beijing(3, 9, 9))


@pytest.mark.parametrize("text", [
    "明天停水到几点？", "电梯几点恢复", "开会在哪里", "明天停水吗", "星期三停不停电",
    "停水是为啥", "明朝要停水伐", "物业费多少钱", "体检要带什么证件？",
])
def test_questions(text):
    assert is_question(text)


@pytest.mark.parametrize("text", [
    "收到", "好的，谢谢楼长", "明天停水", "大家记得提前存水哦", "报警器免费装，划算",
    "请带上身份证",
])
def test_not_questions(text):
    assert not is_question(text)


def test_days_a_text_names():
    monday = date(2026, 3, 9)
    assert days_named("明天停水", monday) == [date(2026, 3, 10)]
    assert days_named("周六开会", monday) == [date(2026, 3, 14)]
    assert days_named("下周一", monday) == [date(2026, 3, 16)]
    assert days_named("本周三到周五（3月11日—13日）", monday) == [
        date(2026, 3, 11), date(2026, 3, 13), date(2026, 3, 11), date(2026, 3, 13)]
    assert days_named("3号楼2号梯", monday) == []  # a building and a lift, not days
    assert days_named("1月2日", date(2026, 12, 30)) == [date(2027, 1, 2)]  # the nearest year
    assert days_named("从本周起", monday) == [monday, date(2026, 3, 15)]


def test_what_a_question_is_about():
    question = read_question("楼长，停水期间能不能用洗衣机？", MONDAY)
    assert question is not None
    assert question.topics == {"停水"} and question.segments == ("洗衣机",)
    assert [a.name for a in question.aspects] == []
    when = read_question("今天停水到几点啊，等着洗衣服呢", MONDAY)
    # Only the clause that asks brings words a notice must hold.
    assert when.segments == () and {a.name for a in when.aspects} >= {"时间", "时长或结束时间"}
    assert when.days == (date(2026, 3, 9),)
    assert read_question("收到", MONDAY) is None


def test_a_notice_that_answers_scores_one_and_says_why():
    [best, other] = rank("明天停水到几点？", MONDAY, [MEETING, WATER]).scores
    assert best.notice_id == 1 and best.score == 1.0 and best.topics_found == ("停水",)
    assert best.explain() == "主题 停水✓，得分 1.00"
    assert other.score == 0.0
    assert best_answer("明天停水到几点？", MONDAY, [MEETING, WATER]).notice_id == 1


@pytest.mark.parametrize("text, score, why", [
    ("明天停电吗", 0.0, "主题 停电✗"),
    ("停水期间能不能用洗衣机", 0.5, "洗衣机✗"),
    ("后天还停水吗", 0.0, "问的是03月11日，通知说的是03月10日"),
    ("停水要收费吗", 0.0, "问的是费用，通知没有写"),
    ("明天停水去哪里接水", 0.0, "问的是地点，通知没有写"),
    ("去年停水是几号", 0.0, "问的是以前的事"),
    ("水管又坏了什么时候修", 0.0, "说的是故障（又坏）"),
    ("几点开始？", 0.0, "问题没有说是哪件事"),
])
def test_why_a_notice_does_not_answer(text, score, why):
    best = next(s for s in rank(text, MONDAY, [WATER]).scores)
    assert best.score == score and why in best.explain()
    assert best_answer(text, MONDAY, [WATER]) is None


def test_a_notice_answers_until_its_days_are_over_and_at_most_a_week():
    assert best_answer("停水到几点", beijing(3, 10, 9), [WATER]) is not None
    # The day after its last day, a question naming no day is about a new matter.
    over = rank("停水到几点", beijing(3, 11, 9), [WATER]).best
    assert over.score == 0 and "已经过去" in over.blocked
    # A notice naming no day speaks of the day it was sent.
    now = Notice(3, "地下室水管爆了，正在抢修，现在停水，预计晚上8点恢复。", beijing(3, 9, 15))
    assert best_answer("水什么时候来", beijing(3, 9, 16), [now]) is not None
    assert best_answer("水什么时候来", beijing(3, 10, 9), [now]) is None
    # Meetings are announced days ahead; a week is the most.
    later = Notice(4, "3月20日（周五）晚上7点开楼组会。", beijing(3, 9, 9))
    assert best_answer("楼组会几点开", beijing(3, 15, 9), [later]) is not None
    assert best_answer("楼组会几点开", MONDAY + ANSWER_WINDOW + timedelta(hours=1),
                       [later]) is None
    assert best_answer("明天停水到几点", MONDAY, [Notice(5, WATER.text, None)]) is None


def test_a_question_about_another_time_of_a_day_the_notice_speaks_of_is_answered():
    # "明天下午电梯能用吗" after a notice of 9-11点: the notice tells.
    lift = Notice(6, "明天上午9点到11点电梯维保，请走楼梯。", beijing(3, 9, 17))
    assert best_answer("明天下午电梯能用吗", MONDAY, [lift]) is not None


def test_between_two_notices_the_one_on_the_topic_answers():
    gas = Notice(7, "明天下午1点到5点燃气管道改造，全楼停气。", beijing(3, 9, 18))
    lift = Notice(8, "明天上午9点到11点电梯维保，请走楼梯。", beijing(3, 9, 17))
    assert best_answer("明天几点停气？", MONDAY, [lift, gas]).notice_id == 7
    assert best_answer("明天电梯几点停？", MONDAY, [lift, gas]).notice_id == 8
    assert best_answer("明天几点停？", MONDAY, [lift, gas]) is None


def test_the_threshold_is_between_the_scores_of_one_missing_word():
    # One word of two the notice lacks scores 2/3; none lacking, 1.
    assert 2 / 3 < THRESHOLD <= 1.0
