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
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from domain.decisions import Context

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
# The ticket id as speech recognition writes it: 查询十二, 接单一百零三, 评价十二，五星. The
# words must end where the number ends ("评价一下物业" is conversation, not ticket 1).
_SPOKEN_TICKET = re.compile(
    r"^\s*[#＃]?\s*([〇零幺一二两三四五六七八九十百千万]{1,16})号?"
    r"(?=$|[\s,，.。:：;；、!！?？])\s*(.*)$", re.S)

_DIGITS = {"〇": 0, "零": 0, "幺": 1, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5,
           "六": 6, "七": 7, "八": 8, "九": 9}
_UNITS = {"十": 10, "百": 100, "千": 1000}
# A rating said aloud: 五星, 5颗星, 五分, 五星好评.
_RATING = re.compile(r"^([0-9〇零一二两三四五六七八九十]{1,3})\s*(?:颗星|个星|星|分)?(?:好评)?$")
# What may stand before a note or a notice: "进展 128：已联系物业", "通知：明天停水".
_NOTE_LEAD = re.compile(r"^[:：,，、]\s*")
# What sets a ticket's number apart from the words people add after it ("接单 677 马上过去",
# "没修好６７６，水还在漏"), where "查询 3号楼…" runs on into the number.
_APART = re.compile(r"^[\s,，.。:：;；、!！?？]")
# What sets a rating apart from what is said with it: "5 师傅辛苦了", "五星，谢谢".
_AFTER_RATING = re.compile(r"[\s,，.。!！]+")

ArgCheck = Callable[[str], bool]


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """How a command is written.

    `ticket`: a ticket number follows the word (without one, the text is conversation).
    `arg`: what may follow — "none" (anything more makes it conversation: "完成了吗",
    except words set apart after the ticket's number, kept as the writer's remark),
    "optional", or "required" (a usage answer when missing). `check` says whether a given
    argument is well formed (a usage answer when not); `fold` reads it with full-width
    letters and digits as ASCII (a rating, an account), leaving notes as written.
    `number`: the argument is a number, perhaps said aloud (五星, 5分, 五): read as digits.
    `loads` names what the shell loads for it (`bot.command_data`).
    `bad_arg_is_conversation`: an argument that fails `check`, or a required one missing,
    makes the text conversation, not a usage answer ("收到了" is an acknowledgement,
    "收到的快递被偷了" a report, a bare "好的" nothing).
    `understands`: the shell runs the argument through the NLU before the transaction, like
    a resident's message, and hands the result to the handler (`CommandData.nlu`).
    `given_by`: who gives the command; in a group, anyone else's text that starts with its
    word is conversation (a resident passing on the property's 通知：明天停水), while one to
    one they are told who may.
    """

    word: str
    usage: str
    ticket: bool = True
    arg: str = "none"
    check: ArgCheck | None = None
    fold: bool = False
    number: bool = False
    loads: str = "ticket"
    bad_arg_is_conversation: bool = False
    understands: bool = False
    given_by: Callable[[Context], bool] | None = None


@dataclass(frozen=True, slots=True)
class Command:
    word: str
    ticket_id: int | None = None
    arg: str = ""
    error: str | None = None  # set when the command word was right but the rest was not
    remark: str = ""  # what follows a number said with words after it ("评价 677 5 师傅辛苦了")


def normalise(text: str) -> str:
    """The text without surrounding spaces and a leading @mention. Everything else stays as
    written: a note keeps its full-width punctuation."""
    return _MENTION.sub("", text.strip()).strip()


def fold(arg: str) -> str:
    """Full-width letters and digits as ASCII: for a rating or an account name, not a note."""
    return unicodedata.normalize("NFKC", arg).strip()


def chinese_number(words: str) -> int | None:
    """A whole number in Chinese numerals, as speech recognition writes it: 十二, 一百零三,
    两千零五十, 一百五 (150), 一万零三, or digit by digit (一二三, 一〇三, 幺二); ASCII or
    full-width digits too. None when `words` is no well-formed number."""
    words = unicodedata.normalize("NFKC", words).strip()
    if not words:
        return None
    if words.isascii() and words.isdigit():
        return int(words)
    if all(ch in _DIGITS for ch in words):
        # Digit by digit: 一〇三 is 103; 两 is said only as a count, never digit by digit.
        if len(words) > 1 and "两" in words:
            return None
        return int("".join(str(_DIGITS[ch]) for ch in words))
    high, wan, low = words.partition("万")
    if not wan:
        return _section(words)
    upper = _section(high) if high else None
    if not upper:
        return None
    if not low:
        return upper * 10000
    if low[0] in "零〇":
        rest = _section(low[1:]) if low[1:] else None
        return upper * 10000 + rest if rest is not None and rest < 1000 else None
    if len(low) == 1 and low in _DIGITS:
        return upper * 10000 + _DIGITS[low] * 1000  # 一万二 is 12000
    rest = _section(low)
    return upper * 10000 + rest if rest is not None and rest >= 1000 else None


