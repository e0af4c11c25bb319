"""Chat commands: recognising them in what people type."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

COMMAND_WORDS = (
    "查询",
    "我的工单",
    "评价",
    "没修好",
    "接单",
    "进展",
    "完成",
    "转派",
    "升级",
    "我的任务",
    "认领",
    "通知",
    "改类",
)
# What staff may write after 改类, and the category (None: not a matter for a ticket).
CATEGORY_WORDS: dict[str, str | None] = {
    "报修": "repair",
    "维修": "repair",
    "投诉": "complaint",
    "微心愿": "wish",
    "心愿": "wish",
    "纠纷": "dispute",
    "矛盾": "dispute",
    "矛盾纠纷": "dispute",
    "无效": None,
    "无关": None,
    "闲聊": None,
}
USAGES = {
    "查询": "查询 编号",
    "评价": "评价 编号 1-5",
    "没修好": "没修好 编号",
    "接单": "接单 编号",
    "进展": "进展 编号 进展说明",
    "完成": "完成 编号 办结说明",
    "转派": "转派 编号 企业微信账号",
    "升级": "升级 编号",
    "认领": "认领 编号",
    "通知": "通知 通知内容",
    "改类": "改类 编号 报修|投诉|微心愿|纠纷|无关",
}

_MENTION = re.compile(r"^(?:[@＠]\S+\s+)+")
_HEAD = re.compile("^(" + "|".join(sorted(COMMAND_WORDS, key=len, reverse=True)) + r")(.*)$", re.S)
# The ticket id as people type it: 128, #128, ＃１２８, with or without spaces around.
_TICKET = re.compile(r"^\s*[#＃]?\s*([0-9０-９]{1,12})(?![0-9０-９])\s*(.*)$", re.S)
# What may stand before a note or a notice: "进展 128：已联系物业", "通知：明天停水".
_NOTE_LEAD = re.compile(r"^[:：,，、]\s*")


@dataclass(frozen=True, slots=True)
class Command:
    word: str
    ticket_id: int | None = None
    arg: str = ""
    error: str | None = None  # set when the command word was right but the rest was not


def normalise(text: str) -> str:
    """The text without surrounding spaces and a leading @mention. Everything else stays as
    written: a note keeps its full-width punctuation."""
    return _MENTION.sub("", text.strip()).strip()


def _fold(arg: str) -> str:
    """Full-width letters and digits as ASCII: for a rating or an account name, not a note."""
    return unicodedata.normalize("NFKC", arg).strip()


def parse_command(text: str) -> Command | None:
    """The command in `text`, or None when it is not a command at all."""
    text = normalise(text)
    head = _HEAD.match(text)
    if head is None:
        return None
    word, rest = head.group(1), head.group(2).strip()
    if word in ("我的工单", "我的任务"):
        return Command(word) if rest == "" else None
    if word == "通知":
        rest = _NOTE_LEAD.sub("", rest)
        if not rest:
            return Command(word, error=USAGES[word])
        return Command(word, arg=rest)
    ticket = _TICKET.match(rest)
    if ticket is None:
        # "评价一下物业" or "完成了吗" is conversation, not a command.
        return None
    ticket_id, arg = int(ticket.group(1)), _NOTE_LEAD.sub("", ticket.group(2).strip())
    if word in ("评价", "转派"):
        arg = _fold(arg)
    if word == "评价":
        if not re.fullmatch(r"[1-5]", arg):
            return Command(word, ticket_id, arg, error=USAGES[word])
    elif word == "进展" and not arg:
        return Command(word, ticket_id, error=USAGES[word])
    elif word == "改类" and arg not in CATEGORY_WORDS:
        return Command(word, ticket_id, arg, error=USAGES[word])
    elif word == "转派" and not re.fullmatch(r"[\w.@-]{1,64}", arg):
        return Command(word, ticket_id, arg, error=USAGES[word])
    elif word in ("查询", "没修好", "接单", "升级", "认领") and arg:
        return None
    return Command(word, ticket_id, arg)
