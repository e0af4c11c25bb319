"""When a captain's notice goes out: read from the front of what follows 通知.

    通知 明天停水                   now
    通知 12-01 08:00 明天停水       at 08:00 on 1 December (Beijing time)
    通知 2026-12-01 08:00 …         with the year
    通知 定时 12月1日 8:00 …        12月1号 8点 / 8点半 / 8点30分, after 定时
    通知 定时 明天 08:00 …          今天, 明天, 后天, 今晚, 明早, 明晚; 上午, 下午, 晚上 …

A schedule is a date in digits (or, after 定时, a day in words) and a time, then a space or
a punctuation mark, then the text. A day in words without 定时 says when the matter is, not
when to send: "通知 今晚8点 小区停电检修" warns now of tonight's power cut (sent at eight it
would come as the lights go out, the time cut from it). "通知 明天8点开会" is sent now,
and so is a time that starts a range ("通知 12-01 9:00-12:00 停水"). After a date written
with digits ("12-01 08:00停水") the space may be left out. A day or time that does not
exist ("13-01", "25:00"), a date in digits followed by a time gridbot cannot read ("12-01
8.00 停水"), a moment already past or more than a year ahead, a schedule without text, and
定时 without a time, with a range or without a space after a day in words get a usage
answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.notices import SCHEDULE_HORIZON, SHANGHAI


@dataclass(frozen=True, slots=True)
class SendNow:
    text: str


@dataclass(frozen=True, slots=True)
class SendAt:
    at: datetime  # aware, UTC
    text: str


@dataclass(frozen=True, slots=True)
class Unreadable:
    why: str  # in the captain's words: what was wrong with the time


NoticeTiming = SendNow | SendAt | Unreadable

# Full-width digits and date marks read as ASCII, one character for one, so positions stay.
_DIGITS = str.maketrans("０１２３４５６７８９－／", "0123456789-/")

_RELATIVE_DAYS = {"今天": (0, None), "今日": (0, None), "明天": (1, None), "明日": (1, None),
                  "后天": (2, None), "今晚": (0, "晚上"), "明早": (1, "早上"),
                  "明晚": (1, "晚上")}
_DATE = (r"(?:(?P<year>\d{4})\s*(?:[-/]|年)\s*)?(?P<month>\d{1,2})\s*(?P<mark>[-/]|月)\s*"
         r"(?P<day>\d{1,2})(?:\s*[日号])?")
_RELATIVE = "(?P<relative>" + "|".join(_RELATIVE_DAYS) + ")"
_PART = r"(?P<part>凌晨|早上|早晨|上午|中午|下午|傍晚|晚上)?"
_TIME = (r"(?P<hour>\d{1,2})\s*(?:[:：]\s*(?P<minute>\d{2})"
         r"|点(?:(?P<half>半)|(?P<minutes>\d{1,2})分?)?)")
_WHEN = re.compile(rf"^(?:{_DATE}|{_RELATIVE})\s*{_PART}\s*{_TIME}", re.S)
_SEPARATOR = re.compile(r"^(?:\s+|\s*[，,：:、。；;！!]\s*)")
# "12-01 8.00 …": a date in digits, then something like a time gridbot cannot read.
_NUMERIC_DATE_THEN_DIGIT = re.compile(r"^(?:\d{4}[-/])?\d{1,2}[-/]\d{1,2}\s+\d")
# A time that starts a range ("9:00-12:00", "8点至10点") describes the matter.
_RANGE = re.compile(r"^\s*(?:[-~～—–－]|至|到)")
_EVENING = ("下午", "傍晚", "晚上")
# "通知 定时 明天 08:00 …": a day in words read as when to send.
_SCHEDULED = re.compile(r"^定时\s*[:：]?\s*")


def read_notice(arg: str, now: datetime) -> NoticeTiming:
    """What `通知 {arg}` asks for, at `now` (aware)."""
    arg = arg.strip()
    asked = _SCHEDULED.match(arg)
    body = arg[asked.end():] if asked else arg
    folded = body.translate(_DIGITS)
    when = _WHEN.match(folded)
    if when is None:
        if _NUMERIC_DATE_THEN_DIGIT.match(folded):
            return Unreadable("时间请写成 08:00 或 8点")
        if asked:
            return Unreadable("定时后面先写时间，例如：通知 定时 明天 08:00 内容")
        return SendNow(arg)
    rest = body[when.end():]
    separator = _SEPARATOR.match(rest)
    numeric = when.group("mark") not in (None, "月")
    if not numeric and not asked:
        return SendNow(arg)  # "今晚8点 停电检修": when the matter is, told now
    if separator is None and rest and not numeric:  # "定时 明天8点开会"
        return Unreadable("时间后面空一格再写通知内容")
    text = rest[separator.end():] if separator else rest
    if _RANGE.match(rest) or _RANGE.match(text):
        if asked:
            return Unreadable("定时写一个时刻，例如 08:00，不是一段时间")
        return SendNow(arg)
    if not text.strip():
        return Unreadable("时间后面要写通知内容")
    at = _moment(when, now)
    if isinstance(at, Unreadable):
        return at
    if at <= now:
        return Unreadable(f"{beijing(at)} 已经过去了")
    if at - now > SCHEDULE_HORIZON:
        return Unreadable("定时通知最多提前一年")
    return SendAt(at, text.strip())


def _moment(when: re.Match[str], now: datetime) -> datetime | Unreadable:
    local_now = now.astimezone(SHANGHAI)
    part = when.group("part")
    if when.group("relative"):
        days, implied = _RELATIVE_DAYS[when.group("relative")]
        day = (local_now + timedelta(days=days)).date()
        year, month, date_of_month = day.year, day.month, day.day
        part = part or implied
    else:
        year = int(when.group("year")) if when.group("year") else local_now.year
        month, date_of_month = int(when.group("month")), int(when.group("day"))
    hour = int(when.group("hour"))
    minute = 30 if when.group("half") else int(when.group("minute") or when.group("minutes") or 0)
    if part in _EVENING and 1 <= hour < 12:
        hour += 12
    elif part == "中午" and 1 <= hour <= 2:
        hour += 12
    try:
        at = datetime(year, month, date_of_month, hour, minute, tzinfo=SHANGHAI)
    except ValueError:
        return Unreadable("没有这个日期或时间")
    if not when.group("year") and not when.group("relative") and at < local_now - timedelta(days=31):
        # "01-05" written in late December is next January.
        try:
            at = at.replace(year=at.year + 1)
        except ValueError:  # 29 February
            return Unreadable("没有这个日期或时间")
    return at.astimezone(now.tzinfo)


def beijing(at: datetime) -> str:
    """A send time as captains read it, in Beijing time: 12-01 08:00."""
    return at.astimezone(SHANGHAI).strftime("%m-%d %H:%M")