def _section(words: str) -> int | None:
    """A number below 10000 with its places said: 一千零五十, 十二, 一百五 (150)."""
    total = 0
    digit: int | None = None
    last_unit = 10000
    after_zero = False
    for index, ch in enumerate(words):
        if ch in _UNITS:
            unit = _UNITS[ch]
            if unit >= last_unit:
                return None  # 十百, 百百
            if digit is None:
                if not (unit == 10 and (index == 0 or after_zero)):
                    return None  # only 十 may stand alone: 十二, 一百零十
                digit = 1
            total += digit * unit
            digit, last_unit, after_zero = None, unit, False
        elif ch in _DIGITS:
            if digit is not None:
                return None  # two digits in a row: 十二三
            if _DIGITS[ch] == 0:
                if index == 0 or after_zero:
                    return None
                after_zero = True
            else:
                digit = _DIGITS[ch]
        else:
            return None
    if digit is None:
        return None if after_zero else total  # ends in 零: 一百零
    if not after_zero and 10 < last_unit < 10000:
        digit *= last_unit // 10  # 一百五 is 150, 两千三 is 2300
    return total + digit


def spoken_rating(arg: str) -> str:
    """A rating as said aloud (五星, 5颗星, 五分, 五星好评) as its digits ("5"); anything else
    as it was, for the spec's check to refuse."""
    match = _RATING.fullmatch(fold(arg).rstrip("。.！!"))
    if match is None:
        return arg
    value = chinese_number(match.group(1))
    return str(value) if value is not None else arg


@lru_cache(maxsize=8)
def _head(words: frozenset[str]) -> re.Pattern[str]:
    return re.compile("^(" + "|".join(sorted(words, key=len, reverse=True)) + r")(.*)$", re.S)


def _as_written(text: str) -> str:
    return text


def parse(text: str, specs: Mapping[str, CommandSpec],
          simplified: Callable[[str], str] = _as_written) -> Command | None:
    """The command in `text`, or None when it is not a command at all.

    `simplified` reads traditional characters as simplified ones, each as one character
    (the shell passes `nlu.traditional.to_simplified`): the command word in them too (查詢,
    評價, 接單), in the text's first 16 characters (more than any command word has), and a
    closed argument (a rating, a category); a note stays as written, cut at the same place."""
    text = normalise(text)
    head = _head(frozenset(specs)).match(simplified(text[:16]))
    if head is None:
        return None
    word, rest = head.group(1), text[head.end(1):].strip()
    spec = specs[word]
    ticket_id = None
    apart = False
    if spec.ticket:
        ticket = _TICKET.match(rest) or _SPOKEN_TICKET.match(rest)
        number = chinese_number(ticket.group(1)) if ticket is not None else None
        if ticket is None or number is None:
            # "评价一下物业" or "完成了吗" is conversation, not a command.
            return None
        after = rest[ticket.end(1):]
        apart = bool(_APART.match(after))
        ticket_id, rest = number, ticket.group(2).strip()
    arg = written = _NOTE_LEAD.sub("", rest)
    if spec.fold:
        arg = fold(arg)
    if spec.check is not None or spec.number:  # a rating, a category, an account: not a note
        arg = simplified(arg)
    remark = ""
    if spec.number and arg:
        said = spoken_rating(arg)
        if said == arg:  # "评价 677 5 师傅辛苦了": the 5, and what is said with it
            said = spoken_rating(_AFTER_RATING.split(arg, maxsplit=1)[0])
            if said.isdigit():  # a rating: the rest as written, not folded
                remark = "".join(_AFTER_RATING.split(written, maxsplit=1)[1:]).strip()
        arg = said
    if spec.arg == "none":
        if not arg:
            return Command(word, ticket_id)
        # Words set apart after a ticket's number are the writer's own remark, kept for the
        # handlers that pass it on ("没修好 676，水还在漏"); anything else after the word is
        # conversation ("我的任务呢", "查询3号楼…").
        return Command(word, ticket_id, arg) if spec.ticket and apart else None
    if not arg:
        if spec.arg == "required":
            # A bare 好的 is conversation, like one with the wrong words after it.
            return None if spec.bad_arg_is_conversation else Command(word, ticket_id,
                                                                     error=spec.usage)
        return Command(word, ticket_id)
    if spec.check is not None and not spec.check(arg):
        if spec.bad_arg_is_conversation:
            return None
        return Command(word, ticket_id, arg, error=spec.usage)
    return Command(word, ticket_id, arg, remark=remark)
