"""Several matters in one message: "3号楼电梯坏了，垃圾也没人清，还有楼下阿婆需要人帮忙买菜"
is a repair, a complaint and a wish, each for someone else to handle and close.

The message is cut into clauses at its punctuation and spaces, and each clause classified.
A clause the model is sure is a matter (`SURE`) starts a matter of its own unless one before
it is of the same kind and names no other facility ("电梯坏了，电梯里还很臭"; two complaints
that name no facility stay one); any other clause ("晚上很黑", "我妈腿脚不好下不了楼") goes
with the matter before it, or the first one when none is before it. With two matters or
more, each matter's words are classified again as a message of their own, so its urgency,
danger and entities are its own; with one, the message stays whole.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

#: The intents that make tickets.
MATTER_INTENTS = ("complaint", "repair_request", "micro_wish", "dispute")
#: How sure of a clause the model must be for it to be a matter of its own.
SURE = 0.8
#: At most this many matters are read from one message; a longer list is one report.
MAX_MATTERS = 4
#: Clauses at most: a long letter is read whole.
MAX_CLAUSES = 12

# WeChat puts U+2005 after an @-mention.
_CUT = re.compile(r"[，,。；;！!？?\n\r\t 　\u2005]+")

Parse = Callable[[str], Awaitable[dict[str, Any]]]


def clauses(text: str) -> list[str]:
    """The message's clauses, as written, without the punctuation between them or an
    @-mention standing alone ("@网格小助手 电梯坏了，楼道灯也不亮")."""
    return [c for c in _CUT.split(text) if c.strip() and not c.startswith("@")]


@dataclass
class _Matter:
    intent: str
    facility: str | None
    clauses: list[str] = field(default_factory=list)


def _facility(parsed: dict[str, Any]) -> str | None:
    return next((str(e.get("value")) for e in parsed.get("entities") or ()
                 if e.get("entity") == "facility"), None)


def _sure_matter(parsed: dict[str, Any]) -> str | None:
    intent = parsed.get("intent") or {}
    name = intent.get("name")
    if name in MATTER_INTENTS and float(intent.get("confidence") or 0) >= SURE:
        return str(name)
    return None


def group(parsed_clauses: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """The words of each matter, given each clause with its classification: one text per
    matter, its clauses joined with "，" in the order written."""
    matters: list[_Matter] = []
    before: list[str] = []  # clauses before the first matter
    for clause, parsed in parsed_clauses:
        intent = _sure_matter(parsed)
        if intent is None:
            (matters[-1].clauses if matters else before).append(clause)
            continue
        facility = _facility(parsed)
        same = [m for m in matters if m.intent == intent
                and (facility is None or m.facility is None or m.facility == facility)]
        if same:
            same[-1].clauses.append(clause)
            same[-1].facility = same[-1].facility or facility
        else:
            matters.append(_Matter(intent, facility, [*before, clause]))
            before = []
    return ["，".join(m.clauses) for m in matters]


async def read(parse: Parse, text: str, whole: dict[str, Any]) -> list[dict[str, Any]] | None:
    """Each matter of `text` classified on its own, when it holds two to `MAX_MATTERS`; None
    for a message of one matter, or of none (`whole`: the message's own classification)."""
    if (whole.get("intent") or {}).get("name") not in MATTER_INTENTS:
        return None
    cut = clauses(text)
    if not 2 <= len(cut) <= MAX_CLAUSES:
        return None
    grouped = group([(clause, await parse(clause)) for clause in cut])
    if not 2 <= len(grouped) <= MAX_MATTERS:
        return None
    return [await parse(words) for words in grouped]
