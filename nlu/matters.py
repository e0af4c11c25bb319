"""Several matters in one message: "3号楼电梯坏了，垃圾也没人清，还有楼下阿婆需要人帮忙买菜"
is a repair, a complaint and a wish, each for someone else to handle and close.

Only a short list of plain matters is cut up: a message of at most `MAX_CHARS` that the model
reads as a repair, complaint or wish. It is cut into clauses at its punctuation and spaces,
and each clause classified. The first clause the model is sure of (`FIRST`) starts the first
matter; a later one it is surer of (`SURE`) starts another only when it is of another kind
than every matter before it and says more than that nobody handles it ("物业也不管"): a
repair naming a facility, a complaint saying it is another (也, 还有, 另外), a wish. Two
repairs are one matter (the same worker's, and "应急灯不亮了 停电的时候楼梯一片黑" is one).
Every other clause goes with the matter of its kind, or the one before it, or the first one
when none is before it. A dispute is a story (what the neighbour did,
what was said, who pushed whom) and is never cut up, nor is a longer letter. With two
matters or more, each matter's words are classified again as a message of their own, so its
urgency, danger and entities are its own; with one, the message stays whole.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

#: The intents that make tickets.
MATTER_INTENTS = ("complaint", "repair_request", "micro_wish", "dispute")
#: What a message read whole must be to be cut up: no dispute.
WHOLE_INTENTS = ("complaint", "repair_request", "micro_wish")
#: How sure of a clause the model must be for it to start the first matter, and another.
FIRST = 0.8
SURE = 0.9
#: Longer messages are stories or letters, read whole.
MAX_CHARS = 50
#: A clause shorter than this ("快来人") starts no matter.
MIN_CLAUSE_CHARS = 4
#: What says only that nobody handles the matter before it.
_NOBODY_HANDLES = re.compile(r"^(?:物业|居委|社区|他们|也|都|还|又|就|根本|一直|就是|但是|可是)*"
                             r"(?:不管|没人管|没有人管|不理|不处理|不修|没人修|不来|没人来)")
#: A complaint after another matter is one of its own when it says so: 也, 还有, 另外.
_ALSO = re.compile(r"也|还有|另外|再就是|以及|而且|并且|同时")

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
    clauses: list[str] = field(default_factory=list)


def _facility(parsed: dict[str, Any]) -> str | None:
    return next((str(e.get("value")) for e in parsed.get("entities") or ()
                 if e.get("entity") == "facility"), None)


def _sure_matter(clause: str, parsed: dict[str, Any], bar: float) -> str | None:
    intent = parsed.get("intent") or {}
    name = intent.get("name")
    if (name in MATTER_INTENTS and float(intent.get("confidence") or 0) >= bar
            and len(clause) >= MIN_CLAUSE_CHARS):
        return str(name)
    return None


def _another(matters: list[_Matter], clause: str, intent: str, facility: str | None) -> bool:
    """Whether a clause sure to be a matter, after the first one, starts another: a kind no
    matter before it is, and for a repair a facility it names ("水都黑了" after a complaint
    about the pond is its consequence), for a complaint words that say it is another
    ("垃圾也没人清"; "垃圾洒一地" after a broken bin is what follows from it)."""
    if _NOBODY_HANDLES.match(clause) or any(m.intent == intent for m in matters):
        return False
    if intent == "repair_request":
        return facility is not None  # and so is the first matter, when a repair
    if intent == "complaint":
        return _ALSO.search(clause) is not None
    return True


def group(parsed_clauses: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """The words of each matter, given each clause with its classification: one text per
    matter, its clauses joined with "，" in the order written; none for a dispute."""
    matters: list[_Matter] = []
    before: list[str] = []  # clauses before the first matter
    for clause, parsed in parsed_clauses:
        if _sure_matter(clause, parsed, FIRST) == "dispute":
            return []  # a story of neighbours: read whole
        facility = _facility(parsed)
        if not matters:
            intent = _sure_matter(clause, parsed, FIRST)
            if intent is None or (intent == "repair_request" and facility is None):
                before.append(clause)
            else:
                matters.append(_Matter(intent, [*before, clause]))
            continue
        intent = _sure_matter(clause, parsed, SURE)
        if intent is not None and _another(matters, clause, intent, facility):
            matters.append(_Matter(intent, [clause]))
            continue
        # more of a matter of its kind ("电梯里还很臭"), else of the one before it
        same = [m for m in matters if m.intent == intent]
        (same or matters)[-1].clauses.append(clause)
    return ["，".join(m.clauses) for m in matters]


async def read(parse: Parse, text: str, whole: dict[str, Any]) -> list[dict[str, Any]] | None:
    """Each matter of `text` classified on its own, when it holds two or more; None
    for a message of one matter, or of none (`whole`: the message's own classification)."""
    if ((whole.get("intent") or {}).get("name") not in WHOLE_INTENTS
            or len(text) > MAX_CHARS):
        return None
    cut = clauses(text)
    if len(cut) < 2:
        return None
    grouped = group([(clause, await parse(clause)) for clause in cut])
    if len(grouped) < 2:
        return None
    return [await parse(words) for words in grouped]
