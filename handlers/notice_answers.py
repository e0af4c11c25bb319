"""Answers from notices: a resident's question in a building group about something a recent
notice of the building covered ("今天停水到几点?") is answered with the notice's own words,
citing it ("根据3号楼12月1日的通知：…"). A question no notice answers gets nothing: gridbot never
makes an answer up. Which notice answers, and how well, is `handlers.notice_match`'s; the
threshold is measured on `nlu/data/notice_questions.yml`.

A question asked beside a matter ("电梯坏了，明天义诊在哪里": the NLU sets it aside as
`asked`) is answered the same way, the matter's ticket made as well (`answer_asked`).

The shell reads the building's notices of the last `ANSWER_WINDOW` before its transaction,
for a message `wants_notices` says may be such a question.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from domain.decisions import Context, Decision, Send, ToGroup
from domain.notices import SHANGHAI, NoticeStatus, NoticeView
from handlers import notice_match, texts

ANSWER_WINDOW = notice_match.ANSWER_WINDOW
#: A message the model ranks a ticket intent at least this likely for may be a matter
#: ("电梯又坏了什么时候修好?"): it is left to the ticket rules and never answered from a notice.
#: The bar at which an @-mention makes a ticket (`handlers.messages.MENTION_THRESHOLD`).
MATTER_BAR = 0.25
MATTER_INTENTS = ("complaint", "repair_request", "micro_wish", "dispute")


def may_be_matter(nlu: Mapping[str, Any]) -> bool:
    """Whether the model read the message as a matter, or ranked one close enough."""
    intent = (nlu.get("intent") or {}).get("name", "none")
    if intent in MATTER_INTENTS:
        return True
    return any(r.get("name") in MATTER_INTENTS and r.get("confidence", 0) >= MATTER_BAR
               for r in nlu.get("intent_ranking") or ())


def wants_notices(ctx: Context, nlu: Mapping[str, Any]) -> bool:
    """Whether the shell should read the building's recent notices for this message: a
    question, in a building's group, that the model reads as no matter, or one set aside
    beside a matter."""
    return (ctx.group_id is not None and ctx.building_id is not None
            and (bool(nlu.get("asked")) or (
                not may_be_matter(nlu)
                and notice_match.is_question(texts.words_read(ctx.message, nlu)))))


#: How a question asked beside a matter is read: the model was sure it is no matter.
_ASKED = {"intent": {"name": "none", "confidence": 1.0}}


def answer_asked(ctx: Context, nlu: Mapping[str, Any],
                 notices: Sequence[NoticeView]) -> list[tuple[str, Decision]]:
    """The questions the NLU found asked beside a matter (`asked`: 电梯坏了，明天义诊在哪里)
    that a notice answers, each as (its clause as written, the answer), as if asked alone."""
    answers = []
    for asked in nlu.get("asked") or ():
        question = str(asked["question"])
        alone = replace(ctx, message=replace(ctx.message, text=question))
        looked = look_up(alone, {**_ASKED, "text": question}, notices)
        if looked.answer is not None:
            answers.append((str(asked["clause"]), looked.answer))
    return answers


@dataclass(frozen=True, slots=True)
class Looked:
    """What the building's notices say to a message: the answer, when one answers; else a
    note for the reason of whatever is decided instead (the closest notice and its score)."""

    answer: Decision | None = None
    note: str = ""


def _day(notice: NoticeView) -> tuple[str, str]:
    sent = (notice.sent_at or notice.send_at).astimezone(SHANGHAI)
    return f"{sent.month}月{sent.day}日", f"{sent:%H:%M}"


def look_up(ctx: Context, nlu: Mapping[str, Any], notices: Sequence[NoticeView]) -> Looked:
    """The answer from the notices of the sender's building, if one of them answers."""
    if ctx.group_id is None or ctx.building_id is None or not notices or may_be_matter(nlu):
        return Looked()
    building_id = ctx.building_id
    usable = [n for n in notices if n.status == NoticeStatus.SENT and n.covers(building_id)
              and n.sent_at is not None]
    best = notice_match.rank(texts.words_read(ctx.message, nlu), ctx.now, usable).best
    if best is None:
        return Looked()
    notice = next(n for n in usable if n.id == best.notice_id)
    building = ctx.org.building(building_id)
    name = f"{building.number}号楼" if building is not None else "本楼"
    date, time = _day(notice)
    why = best.explain()
    if best.score <= 0 or best.score < notice_match.THRESHOLD:
        return Looked(note=texts.WHY_NOTICE_NOT_ANSWERED.format(
            notice=notice.id, building=name, date=date, why=why,
            threshold=notice_match.THRESHOLD))
    sender = ctx.message.sender_name or ctx.message.sender_id
    return Looked(Decision(
        "notice_answered",
        texts.WHY_NOTICE_ANSWERED.format(sender=sender, notice=notice.id, building=name,
                                         date=date, why=why),
        sends=[Send(ToGroup(ctx.group_id, (ctx.message.sender_id,)), texts.NOTICE_ANSWER,
                    {"reporter": ctx.message.sender_name or "您",
                     "building": name, "date": date, "time": time,
                     "text": notice.text},
                    notice_id=notice.id)],
        nlu=dict(nlu),
    ))
