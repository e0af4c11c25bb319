"""Chat commands: how each is written, and recognising them in what people type.

Every command is described by a `CommandSpec` — its word, whether a ticket number follows,
what may come after, and what the shell loads for it — in the module that handles it;
`handlers.registry` gathers them.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache

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

_MENTION = re.compile(r"^(?:[@＠]\S+\s+)+")
# The ticket id as people type it: 128, #128, ＃１２８, with or without spaces around.
_TICKET = re.compile(r"^\s*[#＃]?\s*([0-9０-９]{1,12})(?![0-9０-９])\s*(.*)$", re.S)
# What may stand before a note or a notice: "进展 128：已联系物业", "通知：明天停水".
_NOTE_LEAD = re.compile(r"^[:：,，、]\s*")

ArgCheck = Callable[[str], bool]


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """How a command is written.

    `ticket`: a ticket number follows the word (without one, the text is conversation).
    `arg`: what may follow — "none" (anything more makes it conversation: "完成了吗"),
    "optional", or "required" (a usage answer when missing). `check` says whether a given
    argument is well formed (a usage answer when not); `fold` reads it with full-width
    letters and digits as ASCII (a rating, an account), leaving notes as written.
    `loads` names what the shell loads for it (`bot.command_data`).
    `bad_arg_is_conversation`: an argument that fails `check` makes the text conversation,
    not a usage answer ("收到了" is an acknowledgement, "收到的快递被偷了" a report).
    `understands`: the shell runs the argument through the NLU before the transaction, like
    a resident's message, and hands the result to the handler (`CommandData.nlu`).
    """

    word: str
    usage: str
    ticket: bool = True
    arg: str = "none"
    check: ArgCheck | None = None
    fold: bool = False
    loads: str = "ticket"
    bad_arg_is_conversation: bool = False
    understands: bool = False


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


def fold(arg: str) -> str:
    """Full-width letters and digits as ASCII: for a rating or an account name, not a note."""
    return unicodedata.normalize("NFKC", arg).strip()


@lru_cache(maxsize=8)
def _head(words: frozenset[str]) -> re.Pattern[str]:
    return re.compile("^(" + "|".join(sorted(words, key=len, reverse=True)) + r")(.*)$", re.S)


def parse(text: str, specs: Mapping[str, CommandSpec]) -> Command | None:
    """The command in `text`, or None when it is not a command at all."""
    text = normalise(text)
    head = _head(frozenset(specs)).match(text)
    if head is None:
        return None
    word, rest = head.group(1), head.group(2).strip()
    spec = specs[word]
    ticket_id = None
    if spec.ticket:
        ticket = _TICKET.match(rest)
        if ticket is None:
            # "评价一下物业" or "完成了吗" is conversation, not a command.
            return None
        ticket_id, rest = int(ticket.group(1)), ticket.group(2).strip()
    arg = _NOTE_LEAD.sub("", rest)
    if spec.fold:
        arg = fold(arg)
    if spec.arg == "none":
        return Command(word, ticket_id) if not arg else None
    if not arg:
        if spec.arg == "required":
            return Command(word, ticket_id, error=spec.usage)
        return Command(word, ticket_id)
    if spec.check is not None and not spec.check(arg):
        if spec.bad_arg_is_conversation:
            return None
        return Command(word, ticket_id, arg, error=spec.usage)
    return Command(word, ticket_id, arg)
