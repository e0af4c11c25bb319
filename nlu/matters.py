"""Several matters in one message: "3号楼电梯坏了，垃圾也没人清，还有楼下阿婆需要人帮忙买菜"
is a repair, a complaint and a wish, each for someone else to handle and close.

Only a short list is cut up: a message of at most `MAX_CHARS` that the model reads as a
repair, complaint or wish, or as nothing but with someone in danger. It is cut into clauses
at its punctuation and spaces, and each clause classified.

- The first clause the model is sure of (`FIRST`) starts the first matter; a later one it
  is surer of (`SURE`) starts another only when it is of another kind than every matter
  before it and says more than that nobody handles it ("物业也不管"): a repair naming a
  facility, a complaint saying it is another (也, 还有, 另外), a quarrel, a wish other than to
  have the quarrel settled. Two repairs are one matter (the same worker's, and
  "应急灯不亮了 停电的时候楼梯一片黑" is one).
- A clause reporting the danger to people the message reports (`CLAUSE_DANGERS`) is never
  hidden in another matter: it goes with the one it is about (someone trapped with the
  lift's) or is a matter of its own ("老人晕倒了，另外电梯也坏了").
- Every other clause goes with the matter of its kind, or the one before it, or the first
  one when none is before it, except a thanks or a matter settled before the first matter
  ("谢谢张师傅修好了水管，另外楼道灯又坏了"): it is set aside (`settled`), and the one matter
  left is the message's, read on its own, whatever the model made of it whole.
- A question about something else ("电梯坏了，明天义诊在哪里") is listed (`asked`), to be
  answered apart from the building's notices; it is set aside too when the model read the
  message whole as none for it.

A message the model reads as a dispute is a story (what the neighbour did, what was said,
who pushed whom) and is never cut up, nor is a longer letter, unless it says where each
later matter begins ("另外我们单元的楼道灯坏了…"). With two matters or more,
each matter's words are classified again as a message of their own, so its urgency, danger
and entities are its own; with one, the message stays whole.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from domain.tickets import DANGER_FACILITIES

#: The intents that make tickets.
MATTER_INTENTS = ("complaint", "repair_request", "micro_wish", "dispute")
#: The dangers a clause is trusted with: people hurt, threatened or trapped, a gas leak (a
#: fire is often only feared: "纸箱堆成山，着火了都跑不出去").
CLAUSE_DANGERS = ("trapped", "gas", "medical", "violence", "self_harm")
#: What a message read whole must be to be cut up: no dispute.
WHOLE_INTENTS = ("complaint", "repair_request", "micro_wish")
#: How sure of a clause the model must be for it to start the first matter, and another.
FIRST = 0.8
SURE = 0.9
#: Longer messages are stories or letters, read whole unless they say where each matter
#: begins (`_letter`), up to `MAX_LETTER_CHARS`.
MAX_CHARS = 50
MAX_LETTER_CHARS = 300
#: A clause shorter than this ("快来人") starts no matter.
MIN_CLAUSE_CHARS = 4
#: What says only that nobody handles the matter before it.
_NOBODY_HANDLES = re.compile(r"^(?:物业|居委|社区|他们|也|都|还|又|就|根本|一直|就是|但是|可是)*"
                             r"(?:不管|没人管|没有人管|不理|不处理|不修|没人修|不来|没人来)")
#: What says a thing is done or thanks someone for it: a clause the model is sure is no
#: matter, saying so, is no part of the matter after it.
_SETTLED = re.compile(r"谢谢|感谢|多谢|辛苦了|修好|弄好|已经好了|解决了|搞定")
#: What asks about the matter's own handling ("什么时候能修好"), not about something else.
_ABOUT_THE_MATTER = re.compile(r"修|处理|管|来人|派人|多久|什么时候[能会]?好|几时好|怎么办|"
                               r"怎么回事|咋回事|为什么|为啥|什么原因")
#: What says that another matter begins; in a longer letter only these cut it.
_NEXT_WORDS = ("另外", "还有", "再就是", "再有", "顺便说一下", "顺便")
_NEXT_MATTER = re.compile(rf"^(?:{'|'.join(_NEXT_WORDS)})")
#: What joins a matter to the one before it, not part of it (而且, 同时 also go on with one).
_JOINING = re.compile(rf"^(?:{'|'.join((*_NEXT_WORDS, '以及', '而且', '并且', '同时'))})[，,、]?")
#: A wish to have a quarrel settled belongs to the quarrel.
_MEDIATION = re.compile(r"调解|劝劝|劝一劝|评评理|评理|说和|协调")
#: A complaint after another matter is one of its own when it says so: 也, 还有, 另外.
_ALSO = re.compile(r"也|还有|另外|再就是|以及|而且|并且|同时")

# WeChat puts U+2005 after an @-mention.
_CUT = re.compile(r"[，,。；;！!？?\n\r\t 　\u2005]+")

Parse = Callable[[str], Awaitable[dict[str, Any]]]
#: Whether a clause asks something (the caller's: handlers.notice_match.is_question).
Asks = Callable[[str], bool]


def clauses(text: str) -> list[str]:
    """The message's clauses, as written, without the punctuation between them or an
    @-mention standing alone ("@网格小助手 电梯坏了，楼道灯也不亮")."""
    return [c for c in _CUT.split(text) if c.strip() and not c.startswith("@")]


@dataclass
class _Matter:
    intent: str
    clauses: list[str] = field(default_factory=list)
    facility: str | None = None
    danger: str | None = None


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
    if intent == "micro_wish":
        return _MEDIATION.search(clause) is None  # "谁能帮忙调解一下" is the dispute's
    return True


def _sure_no_matter(parsed: dict[str, Any]) -> bool:
    intent = parsed.get("intent") or {}
    return (intent.get("name") == "none" and float(intent.get("confidence") or 0) >= SURE
            and not parsed.get("danger"))


def settled(clause: str, parsed: dict[str, Any], asks: Asks | None = None) -> bool:
    """Whether a clause thanks someone or says a thing is done ("上周水管修好了谢谢"), and
    the model is sure it is no matter; not when it asks ("问题解决了吗")."""
    return (_sure_no_matter(parsed) and _SETTLED.search(clause) is not None
            and not (asks is not None and asks(clause)))


def asked(clause: str, parsed: dict[str, Any], asks: Asks | None) -> bool:
    """Whether a clause the model is sure is no matter asks about something else than a
    matter ("明天义诊在哪里", not "什么时候能修好"), naming no facility."""
    return (asks is not None and _sure_no_matter(parsed) and _facility(parsed) is None
            and _ABOUT_THE_MATTER.search(clause) is None
            and _SETTLED.search(clause) is None and asks(clause))


def group(parsed_clauses: list[tuple[str, dict[str, Any]]],
          dangers: tuple[str, ...] = ()) -> list[str]:
    """The words of each matter, given each clause with its classification: one text per
    matter, its clauses joined with "，" in the order written; none for a dispute. A clause
    reporting one of `dangers` is a matter of its own, or goes with the one it is about."""
    return _words(_grouped(parsed_clauses, dangers))


def _words(matters: list[_Matter]) -> list[str]:
    """Each matter's words, without the word that joined it to the one before ("另外…",
    "还有…"; the first matter's "还有人在楼道里抽烟" is its own)."""
    return [_unjoined("，".join(m.clauses)) if n else "，".join(m.clauses)
            for n, m in enumerate(matters)]


