"""Everything gridbot says, in the residents' and staff's language.

Templates are formatted with `str.format`; `{id}` is the ticket id. Values that come from
residents go in as parameters, never into the template itself.
"""

from __future__ import annotations

import re

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

_PHONE = re.compile(r"(?<!\d)(1[3-9]\d)\d{4}(\d{4})(?!\d)|(?<!\d)(0\d{2,3})-?\d{7,8}(?!\d)")


def mask_phones(text: str) -> str:
    """Hide phone numbers before anything a resident wrote is shown in a group."""

    def repl(match: re.Match[str]) -> str:
        if match.group(1):
            return f"{match.group(1)}****{match.group(2)}"
        return f"{match.group(3)}-********"

    return _PHONE.sub(repl, text)


def excerpt(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def when(dt: object) -> str:
    """A deadline as staff read it: month-day hour:minute, Beijing time."""
    from datetime import datetime, timedelta, timezone

    if not isinstance(dt, datetime):
        return "—"
    return dt.astimezone(timezone(timedelta(hours=8))).strftime("%m-%d %H:%M")


# Replies into the building group ------------------------------------------------

TICKET_CREATED = (
    "@{reporter} 已收到您的{category}，工单 #{id}{urgency_note}。"
    "已交给{role}{assignee}处理，{deadline_note}。回复“查询 {id}”可看进度。"
)
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
TRANSFERRED_GROUP = "@{reporter} 工单 #{id} 已转交{assignee}处理。"
ESCALATED_GROUP = "@{reporter} 工单 #{id} 已升级，由{assignee}督办。"
CLAIMED = "@{reporter} 微心愿 #{id} 已由志愿者{actor}认领，感谢！"
RATED = "感谢评价！工单 #{id} 已关闭（{stars}）。"
REOPENED = "工单 #{id} 已重新打开，已通知{assignee}尽快处理。"
STATUS_LINE = "#{id} {category}｜{status}｜{building}｜{assignee}｜{deadline}"
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
REOPENED_STAFF = "工单 #{id} 居民反馈没有解决，已重新打开，请尽快处理。"
WISH_TO_VOLUNTEER = "新的微心愿 #{id}（{building}）：{text}\n回复“认领 {id}”认领。"
MY_TASKS_HEADER = "您的待办（{count}件，按时限排序）：\n{lines}"
MY_TASKS_NONE = "您目前没有待办工单。"

# Answers to commands ----------------------------------------------------------------

DONE = "好的，工单 #{id} 已{what}。"
NOT_FOUND = "没有找到工单 #{id}，请核对编号。"
NOT_ALLOWED = "抱歉，{why}"
WRONG_STATE = "工单 #{id} 目前{status}，不能{what}。"
USAGE = "格式：{usage}"
UNKNOWN_PERSON = "没有找到企业微信账号为 {userid} 的工作人员。"
HELP_STAFF = (
    "可用命令：接单 编号｜进展 编号 内容｜完成 编号 说明｜转派 编号 账号｜升级 编号｜"
    "改类 编号 报修/投诉/微心愿/纠纷/无关｜我的任务"
)
HELP_RESIDENT = (
    "您好，我是网格小助手。直接描述问题（例如“5号楼电梯坏了”）即可报修、投诉或提交微心愿；"
    "回复“我的工单”查看进度。"
)
