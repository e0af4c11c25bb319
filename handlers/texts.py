"""Everything gridbot says, in the residents' and staff's language.

Templates are formatted with `str.format`; `{id}` is the ticket id. Values that come from
residents go in as parameters, never into the template itself.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from domain.decisions import Message

CATEGORY_NAMES = {"repair": "报修", "complaint": "投诉", "wish": "微心愿", "dispute": "矛盾纠纷"}
STATUS_NAMES = {
    "new": "待接单",
    "accepted": "已接单",
    "in_progress": "处理中",
    "resolved": "已办结待评价",
    "closed": "已关闭",
    "reopened": "已重新打开",
    "cancelled": "已取消",
}
URGENCY_NAMES = {"emergency": "紧急", "normal": "一般"}
TIER_NAMES = {"micro": "楼内微纠纷", "small": "邻里小纠纷", "medium": "中等纠纷", "big": "重大纠纷"}
FACILITY_NAMES = {
    "lift": "电梯",
    "light": "照明",
    "door": "门/门禁",
    "intercom": "对讲",
    "water_pipe": "水管",
    "drain": "下水道",
    "roof": "屋顶/渗漏",
    "power": "供电",
    "gas": "燃气",
    "camera": "监控",
    "road": "道路",
    "barrier": "道闸",
    "fire_equipment": "消防设施",
    "manhole": "井盖",
    "street_light": "路灯",
}

# Phone and ID numbers as people write them: digit groups (ASCII, full-width, or Chinese
# numerals said aloud and transcribed: 一三八 零零一三…) joined by spaces, dashes or dots, an
# area code in brackets, a +86 / 0086 / (86) prefix in front, an X closing an ID number.
_SPOKEN_DIGITS = "〇零一幺二两三四五六七八九"
_DIGIT = f"0-9０-９{_SPOKEN_DIGITS}"
_SPACE = " \u00a0\u2005\u3000"
_JOIN = rf"(?:[{_SPACE}]{{0,2}}[-.‐‑–—−－．·・][{_SPACE}]{{0,2}}|[{_SPACE}]{{1,2}})"
_GROUP = rf"(?:[(（][{_DIGIT}]+[)）]|[{_DIGIT}]+)"
_COUNTRY = (rf"(?:[+＋]|00|００)[{_SPACE}]?(?:86|８６)"
            rf"|[(（][{_SPACE}]?(?:[+＋]|00|００)?(?:86|８６)[{_SPACE}]?[)）]")
_X = r"(?P<x>[XxＸｘ](?![0-9A-Za-z０-９]))?"
_RUN = re.compile(rf"(?:(?P<country>{_COUNTRY}){_JOIN}?)?{_GROUP}(?:{_JOIN}?{_GROUP})*{_X}")
_GROUP_RE = re.compile(_GROUP)
# Where a run may be: a stretch of the characters _RUN is made of. It starts with a character
# class, which re skips to quickly, so a text without numbers costs next to nothing.
_STRETCH = re.compile(rf"[+＋(（{_DIGIT}][{_DIGIT}{_SPACE}()（）+＋\-.‐‑–—−－．·・]*{_X}")
_SPOKEN = frozenset(_SPOKEN_DIGITS)
_AS_DIGIT = str.maketrans("０１２３４５６７８９〇零一幺二两三四五六七八九xＸｘ",
                          "01234567890011223456789XXX")
# A bare local number (no area code) counts only right after a word that announces a number.
_PHONE_WORD = re.compile(
    r"(?:电话|座机|固话|手机|手机号|号码|热线|联系方式|联系|打|拨|致电|tel|phone)"
    r"[\s:：是为]{0,3}$", re.IGNORECASE)
# An old 15-digit ID number (or one of 18 with a date that does not parse) only after 身份证.
_ID_WORD = re.compile(r"(?:身份证|证件)(?:号码|号)?[\s:：是为]{0,3}$")
# 18-digit ID number: province, county, birth date YYYYMMDD, sequence, check digit or X.
_ID = re.compile(r"(?:1[1-5]|2[1-3]|3[1-7]|4[1-6]|5[0-4]|6[1-5]|71|8[1-3])\d{4}"
                 r"(?:19|20)\d\d(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dX]")


def _area_length(national: str) -> int:
    """010 and 02x are three digits long, every other area code four (with its 0)."""
    return 3 if national.startswith(("010", "02")) else 4


_MOBILE = re.compile(r"1[3-9]\d{9}")
_MOBILE_86 = re.compile(r"861[3-9]\d{9}")


def _phone_kept(national: str, groups: list[int], *, country: bool, announced: bool,
                id_announced: bool) -> tuple[int, int] | None:
    """How many leading and trailing digits of ``national`` (ASCII digits, an ID number's
    X) stay visible when it is a phone or ID number; None when it is neither. ``groups``
    are the lengths of the digit groups it was written in."""
    if min(groups) < 2:
        return None
    n = len(national)
    if n == 18 and (id_announced or _ID.fullmatch(national)) or n == 15 and id_announced:
        return 6, 4  # ID number: 310101********1234
    if n == 11 and _MOBILE.fullmatch(national):
        return 3, 4  # mobile: 139****1111
    if n == 13 and _MOBILE_86.fullmatch(national):
        return 5, 4  # 86 run into the mobile number: 86139****1111
    if n == 10 and national.startswith(("400", "800")):
        return 3, 0  # service number: 400*******
    if national.startswith("0"):
        area = _area_length(national)
        if 7 <= n - area <= 8 and national[area] != "0":
            return area, 0  # landline: the area code stays
    if country and national[0] != "0":
        area = _area_length("0" + national) - 1
        if 7 <= n - area <= 8 and national[area] != "0":
            return area, 0
    if announced and 7 <= n <= 8 and national[0] != "0" and min(groups) >= 3:
        return 0, 0  # a local number right after 电话/座机…
    return None


def _hidden(text: str, spans: list[tuple[int, int]], x: int, *, first: bool, last: bool,
            country: bool, announced: bool, id_announced: bool) -> list[int] | None:
    """Positions of the digits to hide when the digit groups ``spans`` of ``text`` are a
    phone or ID number, else None. ``x`` is the position of an X right after the last
    group (-1 if none); ``first`` and ``last`` say the groups start and end the run.

    A numeral said aloud at either end of a run may belong to the words around it rather
    than to the number (电话一三八零零一三八零零零一直没人接, 周一13912345678): the number is
    also tried without it."""
    if min([b - a for a, b in spans]) < 2:
        return None  # a one-digit group is not part of a number; leaving one out never helps
    for lead in (0, 1):
        if lead and not (first and text[spans[0][0]] in _SPOKEN):
            break
        for trail in (0, 1):
            if trail and not (last and text[spans[-1][1] - 1] in _SPOKEN):
                break
            chosen = spans
            if lead or trail:
                chosen = spans.copy()
                chosen[0] = (chosen[0][0] + lead, chosen[0][1])
                chosen[-1] = (chosen[-1][0], chosen[-1][1] - trail)
            national = "".join([text[a:b] for a, b in chosen])
            closed = x >= 0 and not trail and len(national) == 17
            if closed:
                national += text[x]
            kept = _phone_kept(national.translate(_AS_DIGIT), [b - a for a, b in chosen],
                               country=country and not lead,
                               announced=announced and not lead,
                               id_announced=id_announced and not lead)
            if kept is not None:
                digits = [k for a, b in chosen for k in range(a, b)]
                if closed:
                    digits.append(x)
                head, tail = kept
                return digits[head:len(digits) - tail]
    return None


def _hidden_in_run(text: str, run: re.Match[str], announced: bool, id_announced: bool
                   ) -> list[int]:
    start = run.end("country") if run.group("country") else run.start()
    # Each group's digits: all of it, or inside its brackets.
    spans = [(a + 1, b - 1) if text[a] in "(（" else (a, b)
             for a, b in (group.span() for group in _GROUP_RE.finditer(text, start, run.end()))]
    x = run.start("x")
    hidden: list[int] = []
    i = 0
    while i < len(spans):
        # A phone number has at most five groups of two digits or more.
        for j in range(min(len(spans), i + 5), i, -1):
            found = _hidden(text, spans[i:j], x if j == len(spans) else -1,
                            first=i == 0 and start == run.start(), last=j == len(spans),
                            country=i == 0 and start > run.start(),
                            announced=i == 0 and announced,
                            id_announced=i == 0 and id_announced)
            if found is not None:
                hidden += found
                i = j
                break
        else:
            i += 1
    return hidden


def mask_phones(text: str) -> str:
    """Hide phone and ID numbers before anything a person wrote is shown in a group.

    Masked: mobile numbers (first three and last four digits stay: 139****1111), landlines
    (the area code stays: 021-********), 400/800 service numbers (400*******), in every way
    people write them: spaces, dashes or dots between groups, full-width digits and
    separators, +86/0086/(86) in front, an area code in brackets; and a bare 7-8 digit local
    number when 电话, 座机, 联系… announce it. The same numbers said aloud and transcribed
    digit by digit in Chinese numerals (一三八零零一三八零零零, 幺 for 1, 两 for 2, 〇 for 0, mixed
    with digits or not) are masked alike, as written: 一三八****八零零零.
    Also masked: resident ID numbers, keeping the first six and last four characters
    (310101********1234): 18 characters (17 digits, then a digit or X) with a province code
    and a birth date where they belong, with or without 身份证 in front; after 身份证 any
    18-digit number and the old 15-digit ones too.
    Not masked: anything that is not shaped like one of those — ticket ids (#128), dates
    (2026-11-28, 二〇二六年), times, rooms (1502室), amounts (3000元), building numbers,
    numbers in words (七百四十, 三号楼), short service numbers (110, 12345, 95598), six-digit
    codes, and digits inside longer numbers (order and card numbers are not cut into a phone
    or ID number).
    """
    hidden: list[int] = []
    for stretch in _STRETCH.finditer(text):
        if stretch.end() - stretch.start() < 7:
            continue  # too short for any number that is masked
        for run in _RUN.finditer(text, stretch.start(), stretch.end()):
            if run.end() - run.start() >= 7:
                before = max(0, run.start() - 8)
                hidden += _hidden_in_run(
                    text, run, _PHONE_WORD.search(text, before, run.start()) is not None,
                    _ID_WORD.search(text, before, run.start()) is not None)
    if not hidden:
        return text
    shown = list(text)
    for position in hidden:
        shown[position] = "*"
    return "".join(shown)


# gridbot's own names, as residents @-mention it in a group.
BOT_NAMES = ("gridbot", "网格小助手")
_LEADING_MENTION = re.compile(r"^\s*[@＠](\S+)\s*")


def words_read(message: Message, nlu: Mapping[str, Any]) -> str:
    """What the sender said as gridbot reads it: in simplified characters (the shell's
    `read_as` of a text in traditional ones, one character for one), without an @-mention
    of gridbot in front."""
    return without_bot_mention(nlu.get("read_as") or message.text, message.mentions_bot)


def without_bot_mention(text: str, addressed: bool = False) -> str:
    """The text without the @-mention of gridbot in front ("@gridbot 3号楼电梯坏了").

    When the channel says the message @-mentioned gridbot (``addressed``), its first leading
    mention is gridbot whatever the group calls it."""
    first = True
    while (mention := _LEADING_MENTION.match(text)) is not None:
        if mention.group(1).lower() not in BOT_NAMES and not (addressed and first):
            break
        text, first = text[mention.end():], False
    return text


def place(location: str | None, building_number: str | None) -> str:
    """Where a ticket is, as staff read it: its location, else its building, else 未注明."""
    return location or (f"{building_number}号楼" if building_number else "未注明")


def remark(words: str, form: str) -> str:
    """What someone added after a ticket's number (`form` with the words, up to 200
    characters), or nothing when they added nothing."""
    return form.format(words=excerpt(words, 200)) if words.strip() else ""


def excerpt(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def when(dt: object) -> str:
    """A deadline as staff read it: month-day hour:minute, Beijing time."""
    from datetime import datetime, timedelta, timezone

    if not isinstance(dt, datetime):
        return "—"
    return dt.astimezone(timezone(timedelta(hours=8))).strftime("%m-%d %H:%M")


def status_line(ticket_id: int, category: str, status: str, building: str | None,
                assignee: str | None, deadline: str | None) -> str:
    """One ticket in a list or a 查询 answer: fields that have nothing to say are left out."""
    fields = [f"#{ticket_id} {CATEGORY_NAMES.get(category, category)}",
              STATUS_NAMES.get(status, status), building, assignee, deadline]
    return "｜".join(field for field in fields if field)


# Replies into the building group ------------------------------------------------

# How gridbot acknowledges each kind of matter.
RECEIVED = {
    "repair": "已收到您的报修",
    "complaint": "已收到您的投诉",
    "dispute": "已收到您反映的矛盾纠纷",
    # Someone collapsed or hurt: an emergency call for help, for the grid worker at once.
    "wish": "已收到您的求助",
}
# How a message to residents starts: it @-mentions them (left out where no name is known).
MENTION = "@{reporter} "
# An emergency's acknowledgement: dispatched first, and whom to call meanwhile.
EMERGENCY_NOTE = "（紧急，已优先派单；情况危急请先拨打 119 火警、120 急救或 110 报警）"
#: People in danger now: what to do first, said before anything about the ticket.
DANGER_FIRST = {
    "trapped": "请不要强行扒门，被困在电梯里请按警铃等待救援，情况危急请拨打 119！",
    "fire": "请立即拨打 119 火警，并尽快离开！",
    "gas": "请不要开关电器、不要点火，打开门窗后离开，并拨打 119 或燃气抢修电话！",
    "medical": "请立即拨打 120 急救！",
    "violence": "请立即拨打 110 报警，注意自身安全！",
    "self_harm": "请立即拨打 110 或 120，尽量有人陪在身边！",
}
#: After what to do first: the ticket, whatever its category.
DANGER_RECEIVED = "已收到并紧急派单"
#: A big dispute (violence, threats, police, many households): what to do while it waits.
BIG_DISPUTE_NOTE = "（如有人身危险，请先拨打 110 报警）"
TICKET_CREATED = (
    "@{reporter} {received}，工单 #{id}{urgency_note}。"
    "{handler}，{deadline_note}。回复“查询 {id}”可看进度。"
)
HANDED_TO = "已交给{role}{assignee}处理"
HANDLER_PENDING = "正在安排专人处理"
TICKET_FOLLOWED = "@{reporter} 这件事已有工单 #{id}（{status}），已把您加入关注，有进展会一并通知您。"
TICKET_ALREADY_YOURS = "@{reporter} 您反映的这件事已有工单 #{id}（{status}），有进展会通知您；回复“查询 {id}”可看进度。"
WISH_PUBLISHED = (
    "@{reporter} 您的微心愿已登记，工单 #{id}。已发布给本网格志愿者，"
    "志愿者可回复“认领 {id}”。"
)
ASK_BUILDING = "已收到。请告诉我是几号楼（例如“3号楼电梯坏了”），我好派给对应的网格员。"
#: The same question when people are in danger now: whom to call while gridbot waits.
ASK_BUILDING_IN_DANGER = (
    "已收到。情况危急请先拨打 119 火警、120 急救或 110 报警。"
    "请马上告诉我是几号楼（例如“3号楼”），我立即通知网格员。")

ACCEPTED = "@{reporter} 工单 #{id} 已由{role}{actor}接单，正在安排处理。"
PROGRESS = "@{reporter} 工单 #{id} 有新进展：{note}"
RESOLVED = (
    "@{reporter} 工单 #{id} 已办结：{note}\n"
    "请回复“评价 {id} 1-5”打分；如果没有解决，请回复“没修好 {id}”。"
)
# A ticket others follow: they hear it is done, and that its first reporter rates it.
RESOLVED_FOLLOWED = (
    "@{reporter} 工单 #{id} 已办结：{note}\n"
    "请最先反映的居民回复“评价 {id} 1-5”打分；如果没有解决，请回复“没修好 {id}”。"
)
WISH_FULFILLED = (
    "@{reporter} 微心愿 #{id} 已完成：{note}\n"
    "请回复“评价 {id} 1-5”确认并打分。"
)
TRANSFERRED_GROUP = "@{reporter} 工单 #{id} 已转交{assignee}处理。"
ESCALATED_GROUP = "@{reporter} 工单 #{id} 已升级，由{title}{holder}督办。"
CLAIMED = "@{reporter} 微心愿 #{id} 已由志愿者{actor}认领，感谢！"
RATED = "感谢评价！工单 #{id} 已关闭（{stars}）。"
REOPENED = "工单 #{id} 已重新打开，已通知{assignee}尽快处理。"
MY_TICKETS_HEADER = "您的未办结工单（{count}件）：\n{lines}"
MY_TICKETS_NONE = "您目前没有未办结的工单。"

# Pushes to staff ------------------------------------------------------------------

TASK_TITLE = "【{category}·{urgency}】{building} #{id}"
TASK_DESCRIPTION = (
    "<div class=\"gray\">{created}</div>"
    "<div class=\"normal\">{text}</div>"
    "<div class=\"highlight\">地点：{where}</div>"
    "<div class=\"highlight\">接单时限：{accept_due}｜办结时限：{resolve_due}</div>"
    "<div class=\"gray\">回复“接单 {id}”接单，“进展 {id} 内容”更新，“完成 {id} 说明”办结</div>"
)
TASK_TEXT = (
    TASK_TITLE + "\n{text}\n地点：{where}\n接单时限：{accept_due}｜办结时限：{resolve_due}\n"
    "回复“接单 {id}”接单"
)
REOPENED_STAFF = (
    "工单 #{id} 居民反馈没有解决，已重新打开，请尽快处理：{text}{said}\n地点：{where}\n"
    "接单时限：{accept_due}｜办结时限：{resolve_due}\n回复“接单 {id}”接单"
)
REOPENED_DEPARTMENT = "工单 #{id} 居民反馈没有解决，已重新打开，请继续处理：{text}{said}"
TRANSFERRED_PUSH = (
    "{urgent}{actor} 将工单 #{id} 转派给您：{text}\n地点：{where}\n{deadlines}"
)
#: Before a pushed task of an emergency.
URGENT_MARK = "【紧急】"
#: An emergency wish: someone collapsed, for the grid worker at once.
CALL_FOR_HELP = "求助"
# Escalation: the new holder's card says why, what, where and by when.
ESCALATION_TITLE = "【升级督办·{category}】{building} #{id}"
ESCALATION_DESCRIPTION = (
    "<div class=\"highlight\">{why}</div>"
    "<div class=\"normal\">{text}</div>"
    "<div class=\"highlight\">地点：{where}</div>"
    "<div class=\"highlight\">请于 {due} 前{duty}</div>"
    "<div class=\"gray\">回复“接单 {id}”接手，“进展 {id} 内容”更新，“完成 {id} 说明”办结</div>"
)
ESCALATION_TEXT = (
    ESCALATION_TITLE + "\n{why}\n{text}\n地点：{where}\n请于 {due} 前{duty}\n回复“接单 {id}”接手"
)
WHY_OVERDUE_ACCEPT = "超过接单时限（{due}）仍未接单"
WHY_OVERDUE_RESOLVE = "超过办结时限（{due}）仍未办结"
ESCALATED_BY = "{actor}发起升级{said}"
ESCALATED_BY_FOR_HOLDER = "{actor}将工单升级由您督办{said}"
#: What the one who escalates, reopens or cancels a ticket added after its number
#: (`remark`): on the escalation's why, the reopen's push and event, the cancel's notice.
ESCALATE_REMARK = "：{words}"
REOPEN_REMARK = "\n居民补充：{words}"
REOPEN_EVENT = "居民反馈没有解决{said}"
REOPEN_EVENT_REMARK = "：{words}"
CANCEL_REMARK = "（{words}）"
CANCEL_EVENT = "{actor}撤销了工单{said}"
ESCALATED_AWAY = "工单 #{id} 已升级，由{title}{holder}督办。"
# Who holds a ticket after an escalation, as residents and staff read it.
HOLDER_TITLES = {
    "grid_leader": "网格长",
    "district_admin": "居民区负责人",
    "street_admin": "街道",
    "captain": "楼组长",
    "small": "居委会调解员",
    "medium": "第三方调解员",
    "big": "社区解纷员",
}
WISH_TO_VOLUNTEER = "新的微心愿 #{id}（{building}）：{text}\n回复“认领 {id}”认领。"
MY_TASKS_HEADER = "您的待办（{count}件，按时限排序）：\n{lines}"
MY_TASKS_NONE = "您目前没有待办工单。"

# Answers to commands ----------------------------------------------------------------

DONE = "好的，工单 #{id} 已{what}。"
# About a ticket that does not exist: the number as the sender wrote it, not a ticket id.
NOT_FOUND = "没有找到工单 #{number}，请核对编号。"
NOT_ALLOWED = "抱歉，{why}"
NOT_ALLOWED_ABOUT = "抱歉，工单 #{id}：{why}"
# What a group hears of a staff member's note on a dispute, in its place.
DISPUTE_NOTE_IN_GROUP = "调解情况不在群里公开，当事人可私信网格员了解"
WRONG_STATE = "工单 #{id} 目前{status}，不能{what}。"
WISH_CLAIMED_BY_VOLUNTEER = "微心愿 #{id} 已由志愿者{holder}认领，感谢您的热心！"
WISH_TAKEN_BY_STAFF = "微心愿 #{id} 已由{holder}接手处理，感谢您的热心！"
WISH_CLAIMED_BY_YOU = "微心愿 #{id} 您已经认领了，完成后请回复“完成 {id} 说明”。"
USAGE = "格式：{usage}"
COULD_NOT_HANDLE = "抱歉，这条消息暂时没能处理，已转给工作人员查看，请稍后再试或联系楼组长。"

# Voice and pictures (handlers.voice, handlers.photos).
VOICE_UNHEARD = "抱歉，这条语音我没能听清。请打字告诉我，或直接联系楼组长。"
WHY_VOICE_UNHEARD = "语音没有文字转写，对方在和网格小助手说话，请其打字或联系楼组长"
WHY_VOICE_IGNORED = "语音没有文字转写，也不是对网格小助手说的，不回复"
PHOTO_FOR_TICKET = "居民补充了现场照片"
PHOTO_ADOPTED = "附上居民随报告发来的现场照片"
PHOTO_TO_ASSIGNEE_TITLE = "#{id} 居民补充了现场照片"
PHOTO_TO_ASSIGNEE = "工单 #{id} 的报告人发来了现场照片，点「详情」查看。"
# Added to a new ticket's task card when pictures came with the report.
CARD_PICTURES = "\n现场照片 {count} 张，点「详情」查看"
PHOTO_DONE = "处理完成后的现场照片"
PHOTO_DONE_TO_RESIDENTS = "@{reporter} 工单 #{id} 处理人员发来了完成后的照片：{link}"
PHOTO_DONE_LINKS = "\n完成后的照片：{photo_links}"
PHOTO_FAILED = "居民发来的照片未能保存：{why}"
PHOTO_FAILED_STAFF = "照片没能保存（{why}），请重新发送。"
WHY_PHOTO_ATTACHED = "照片，{minutes} 分钟内有其报告 #{ticket}，已附到工单"
WHY_PHOTO_DONE = "工作人员完成工单 #{ticket} 后发来的照片，已附到工单并发给居民"
WHY_PHOTO_WAITING = "照片，{minutes} 分钟内没有其报告，暂存待报告认领，不回复"
WHY_PHOTO_FAILED = "照片未能保存：{why}"
UNKNOWN_PERSON = "没有找到企业微信账号或姓名为 {userid} 的工作人员。可以转派给：{who}"
#: A ticket handler's own words to gridbot on WeCom, read as a report: no ticket from them.
STAFF_TALK = (
    "这条留言没有立单，也没有改动任何工单。网格员发现需要处理的问题，请用“走访 楼号 情况”登记"
    "（例如“走访 3号楼 楼道灯不亮”，会建工单由您负责）；处理工单请用命令：\n"
    "接单 编号｜进展 编号 内容｜完成 编号 说明｜转派 编号 账号｜升级 编号｜我的任务"
)
HELP_STAFF = (
    "可用命令：接单 编号｜进展 编号 内容｜完成 编号 说明｜转派 编号 账号｜升级 编号｜"
    "改类 编号 报修/投诉/微心愿/纠纷/无关｜我的任务｜吹哨 编号 部门（网格长、管理员）｜"
    "报到 编号（被吹哨的部门）｜走访 楼号 情况（网格员）｜本楼工单（楼组长）"
)
HELP_RESIDENT = (
    "您好，我是网格小助手。直接描述问题（例如“5号楼电梯坏了”）即可报修、投诉或提交微心愿；"
    "回复“我的工单”查看进度，“撤销 编号”撤销自己反映的工单。"
)

# Why a decision was taken: shown to staff in the console and the simulator ----------------

INTENT_NAMES = {
    "repair_request": "报修",
    "complaint": "投诉",
    "micro_wish": "微心愿",
    "dispute": "矛盾纠纷",
    "none": "无关",
}


#: What separates a message's clauses.
_CLAUSE_BREAKS = "，,。；;！!？?\n\r\t 　\u2005"


def without_clauses(text: str, clauses: Sequence[str]) -> str:
    """`text` without each of `clauses` and the breaks after it ("电梯坏了，明天义诊在哪里？"
    without "明天义诊在哪里": "电梯坏了"), else as it was."""
    left = text
    for clause in clauses:
        at = left.find(clause)
        if at < 0:
            continue
        end = at + len(clause)
        while end < len(left) and left[end] in _CLAUSE_BREAKS:
            end += 1
        left = left[:at] + left[end:]
    return left.strip(_CLAUSE_BREAKS) or text


def understood(nlu: dict[str, Any], kind: str | None = None) -> str:
    """"识别为报修（置信度 0.97）": the intent, in words staff read, with its confidence."""
    intent = nlu.get("intent") or {}
    name = kind or INTENT_NAMES.get(intent.get("name", "none"), intent.get("name", "none"))
    said = f"识别为{name}（置信度 {float(intent.get('confidence') or 0.0):.2f}）"
    if nlu.get("service_code"):
        model = nlu.get("model_intent") or {}
        said = OPEN311_UNDERSTOOD.format(
            name=name, model=INTENT_NAMES.get(model.get("name", "none"), model.get("name")),
            confidence=float(model.get("confidence") or 0.0))
    if nlu.get("set_aside"):  # 谢谢张师傅修好了水管，另外楼道灯又坏了
        asked = [a["question"] for a in nlu.get("asked") or ()
                 if a["question"] in nlu["set_aside"]]
        thanks = "”“".join(c for c in nlu["set_aside"] if c not in asked)
        aside = ([f"“{thanks}”是道谢或已办好的事"] if thanks else []) + (
            [f"“{'”“'.join(asked)}”是另问的事，从通知中作答"] if asked else [])
        said = f"{'，'.join(aside)}，不算在内；其余的话{said}"
    if nlu.get("mention_override"):
        said += "，因为@了网格小助手，按较低的门槛立单"
    if nlu.get("danger_override"):
        taken = DANGER_TAKEN_FOR.get(intent.get("name", ""), "报修")
        said += f"，但说的是{DANGER_NAMES.get(nlu.get('danger'), '危险')}正在发生，按紧急{taken}立单"
    return said


#: What a message of people in danger now was taken for, as the why says it.
DANGER_TAKEN_FOR = {"repair_request": "报修", "micro_wish": "求助（交网格员）",
                    "dispute": "矛盾纠纷（重大）"}


DANGER_NAMES = {"trapped": "有人被困", "fire": "着火冒烟", "gas": "燃气泄漏",
                "violence": "有人动手或持械", "medical": "有人晕倒或受伤",
                "self_harm": "有人可能轻生"}
WHY_CHATTER = "{understood}，不是需要立单的事，不回复"
WHY_STAFF_TALK = ("{understood}，但这是工作人员在企业微信里的留言，不自动立单"
                  "（发现问题用“走访”登记），回复了用法")
WHY_MADE_EMERGENCY = "；补充说{danger}，工单改为紧急"
WHY_HELP = "{understood}，对网格小助手说话但没有需要立单的事，回复了使用说明"
WHY_ASK_BUILDING = "{understood}，但群不是已登记的楼组群，文字里也没有已知的楼号，已询问几号楼"
WHY_SEVERAL_MATTERS = "一条消息说了{count}件事，每件分别处理。第1件："
WHY_FOLLOWED = "{understood}，{building}已有同类未办结工单 #{ticket}，把反映人加为关注"
WHY_ALREADY_YOURS = "{understood}，{building}已有同类未办结工单 #{ticket}，正是此人反映的，告诉其进度"
WHY_WITHDRAWAL_HINT = "{understood}，说的是不用了，此人的工单 #{ticket} 仍在办：提示用“撤销 {ticket}”撤销"
WHY_PROGRESS_ASKED = "{understood}，但只是在问进度，没说新的事：告诉其自己反映的工单 #{ticket} 的进度"
WHY_PROGRESS_NOTHING = "{understood}，但只是在问进度，没说新的事，此人在这栋楼也没有未办结的工单：不立单，不回复"
WHY_COMMAND = "{actor}发来“{word}”，工单 #{ticket} 已{what}"
WHY_REFUSED = "{actor}发来“{word}”，未执行：{why}"
WHY_NOT_FOUND = "{actor}发来“{word}”，但没有工单 #{number}"
WHY_USAGE = "{actor}发来的“{word}”格式不对，回复了用法"
WHY_QUERY = "{actor}查询工单 #{ticket}，回复了状态"
WHY_LIST = "{actor}查看{what}：{count}件"
WHY_FAILED = "处理失败（{why}），已放弃重试"
WHY_ACTION = "{actor}在管理后台将工单 #{ticket} {what}"
WHY_ACTION_REFUSED = "{actor}在管理后台要将工单 #{ticket} {what}，但工单目前{status}，未执行"
WHY_ESCALATED = "{why}：工单 #{ticket} 升级到第{level}级，由{title}{holder}督办"
WHY_NOBODY_ABOVE = "{why}：工单 #{ticket} 没有更高一级的负责人可以升级"
WHY_DEADLINE_MOVED = "{deadline}已不适用（工单 #{ticket} 已{status}或时限已更新），不处理"


# The street whistles, departments report (吹哨/报到); disputes kept private -----------------

WHISTLE_TITLE = "【吹哨·{category}】{building} #{id}"
WHISTLE_DESCRIPTION = (
    "<div class=\"highlight\">{whistler}吹哨，请{department}报到处理</div>"
    "<div class=\"normal\">{text}</div>"
    "<div class=\"highlight\">地点：{where}</div>"
    "<div class=\"highlight\">请于 {due} 前报到｜办结时限：{resolve_due}</div>"
    "<div class=\"gray\">回复“报到 {id}”报到，“进展 {id} 内容”更新，“完成 {id} 说明”办结</div>"
)
WHISTLE_TEXT = (
    WHISTLE_TITLE + "\n{whistler}吹哨，请{department}报到处理\n{text}\n地点：{where}\n"
    "请于 {due} 前报到｜办结时限：{resolve_due}\n"
    "回复“报到 {id}”报到，“进展 {id} 内容”更新，“完成 {id} 说明”办结"
)
# A department reached only through its robot cannot answer in chat: it reports by phone.
WHISTLE_ROBOT_TEXT = (
    WHISTLE_TITLE + "\n{whistler}吹哨，请{department}报到处理\n{text}\n地点：{where}\n"
    "请于 {due} 前联系{whistler}报到｜办结时限：{resolve_due}"
)
WHISTLED_GROUP = "@{reporter} 工单 #{id} 已吹哨，由{department}报到处理。"
REPORTED_GROUP = "@{reporter} 工单 #{id} {department}已报到，正在处理。"
UNKNOWN_DEPARTMENT = "没有名为“{name}”的部门。本街道可以吹哨的部门：{names}。"
NO_DEPARTMENTS = "本街道还没有登记可以吹哨的部门。"
ALREADY_WHISTLED = "工单 #{id} 已吹哨给{department}，报到时限 {due}。"
ALREADY_HOLDS = "工单 #{id} 已由{holder}负责，无需转派。"
NEXT_STEPS = "回复“进展 {id} 内容”更新进展，“完成 {id} 说明”办结。"
NOTHING_TO_ACCEPT = "工单 #{id} 已在您名下处理中，无需再接单。" + NEXT_STEPS
ALREADY_REPORTED = "工单 #{id} {department}已于 {at} 报到。"
RESPOND_OVERDUE_TITLE = "【吹哨未报到】{building} #{id}"
RESPOND_OVERDUE_DESCRIPTION = (
    "<div class=\"highlight\">{department}超过报到时限（{due}）仍未报到</div>"
    "<div class=\"normal\">{text}</div>"
    "<div class=\"highlight\">地点：{where}</div>"
    "<div class=\"gray\">请督促{department}报到，或回复“吹哨 {id} 部门名称”改派其他部门</div>"
)
RESPOND_OVERDUE_TEXT = (
    RESPOND_OVERDUE_TITLE + "\n{department}超过报到时限（{due}）仍未报到\n{text}\n地点：{where}\n"
    "请督促{department}报到，或回复“吹哨 {id} 部门名称”改派其他部门"
)
WHY_WHISTLED = "{actor}吹哨，交{department}报到处理（{due} 前报到）"
WHY_REPORTED = "{department}报到"
#: The ticket's holder hears of the steps someone else takes on it.
REPORTED_FOR_HOLDER = "工单 #{id} {department}已报到，接手处理。"
WHISTLED_FOR_HOLDER = "工单 #{id} 已由{actor}吹哨交{department}，须于 {due} 前报到。"
RESOLVED_FOR_HOLDER = "工单 #{id} 已由{actor}办结：{note}"
TRANSFERRED_FOR_HOLDER = "工单 #{id} 已由{actor}转派给{assignee}，您不必再处理。"
RATED_FOR_HOLDER = "工单 #{id} 居民评价 {stars} 星{said}"
RATING_REMARK = "：{words}"
WHY_REPORTED_FOR = "{actor}代{department}报到"
WHY_RESPOND_OVERDUE = "{department}超过报到时限（{due}）仍未报到，已告知{told}"
NOBODY_TOLD = "无人（本街道没有登记管理员）"
# A dispute reported in a group: nobody is named or @-mentioned there.
DISPUTE_CREATED_GROUP = (
    "{received}，工单 #{id}{urgency_note}。{handler}，{deadline_note}。"
    "为保护当事人隐私，群里不提姓名；回复“查询 {id}”可看进度。"
)
# How a dispute's party is called where their name would be.
PARTY = "当事人"
# A dispute whistled to a department's robot group: what happened stays out of the group.
DISPUTE_WITHHELD = "（矛盾纠纷，涉及当事人隐私，详情请联系{whistler}）"
TIER_CHANGED = "，调解层级由{previous}升为{tier}"


# Feedback that closes the loop; duplicates without a facility; staff views and visits -----

# A resolved ticket: residents are reminded once to rate, then it closes without a rating.
RATE_REMINDER = (
    "@{reporter} 工单 #{id} 已办结，还没收到您的评价。请回复“评价 {id} 1-5”打分；"
    "如果没有解决，请回复“没修好 {id}”。{due} 前未评价的，将按已办结关闭。"
)
RATE_REMINDER_FOLLOWED = (
    "@{reporter} 工单 #{id} 已办结，还没收到评价。请最先反映的居民回复“评价 {id} 1-5”打分；"
    "如果没有解决，请回复“没修好 {id}”。{due} 前未评价的，将按已办结关闭。"
)
WISH_RATE_REMINDER = (
    "@{reporter} 微心愿 #{id} 已完成，还没收到您的确认。请回复“评价 {id} 1-5”确认并打分；"
    "{due} 前未确认的，将按已完成关闭。"
)
AUTO_CLOSED = (
    "@{reporter} 工单 #{id} 办结后没有收到评价，已按已办结关闭。"
    "如果问题其实没有解决，{days} 天内可回复“没修好 {id}”。"
)
WISH_AUTO_CLOSED = "@{reporter} 微心愿 #{id} 完成后没有收到确认，已按已完成关闭。"
REOPENED_NOBODY = "工单 #{id} 已重新打开，正在安排专人处理。"
REOPEN_TOO_LATE = (
    "工单 #{id} 已关闭超过 {days} 天，不能再重新打开。如果问题又出现了，请直接在群里"
    "说一下（例如“3号楼楼道灯又坏了”），我会为您新建工单。"
)
CANCELLED_FOR_HOLDER = "工单 #{id} 已由反映人撤销{said}，无需再处理，谢谢！"
#: Words taking back a matter whose ticket is open: how to withdraw it.
WITHDRAWAL_HINT = "@{reporter} 如果工单 #{id} 不用处理了，请回复“撤销 {id}”撤销（后面可写原因）。"
#: Why a report's ticket was withdrawn a moment after: its building was corrected.
CORRECTED_REMARK = "（反映人更正为{building}，已按{building}重新立单）"
WHY_CORRECTED = "{sender}更正刚反映的工单 #{ticket} 的楼栋为{building}：原工单撤销，按{building}重新立单"
CANCELLED_FOR_RESIDENTS = "@{reporter} 工单 #{id} 已由反映人撤销。如果问题仍在，请再说一下，我会新建工单。"
WHY_REMINDED = "工单 #{ticket} 办结后还没有评价，提醒居民评价（只提醒一次）"
WHY_REMINDER_PASSED = "评价提醒已不适用（工单 #{ticket} 已{status}或已重新办结），不处理"
WHY_AUTO_CLOSED = "工单 #{ticket} 办结后到评价时限（{due}）仍未评价，按已办结关闭，不计评价"
WHY_REOPEN_TOO_LATE = "{actor}发来“没修好”，但工单 #{ticket} 已关闭超过 {days} 天，请其重新反映"
WHY_NOT_REPORTER = "只有反映问题的居民本人可以撤销。"
CANCEL_NOT_YOURS = "抱歉，只有反映问题的居民本人可以撤销工单 #{id}。"
WHY_NOT_REOPENER = "只有反映问题的居民可以反馈没修好。"
REOPEN_NOT_YOURS = "抱歉，只有反映工单 #{id} 问题的居民可以反馈没修好。"
# Why a report joined another without a facility to say so.
WHY_SIMILAR_WORDS = "（没有识别到具体设施，与该工单用词相似度 {score:.2f}，不低于 {threshold}）"

# 本楼工单: a captain's view of their buildings.
BUILDING_TICKETS_HEADER = "您负责楼栋的未办结工单（{count}件）：\n{lines}"
BUILDING_TICKETS_NONE = "您负责的楼栋目前没有未办结的工单。"
WHY_NOT_CAPTAIN = "“本楼工单”只对楼组长开放。"

# 走访: a grid worker's visit, and the ticket it opens when it names a problem.
VISIT_RECORDED = "已记录{building}的走访：{text}"
VISIT_RECORDED_UNSURE = (
    "已记录{building}的走访：{text}\n没有把握看出需要立单的问题；如有，请单独写明，"
    "例如“走访 {building} 楼道灯不亮”。"
)
VISIT_OPENED = (
    "已记录{building}的走访，并为发现的问题建立工单 #{id}（{category}），由您负责，"
    "办结时限 {resolve_due}。回复“接单 {id}”接单，“完成 {id} 说明”办结。"
)
VISIT_UNKNOWN_BUILDING = "没有找到 {building}。请写明楼号，例如“走访 3号楼 楼道灯不亮”。"
VISIT_NOT_YOUR_BUILDING = "{building}不在您负责的网格内，只能记录自己网格楼栋的走访。"
WHY_NOT_GRID_WORKER = "“走访”只对网格员开放。"
WHY_VISIT = "{actor}走访{building}，已记录"
WHY_VISIT_UNSURE = "{actor}走访{building}，已记录；{understood}，低于立单门槛 {bar}，未立单"
WHY_VISIT_TICKET = "{actor}走访{building}，{understood}，建立工单并由本人负责"
VISIT_EVENT = "网格员{actor}走访发现：{text}"


# Micro-wishes and the points bank ------------------------------------------------------

# The reply to a wish posted in a group where volunteers are @-mentioned: one message.
WISH_PUBLISHED_CALLING = (
    "@{reporter} 您的微心愿已登记，工单 #{id}，已发布给本网格志愿者。\n"
    "{volunteers} 新的微心愿：{text}\n有空的话请回复“认领 {id}”认领，谢谢！"
)
# To volunteers known only by WeChat, in a group other than the one the wish came from.
WISH_CALL = "{volunteers} 新的微心愿 #{id}（{building}）：{text}\n有空的话请回复“认领 {id}”认领，谢谢！"
WISH_AGAIN_PUSH = "微心愿 #{id}（{building}）发布一天了，还没有志愿者认领：{text}\n回复“认领 {id}”认领。"
WISH_AGAIN_CALL = (
    "{volunteers} 微心愿 #{id}（{building}）发布一天了，还没有志愿者认领：{text}\n"
    "有空的话请回复“认领 {id}”认领，谢谢！"
)
WISH_NO_VOLUNTEERS_REPLY = (
    "@{reporter} 您的微心愿已登记，工单 #{id}。本网格暂时没有登记志愿者，{handler}，"
    "回复“查询 {id}”可看进度。"
)
WISH_HANDED_OVER_GROUP = "@{reporter} 微心愿 #{id} 暂时没有志愿者认领，已交给{role}{worker}跟进。"
# The grid worker's task card for a wish nobody claimed (or nobody can claim).
WHY_NO_VOLUNTEERS = "本网格没有登记志愿者，请您跟进"
WHY_UNCLAIMED = "发布两天仍无志愿者认领，请您跟进"
WISH_HANDOVER_DESCRIPTION = (
    "<div class=\"gray\">{created}</div>"
    "<div class=\"normal\">{text}</div>"
    "<div class=\"highlight\">地点：{where}</div>"
    "<div class=\"highlight\">{why}</div>"
    "<div class=\"highlight\">接单时限：{accept_due}｜完成时限：{resolve_due}</div>"
    "<div class=\"gray\">回复“接单 {id}”接手，“完成 {id} 说明”办结；本网格志愿者仍可认领</div>"
)
WISH_HANDOVER_TEXT = (
    TASK_TITLE + "\n{text}\n地点：{where}\n{why}\n接单时限：{accept_due}｜完成时限：{resolve_due}\n"
    "回复“接单 {id}”接手；本网格志愿者仍可认领"
)
WISH_CLAIMED_FROM_WORKER = "微心愿 #{id} 已由志愿者{actor}认领，您不用再跟进了。"
WISH_OTHER_GRID = "微心愿 #{id} 属于{grid}，请由{grid}的志愿者认领。感谢您的热心！"
EVENT_REANNOUNCED = "发布一天仍无人认领，再次通知{count}位志愿者"
EVENT_HANDED_OVER = "发布两天仍无志愿者认领，交{role}{worker}跟进"
# 心愿: the open wishes of a grid.
WISHES_HEADER = "{grids}的微心愿（{count}件）：\n{lines}\n志愿者回复“认领 编号”认领。"
WISHES_NONE = "{grids}目前没有待完成的微心愿。"
WISHES_WHERE = "请在楼组群里发送“心愿”，查看本网格的微心愿。"
WISH_STATE_OPEN = "待认领"
WISH_STATE_CLAIMED = "志愿者{name}已认领"
WISH_STATE_STAFF = "{name}跟进中"
WISH_STATE_STAFF_OPEN = "{name}跟进中，仍可认领"
# The points bank.
POINTS_FOR_WISH = "完成微心愿 #{id}：{text}"
POINTS_EARNED = "居民已确认您完成的微心愿 #{id}，感谢您的帮助！已为您记 {points} 积分，回复“积分”可查看。"
#: The same, pushed to the volunteer alone, with a poor rating or what the resident said.
POINTS_EARNED_RATED = ("居民已确认您完成的微心愿 #{id}，评价 {stars} 星{said}。感谢您的帮助！"
                       "已为您记 {points} 积分，回复“积分”可查看。")
POINTS_BALANCE = "您的积分余额：{balance} 分。最近记录：\n{lines}"
POINTS_NONE = "您的积分余额：{balance} 分。认领并完成微心愿、居民确认后即可获得积分。"
POINTS_ONLY_VOLUNTEERS = "“积分”只对登记的志愿者开放。"
POINTS_REDEEMED_REASON = "兑换：{what}"
POINTS_REDEEMED = "您已用 {points} 积分兑换{what}，积分余额 {balance} 分。"
WHY_WISH_REANNOUNCED = "微心愿 #{ticket} 发布一天仍无人认领，再次通知{count}位志愿者"
WHY_WISH_HANDED_OVER = "微心愿 #{ticket} 发布两天仍无人认领，交{role}{worker}跟进"
WHY_WISH_TIMER_MOOT = "微心愿 #{ticket} 已有人认领或跟进（{status}），{what}不再需要"
WHY_WISH_NOBODY = "微心愿 #{ticket} {what}：没有可以通知的人"
WHY_WISH_POINTS = "，志愿者{name}获得 {points} 积分"
WHY_WISHES = "{actor}查看{grids}的微心愿：{count}件"
WHY_POINTS = "{actor}查看积分：余额 {balance} 分"
WHY_REDEEMED = "{actor}为{name}兑换{what}，扣除 {points} 积分，余额 {balance} 分"
WHY_REDEEM_SHORT = "{actor}要为{name}兑换{what}（{points} 积分），但余额只有 {balance} 分，未兑换"
HELP_VOLUNTEER = "志愿者可用命令：心愿（本网格的微心愿）｜认领 编号｜完成 编号 说明｜我的任务｜积分"


# Captains' notices (通知, 收到, 回执) ------------------------------------------------------

NOTICE = "【楼组通知】{text}\n——{captain}\n（已阅请回复“收到”）"
NOTICE_SENT = (
    "通知已发送到 {buildings}的 {count} 个楼组群。居民回复“收到”即为确认，"
    "发“回执”可查看确认人数。"
)
NOTICE_SCHEDULED = (
    "好的，通知将于 {at}（北京时间）发送到 {buildings}的 {count} 个楼组群。"
    "发出后居民回复“收到”即为确认，发“回执”可查看确认人数。"
)
NOTICE_SENT_LATER = "您定于 {at} 发送的通知“{excerpt}”已发送到 {buildings}的 {count} 个楼组群。"
NOTICE_NO_GROUPS = "{buildings}还没有登记楼组群，通知没有发出，请联系管理员登记。"
NOTICE_TIME_USAGE = (
    "没有发出：{why}。立即发送请写“通知 内容”；定时发送请写“通知 12-01 08:00 内容”"
    "（北京时间），也可以写“通知 定时 12月1日 8:00 内容”“通知 定时 明天 08:00 内容”。"
)
NOTICE_STATUS_NAMES = {"scheduled": "待发送", "sent": "发送", "cancelled": "取消"}
RECEIPTS = "您 {sent} 发出的通知“{excerpt}”，已有 {total} 位居民回复收到：\n{lines}{before}{later}"
RECEIPT_LINE = "{building}：{count} 人"
RECEIPTS_BEFORE = "\n此前的通知（“收到”只计入最新一条）：\n{lines}"
RECEIPT_BEFORE_LINE = "{sent}“{excerpt}”：{total} 人"
RECEIPTS_NONE = "您还没有发出过楼组通知。{later}"
RECEIPTS_SCHEDULED = "\n另有 {count} 条定时通知等待发送。"
WHY_NOTICE = "楼组长{captain}发布通知，发到{count}个楼组群"
WHY_NOTICE_SCHEDULED = "楼组长{captain}定时发布通知，将于{at}发到{count}个楼组群"
WHY_NOTICE_SENT = "楼组长{captain}的定时通知到时发出，发到{count}个楼组群"
WHY_NOTICE_TIME = "楼组长{captain}发来“通知”，未发出：{why}"
WHY_NOTICE_GONE = "定时通知 {notice} 已{status}，不再发送"
WHY_ACKNOWLEDGED = "{sender}回复“收到”，确认了楼组长{captain}的通知"
WHY_ACK_AGAIN = "{sender}回复“收到”，此前已确认过这条通知，不重复计数"
WHY_ACK_OWN = "{sender}是发通知的楼组长，自己回复“收到”不计入"
WHY_ACK_NO_NOTICE = "{sender}回复“收到”，本楼近几天没有通知，不回复"
WHY_RECEIPTS = "楼组长{captain}查看通知回执：{total}人已收到"
WHY_RECEIPTS_NONE = "楼组长{captain}查看通知回执，但还没有发出过通知"


# Open311 GeoReport v2 (bot.open311) ----------------------------------------------

OPEN311_UNDERSTOOD = "Open311 报告选定{name}（语言模型读作{model}，置信度 {confidence:.2f}）"
#: The services of GET services: (service_name, description, group, keywords) per code.
OPEN311_SERVICES = {
    "repair": ("报修", "楼里的设施坏了：电梯、水电、燃气、楼道灯、门禁、下水道、屋顶渗漏等，"
               "由网格员接单派修。", "网格服务", "电梯,漏水,停电,楼道灯,门禁,下水道,维修"),
    "complaint": ("投诉", "影响生活的问题：噪音、环境卫生、乱堆乱放、违章搭建、物业服务等，"
                  "由网格员受理。", "网格服务", "噪音,垃圾,卫生,违建,物业,停车"),
    "wish": ("微心愿", "需要邻里帮一把的小事：代买药品、陪老人看病、搬重物等，由本网格的志愿者认领，"
             "无人认领时由网格员跟进。", "邻里互助", "帮忙,代买,陪同,志愿者,互助"),
    "dispute": ("矛盾纠纷", "邻里之间的矛盾：漏水、噪音、占用公共空间等引起的争执，由调解员按纠纷"
                "大小逐级调解；内容不公开。", "矛盾调解", "纠纷,调解,邻里,矛盾,争吵"),
}
OPEN311_GROUP_ATTRIBUTE = (
    "楼栋群：填写这栋楼的微信群或企业微信群的群名（或群 ID），工单的进展在这个群里告知报告人。")
OPEN311_GROUP_HINT = "如：3号楼业主群"
OPEN311_OPENID_ATTRIBUTE = (
    "公众号 openid：报告人关注了本街道公众号时填写，工单的进展以公众号消息告知报告人"
    "（公众号只能给 48 小时内互动过的人发消息）。")
OPEN311_OPENID_HINT = "报告人在本公众号下的 openid，28 位字母数字"
#: What a service request promises (service_notice): the street's deadlines.
OPEN311_NOTICE = "受理时限 {accept}，办结时限 {resolve}。"
OPEN311_NOTICE_WISH = "发布给本网格的志愿者认领，无人认领时由网格员跟进，办结时限 {resolve}。"
#: What the reporter of a POST hears about where progress goes.
OPEN311_HEARD_IN_GROUP = "工单的进展将在“{group}”里告知。"
OPEN311_HEARD_ON_WECHAT = "工单的进展将通过公众号消息告知。"
OPEN311_HEARD_NOWHERE = (
    "报告没有留下网格小助手能联系到的渠道（楼栋群或公众号 openid），进展请凭 token 查询。")
#: status_notes: the rich status behind open/closed.
OPEN311_STATUS_NOTE = "{status}（{code}）"
OPEN311_ESCALATED_NOTE = "，已升级 {level} 次"
OPEN311_WHISTLED_NOTE = "，已吹哨{department}"
OPEN311_RATED_NOTE = "，居民评价 {rating} 星"
OPEN311_DISPUTE_WITHHELD = "矛盾纠纷的内容不公开。"
OPEN311_WISH_WITHHELD = "微心愿涉及居民个人情况，内容不公开。"
OPEN311_CONTACT = "网格小助手由街道网格化管理中心运营，问题请联系街道管理员。"
OPEN311_KEY_SERVICE = "提交报告需要 api_key：请向街道管理员申请（配置于 GRIDBOT_OPEN311_KEYS）。"

# ---------------------------------------------------------------- the walk-through (README)
# An escalated ticket already accepted: its new holder carries it on (接单 would be refused).
ESCALATION_DESCRIPTION_UNDER_WAY = (
    "<div class=\"highlight\">{why}</div>"
    "<div class=\"normal\">{text}</div>"
    "<div class=\"highlight\">地点：{where}</div>"
    "<div class=\"highlight\">请于 {due} 前{duty}</div>"
    "<div class=\"gray\">已有人接单，回复“进展 {id} 内容”更新，“完成 {id} 说明”办结</div>"
)
ESCALATION_TEXT_UNDER_WAY = (
    ESCALATION_TITLE + "\n{why}\n{text}\n地点：{where}\n请于 {due} 前{duty}\n"
    "回复“进展 {id} 内容”更新，“完成 {id} 说明”办结"
)

# The console acts: staff's actions from the console that no chat command has -------------

#: The word each such action goes by in the record of its decision (a chat command's word).
CONSOLE_WORDS = {"close": "结案", "reopen": "重开", "cancel": "取消", "tier": "改层级"}
CONSOLE_USAGES = {"close": "结案 编号", "reopen": "重开 编号 说明", "cancel": "取消 编号 原因",
                  "tier": "改层级 编号 micro|small|medium|big"}
#: What the admin token is told when it tries an action someone must answer for.
TOKEN_IS_NOBODY = ("管理令牌不代表任何工作人员：接单、进展、办结、转派、升级、吹哨、结案、重开、"
                   "取消和改层级都以本人身份进行，请工作人员登录后在管理后台操作。")
ONLY_TO_READ = "工单 #{id} 不由您处理，只能查看。"
CONSOLE_NO_STAFF = "本街道没有可以转派的工作人员（需有企业微信账号）。"
CLOSED_BY_STAFF = (
    "@{reporter} 工单 #{id} 已由工作人员确认办结并关闭。"
    "如果问题其实没有解决，{days} 天内可回复“没修好 {id}”。"
)
WISH_CLOSED_BY_STAFF = "@{reporter} 微心愿 #{id} 已由工作人员确认完成并关闭，感谢您的耐心！"
WHY_CLOSED_BY_STAFF = "{actor}确认办结，未等居民评价即关闭"
REOPENED_BY_STAFF_GROUP = "@{reporter} 工单 #{id} 已由工作人员重新打开，{holder}会继续处理。"
REOPENED_BY_STAFF_NOBODY = "@{reporter} 工单 #{id} 已由工作人员重新打开，正在安排专人处理。"
REOPENED_BY_STAFF_PUSH = "工单 #{id} 已由{actor}重新打开（{note}），请尽快处理。"
WHY_REOPENED_BY_STAFF = "{actor}重新打开：{note}"
STAFF_REOPEN_NOTE = "工作人员重新打开"
STAFF_REOPEN_TOO_LATE = (
    "工单 #{id} 已关闭超过 {days} 天，不能再重新打开（已计入当时的统计）。"
    "如果问题又出现了，请居民重新反映，或在走访时记录。"
)
CANCELLED_BY_STAFF_GROUP = "@{reporter} 工单 #{id} 已取消：{note}。如有需要，请重新反映。"
CANCELLED_BY_STAFF_PUSH = "工单 #{id} 已由{actor}取消，无需再处理：{note}"
WHY_CANCELLED_BY_STAFF = "{actor}取消：{note}"
NOT_A_DISPUTE = "工单 #{id} 不是矛盾纠纷，没有调解层级。"
TIER_SET = "调解层级由{previous}改为{tier}"
TIER_SET_HOLDER = "，交{title}{holder}调解"
TIER_PUSH = "{actor}将矛盾纠纷 #{id} 定为{tier}，交由您调解：{text}"
TIER_AWAY = "矛盾纠纷 #{id} 已定为{tier}，改由{title}{holder}调解，您不用再跟进了。"

# The morning digest (每日工作提醒, handlers.digest) -------------------------------------------
DIGEST_TITLE = "【每日工作提醒】{day}"
DIGEST_DAY = "{month}月{day}日 {weekday}"
WEEKDAYS = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
DIGEST_MORNING = "{name}，早上好！"
DIGEST_HELLO = "{name}，您好！"
DIGEST_HELD = "【您的在办工单】{count} 件，时限近的在前："
DIGEST_HELD_OVERDUE = "【您的在办工单】{count} 件，其中 {overdue} 件已超时，时限近的在前："
DIGEST_HELD_MORE = "……还有 {count} 件，回复“我的任务”查看全部。"
DIGEST_MORE = "……还有 {count} 件。"
DIGEST_GRID_OVERDUE = "【{grid}超时工单】{count} 件，请督办："
DIGEST_WISHES = "【{grid}待认领心愿】{count} 件："
DIGEST_PLACE = "【{place}】{figures}"
DIGEST_FIGURES = "昨日收到 {received} 件，办结 {closed} 件，{rating}；{open}。"
DIGEST_SATISFACTION = "满意度 {score} 分（{rated} 件评价）"
DIGEST_NO_RATING = "暂无评价"
DIGEST_OPEN = "目前在办 {count} 件"
DIGEST_OPEN_OVERDUE = "目前在办 {count} 件，其中超时 {overdue} 件"
DIGEST_OLDEST = "最久未办结的工单："
DIGEST_NOBODY = "未分派"
DIGEST_UNCLAIMED = "待志愿者认领"
DIGEST_DEADLINE = "{kind} {at}"
DIGEST_DEADLINE_NAMES = {"accept": "接单时限", "resolve": "办结时限", "respond": "报到时限"}
DIGEST_OVERDUE_MARK = "【超时】"
DIGEST_AGE_DAYS = "已 {days} 天"
DIGEST_AGE_HOURS = "已 {hours} 小时"
DIGEST_POSTED = "{at} 发布"
WHY_DIGEST_SENT = "每日工作提醒已发给 {count} 人；下一次 {next}。"
WHY_DIGEST_LATE = "{day}的每日工作提醒错过了发送时间，下一次 {next} 就要发送，这次不再补发。"
WHY_DIGEST_NO_DATA = "每日工作提醒没有取到数据，未发送。"


# Answers from notices (handlers.notice_answers) ----------------------------------------

#: The answer in the group, to the resident who asked: the notice's own words, cited.
NOTICE_ANSWER = "@{reporter} 根据{building}{date}的通知（{time}发布）：{text}"
WHY_NOTICE_ANSWERED = "{sender}的问题由{building}{date}的楼组通知 #{notice} 回答：{why}"
WHY_NOTICE_NOT_ANSWERED = (
    "；最接近的是{building}{date}的楼组通知 #{notice}：{why}，不到 {threshold:.2f}，不回答")


# Conversations that remember (handlers.conversation) -----------------------------------

#: `我住5号楼`: the resident's building is remembered for their next reports.
HOME_SET = "好的，已记住您住{building}。以后在这里反映问题不用再说楼号；搬了家请说“我住X号楼”。"
HOME_UNKNOWN = "没有找到{building}，请再说一次楼号（例如“5号楼”）。"
#: Added to the reply of the report that the answer to the building question completed.
HOME_REMEMBERED = "已记住您住{building}，下次不用再说楼号。"
#: To whoever holds a ticket, when its reporter added a few words to it a moment later.
TICKET_SUPPLEMENT_TASK = "工单 #{id} 居民补充：{text}\n地点：{where}"
FOLLOWER_PLACE_TASK = "工单 #{id} 又有居民反映，地点不同：{text}\n地点：{where}"
TICKET_SUPPLEMENTED = "已补充到工单 #{id}。"
# A supplement that says people are in danger now ("里面有人被困住了"): the ticket becomes an
# emergency, its holder is told so and the resident hears whom to call meanwhile.
TICKET_SUPPLEMENT_EMERGENCY_TASK = (
    "【紧急】工单 #{id} 居民补充：{text}\n地点：{where}\n已改为紧急，请于 {accept_due} 前接单，"
    "{resolve_due} 前办结")
#: The same for a ticket its holder has accepted: nothing more to accept.
TICKET_SUPPLEMENT_EMERGENCY_UNDER_WAY = (
    "【紧急】工单 #{id} 居民补充：{text}\n地点：{where}\n已改为紧急，请于 {resolve_due} 前办结")
TICKET_SUPPLEMENTED_EMERGENCY = "@{reporter} 已补充到工单 #{id}{urgency_note}。"
EVENT_SUPPLEMENTED = "居民补充：{text}"
WHY_SUPPLEMENTED = "{sender}刚报的工单 #{ticket}（{seconds} 秒内），这条是补充：{text}"
WHY_ANSWERED_BUILDING = "回答了楼号追问（{building}）：{reason}"
WHY_HOME_SET = "{sender}登记了住在{building}"
WHY_HOME_UNKNOWN = "{sender}说的楼号 {building} 不在网格地图里，请其再说一次"
WHY_ASKED_AGAIN = "{understood}，并入待补楼号的反映（共 {count} 条），仍在等楼号"
WHY_HOME_USED = "按{sender}登记的住址{building}"
ASK_FACILITY = "已收到。请问是什么坏了、在哪里？（例如“电梯”“楼道灯”“厨房水管”）"
WHY_ASK_FACILITY = "{understood}，但没说是什么坏了，已询问"
WHY_ANSWERED_FACILITY = "回答了“什么坏了”（{answer}）：{reason}"
WHY_FRAGMENTS_JOINED = "连着的 {count} 条消息合起来读：{text}"