def _unjoined(words: str) -> str:
    return _JOINING.sub("", words, count=1)


def _dangers(danger: Any) -> tuple[str, ...]:
    """The dangers a message reports that its clauses are trusted with."""
    return (str(danger),) if danger in CLAUSE_DANGERS else ()


def _grouped(parsed_clauses: list[tuple[str, dict[str, Any]]],
             dangers: tuple[str, ...]) -> list[_Matter]:
    matters: list[_Matter] = []
    before: list[str] = []  # clauses before the first matter
    for clause, parsed in parsed_clauses:
        facility = _facility(parsed)
        # A danger the message reports as a whole (a fire a complaint fears, "着火了都跑不出
        # 去", is none; its clause alone cannot tell).
        danger = parsed.get("danger") if parsed.get("danger") in dangers else None
        if danger:
            # People in danger are never hidden in another matter: someone trapped goes with
            # the lift's (电梯坏了，有人被困在里面), else is a matter of their own.
            home = next((m for m in matters if m.danger == danger
                         or m.facility in DANGER_FACILITIES.get(str(danger), ())), None)
            if home is None:
                matters.append(_Matter(f"danger:{danger}", [*before, clause], facility, danger))
                before = []
            else:
                home.clauses.append(clause)
                home.danger = danger
            continue
        if not matters:
            intent = _sure_matter(clause, parsed, FIRST)
            if intent is None or (intent == "repair_request" and facility is None):
                before.append(clause)
            else:
                matters.append(_Matter(intent, [*before, clause], facility))
            continue
        intent = _sure_matter(clause, parsed, SURE)
        if intent is not None and _another(matters, clause, intent, facility):
            matters.append(_Matter(intent, [clause], facility))
            continue
        # more of a matter of its kind ("电梯里还很臭"), else of the one before it
        same = [m for m in matters if m.intent == intent]
        (same or matters)[-1].clauses.append(clause)
    return matters


