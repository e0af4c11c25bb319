"""Everything gridbot says, in the residents' and staff's language.

Templates are formatted with `str.format`; `{id}` is the ticket id. Values that come from
residents go in as parameters, never into the template itself.
"""

from __future__ import annotations

import re
from typing import Any

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
}

# Phone numbers as people write them: digit groups (ASCII or full-width) joined by spaces,
# dashes or dots, an area code in brackets, a +86 / 0086 / (86) prefix in front.
_DIGIT = "0-9０-９"
_SPACE = " \u00a0\u2005\u3000"
_JOIN = rf"(?:[{_SPACE}]{{0,2}}[-.‐‑–—−－．·・][{_SPACE}]{{0,2}}|[{_SPACE}]{{1,2}})"
_GROUP = rf"(?:[(（][{_DIGIT}]+[)）]|[{_DIGIT}]+)"
_COUNTRY = (rf"(?:[+＋]|00|００)[{_SPACE}]?(?:86|８６)"
            rf"|[(（][{_SPACE}]?(?:[+＋]|00|００)?(?:86|８６)[{_SPACE}]?[)）]")
_RUN = re.compile(rf"(?:(?P<country>{_COUNTRY}){_JOIN}?)?{_GROUP}(?:{_JOIN}?{_GROUP})*")
_GROUP_RE = re.compile(_GROUP)
# A bare local number (no area code) counts only right after a word that announces a number.
_PHONE_WORD = re.compile(
    r"(?:电话|座机|固话|手机|手机号|号码|热线|联系方式|联系|打|拨|致电|tel|phone)"
    r"[\s:：是为]{0,3}$", re.IGNORECASE)


def _digits(text: str) -> str:
    return "".join(str(int(ch)) for ch in text if ch.isdecimal())


def _area_length(national: str) -> int:
    """010 and 02x are three digits long, every other area code four (with its 0)."""
    return 3 if national.startswith(("010", "02")) else 4


def _phone_kept(national: str, groups: list[str], *, country: bool, announced: bool
                ) -> tuple[int, int] | None:
    """How many leading and trailing digits of ``national`` stay visible when it is a
    phone number; None when it is not one."""
    if any(len(g) < 2 for g in groups):
        return None
    n = len(national)
    if n == 11 and re.fullmatch(r"1[3-9]\d{9}", national):
        return 3, 4  # mobile: 139****1111
    if n == 13 and re.fullmatch(r"861[3-9]\d{9}", national):
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
    if announced and 7 <= n <= 8 and national[0] != "0" and all(len(g) >= 3 for g in groups):
        return 0, 0  # a local number right after 电话/座机…
    return None


def _mask_run(run: re.Match[str], announced: bool) -> str:
    text = run.group(0)
    start = run.end("country") - run.start() if run.group("country") else 0
    groups = list(_GROUP_RE.finditer(text, start))
    out = list(text)
    i = 0
    while i < len(groups):
        # A phone number has at most five groups of two digits or more.
        for j in range(min(len(groups), i + 5), i, -1):
            chosen = groups[i:j]
            digits = [g.start() + k for g in chosen for k, ch in enumerate(g.group())
                      if ch.isdecimal()]
            national = _digits(text[chosen[0].start():chosen[-1].end()])
            kept = _phone_kept(national, [_digits(g.group()) for g in chosen],
                               country=i == 0 and start > 0, announced=i == 0 and announced)
            if kept is not None:
                head, tail = kept
                for position in digits[head:len(digits) - tail]:
                    out[position] = "*"
                i = j
                break
        else:
            i += 1
    return "".join(out)


def mask_phones(text: str) -> str:
    """Hide phone numbers before anything a person wrote is shown in a group.

    Masked: mobile numbers (first three and last four digits stay: 139****1111), landlines
    (the area code stays: 021-********), 400/800 service numbers (400*******), in every way
    people write them: spaces, dashes or dots between groups, full-width digits and
    separators, +86/0086/(86) in front, an area code in brackets; and a bare 7-8 digit local
    number when 电话, 座机, 联系… announce it.
    Not masked: anything that is not shaped like one of those — ticket ids (#128), dates
    (2026-11-28), times, rooms (1502室), amounts (3000元), building numbers, short service
    numbers (110, 12345, 95598), six-digit codes, and digits inside longer numbers (order,
    card and id numbers are not cut into a phone number).
    """
    return _RUN.sub(lambda run: _mask_run(run, bool(_PHONE_WORD.search(
        text, max(0, run.start() - 8), run.start()))), text)


# gridbot's own names, as residents @-mention it in a group.
BOT_NAMES = ("gridbot", "网格小助手")
_LEADING_MENTION = re.compile(r"^\s*[@＠](\S+)\s*")


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
}
TICKET_CREATED = (
    "@{reporter} {received}，工单 #{id}{urgency_note}。"
    "{handler}，{deadline_note}。回复“查询 {id}”可看进度。"
)
HANDED_TO = "已交给{role}{assignee}处理"
HANDLER_PENDING = "正在安排专人处理"
TICKET_FOLLOWED = "@{reporter} 这件事已有工单 #{id}（{status}），已把您加入关注，有进展会一并通知您。"
WISH_PUBLISHED = (
    "@{reporter} 您的微心愿已登记，工单 #{id}。已发布给本网格志愿者，"
    "志愿者可回复“认领 {id}”。"
)
ASK_BUILDING = "已收到。请告诉我是几号楼（例如“3号楼电梯坏了”），我好派给对应的网格员。"