async def _letter(parse: Parse, text: str, danger: Any) -> list[dict[str, Any]] | None:
    """The matters of a longer letter, when it says where each after the first begins
    ("…想请志愿者每周帮忙买一次菜，另外我们单元的楼道灯坏了…"): each later matter's first
    clause starts with a joining word (另外, 还有 …). Else the letter is read whole."""
    cut = clauses(text)
    if not any(_NEXT_MATTER.match(clause) for clause in cut[1:]):
        return None
    parsed = [(clause, await parse(clause)) for clause in cut]
    found = _grouped(parsed, _dangers(danger))
    if len(found) < 2 or not all(_NEXT_MATTER.match(m.clauses[0]) for m in found[1:]):
        return None
    return [await parse(words) for words in _words(found)]


async def read(parse: Parse, text: str, whole: dict[str, Any],
               asks: Asks | None = None) -> list[dict[str, Any]] | None:
    """Each matter of `text` classified on its own, when it holds two or more, or one beside
    what is set aside; None for a message of one matter, or of none (`whole`: the message's
    own classification).

    A message is read matter by matter when it holds several, when the model read it whole
    as none for its thanks or question (its matters must then ask nothing themselves), or
    when a thanks before its matter names what was mended. Then the clauses `settled` before
    the first matter and the questions `asked` about something else are in no matter; a
    single matter's reading lists them (`set_aside`). The questions are listed on the first
    matter's reading (`asked`: each clause as written, and its question without a joining
    word), or on the whole's when it stays whole."""
    intent = (whole.get("intent") or {}).get("name")
    if len(text) > MAX_CHARS:
        return (await _letter(parse, text, whole.get("danger"))
                if intent in WHOLE_INTENTS and len(text) <= MAX_LETTER_CHARS else None)
    beside = intent == "none" and not whole.get("danger") and (
        _SETTLED.search(text) is not None or (asks is not None and asks(text)))
    if intent not in WHOLE_INTENTS and not (intent == "none" and whole.get("danger")) \
            and not beside:
        return None
    cut = clauses(text)
    if len(cut) < 2:
        return None
    danger = whole.get("danger")
    parsed = [(clause, await parse(clause)) for clause in cut]
    questions = [clause for clause, one in parsed if asked(clause, one, asks)]
    thanks = _thanks(parsed, asks)
    grouped = group([(c, one) for c, one in parsed if c not in questions and c not in thanks],
                    _dangers(danger))
    if beside and asks is not None and any(asks(words) for words in grouped):
        return None  # 电梯坏了吗，大家知道吗: a question, not a report
    aside = [_unjoined(c) for c in cut if c in questions or c in thanks]
    # each question as written, and as it asks on its own (without 另外, 还有 …)
    asked_ = {"asked": [{"clause": q, "question": _unjoined(q)}
                        for q in questions]} if questions else {}
    mended = any(_facility(one) is not None for c, one in parsed if c in thanks)
    if aside and grouped:  # 谢谢…，另外楼道灯又坏了: the matter is 楼道灯又坏了
        grouped[0] = _unjoined(grouped[0])
    if len(grouped) >= 2:
        first, *others = [await parse(words) for words in grouped]
        return [{**first, **asked_}, *others]
    if len(grouped) == 1 and aside and (beside or mended):
        matter = await parse(grouped[0])
        if (matter.get("intent") or {}).get("name") in MATTER_INTENTS or matter.get("danger"):
            return [{**matter, **asked_, "set_aside": aside}]
    if len(grouped) == 1 and questions and not beside:
        return [{**whole, **asked_}]
    return None


def _thanks(parsed_clauses: list[tuple[str, dict[str, Any]]], asks: Asks | None) -> list[str]:
    """The clauses `settled` before the first one that may start a matter."""
    found = []
    for clause, parsed in parsed_clauses:
        if parsed.get("danger") or _sure_matter(clause, parsed, FIRST):
            break
        if settled(clause, parsed, asks):
            found.append(clause)
    return found


def as_read(whole: dict[str, Any], found: list[dict[str, Any]]) -> dict[str, Any]:
    """The message's reading given what `read` found: its one matter's beside what was set
    aside (the whole's kept as `whole`), or its own with each matter's (`matters`) and the
    questions `asked`, taken for the first matter's kind when the model read it whole as
    none of them for its thanks or question."""
    first = found[0]
    asked_ = {"asked": first["asked"]} if first.get("asked") else {}
    if len(found) == 1:
        return ({**first, "whole": whole.get("intent")} if first.get("set_aside")
                else {**whole, **asked_})
    read = {**whole, **asked_,
            "matters": [{k: v for k, v in first.items() if k != "asked"}, *found[1:]]}
    intent = (whole.get("intent") or {}).get("name")
    if intent == "none" and not whole.get("danger"):
        read["intent"] = next((f["intent"] for f in found
                               if (f.get("intent") or {}).get("name") in MATTER_INTENTS),
                              first.get("intent"))
    return read