ACCEPTED = "@{reporter} 工单 #{id} 已由{role}{actor}接单，正在安排处理。"
PROGRESS = "@{reporter} 工单 #{id} 有新进展：{note}"
RESOLVED = (
    "@{reporter} 工单 #{id} 已办结：{note}\n"
    "请回复“评价 {id} 1-5”打分；如果没有解决，请回复“没修好 {id}”。"
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
NOTICE = "【楼组通知】{text}\n——{captain}"
NOTICE_SENT = "通知已发送到 {count} 个楼组群。"

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
# A wish is claimed by volunteers; the grid worker's copy says so.
WISH_TASK_DESCRIPTION = (
    "<div class=\"gray\">{created}</div>"
    "<div class=\"normal\">{text}</div>"
    "<div class=\"highlight\">地点：{where}</div>"
    "<div class=\"highlight\">认领时限：{accept_due}｜完成时限：{resolve_due}</div>"
    "<div class=\"gray\">已发布给本网格志愿者认领，无需您接单；"
    "如到时仍无人认领，请您跟进（回复“接单 {id}”接手）</div>"
)
WISH_TASK_TEXT = (
    TASK_TITLE + "\n{text}\n地点：{where}\n认领时限：{accept_due}｜完成时限：{resolve_due}\n"
    "已发布给本网格志愿者认领，无需您接单；如到时仍无人认领，请您跟进（回复“接单 {id}”接手）"
)
REOPENED_STAFF = "工单 #{id} 居民反馈没有解决，已重新打开，请尽快处理。"
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
ESCALATED_BY = "{actor}发起升级"
ESCALATED_BY_FOR_HOLDER = "{actor}将工单升级由您督办"
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
WRONG_STATE = "工单 #{id} 目前{status}，不能{what}。"
WISH_CLAIMED_BY_VOLUNTEER = "微心愿 #{id} 已由志愿者{holder}认领，感谢您的热心！"
WISH_TAKEN_BY_STAFF = "微心愿 #{id} 已由{holder}接手处理，感谢您的热心！"
WISH_CLAIMED_BY_YOU = "微心愿 #{id} 您已经认领了，完成后请回复“完成 {id} 说明”。"
USAGE = "格式：{usage}"
COULD_NOT_HANDLE = "抱歉，这条消息暂时没能处理，已转给工作人员查看，请稍后再试或联系楼组长。"
UNKNOWN_PERSON = "没有找到企业微信账号为 {userid} 的工作人员。"
HELP_STAFF = (
    "可用命令：接单 编号｜进展 编号 内容｜完成 编号 说明｜转派 编号 账号｜升级 编号｜"
    "改类 编号 报修/投诉/微心愿/纠纷/无关｜我的任务"
)
HELP_RESIDENT = (
    "您好，我是网格小助手。直接描述问题（例如“5号楼电梯坏了”）即可报修、投诉或提交微心愿；"
    "回复“我的工单”查看进度。"
)

# Why a decision was taken: shown to staff in the console and the simulator ----------------

INTENT_NAMES = {
    "repair_request": "报修",
    "complaint": "投诉",
    "micro_wish": "微心愿",
    "dispute": "矛盾纠纷",
    "none": "无关",
}


def understood(nlu: dict[str, Any], kind: str | None = None) -> str:
    """"识别为报修（置信度 0.97）": the intent, in words staff read, with its confidence."""
    intent = nlu.get("intent") or {}
    name = kind or INTENT_NAMES.get(intent.get("name", "none"), intent.get("name", "none"))
    said = f"识别为{name}（置信度 {float(intent.get('confidence') or 0.0):.2f}）"
    if nlu.get("mention_override"):
        said += "，因为@了网格小助手，按较低的门槛立单"
    return said


WHY_CHATTER = "{understood}，不是需要立单的事，不回复"
WHY_HELP = "{understood}，对网格小助手说话但没有需要立单的事，回复了使用说明"
WHY_ASK_BUILDING = "{understood}，但群不是已登记的楼组群，文字里也没有已知的楼号，已询问几号楼"
WHY_FOLLOWED = "{understood}，{building}已有同类未办结工单 #{ticket}，把反映人加为关注"
WHY_COMMAND = "{actor}发来“{word}”，工单 #{ticket} 已{what}"
WHY_REFUSED = "{actor}发来“{word}”，未执行：{why}"
WHY_NOT_FOUND = "{actor}发来“{word}”，但没有工单 #{number}"
WHY_USAGE = "{actor}发来的“{word}”格式不对，回复了用法"
WHY_QUERY = "{actor}查询工单 #{ticket}，回复了状态"
WHY_LIST = "{actor}查看{what}：{count}件"
WHY_NOTICE = "楼组长{captain}发布通知，发到{count}个楼组群"
WHY_FAILED = "处理失败（{why}），已放弃重试"
WHY_ACTION = "{actor}在管理后台将工单 #{ticket} {what}"
WHY_ACTION_REFUSED = "{actor}在管理后台要将工单 #{ticket} {what}，但工单目前{status}，未执行"
WHY_ESCALATED = "{why}：工单 #{ticket} 升级到第{level}级，由{title}{holder}督办"
WHY_NOBODY_ABOVE = "{why}：工单 #{ticket} 没有更高一级的负责人可以升级"
WHY_DEADLINE_MOVED = "{deadline}已不适用（工单 #{ticket} 已{status}或时限已更新），不处理"
