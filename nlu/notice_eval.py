"""The labelled set of questions about notices (`nlu/data/notice_questions.yml`) and the
figures of gridbot's answers from notices on it: precision and recall at thresholds.

A board is one building's group: its captain's notices and what residents wrote there.
Each message is scored against every notice of its board, as gridbot does in a group
(`handlers.notice_match.rank`); at a threshold, the message is answered with its best notice
when that notice's score reaches it.

- an answer with the labelled notice is right (a true positive);
- an answer to a message labelled `near` or `chatter`, or with another notice, is wrong
  (a false positive);
- precision = right / answered, recall = right / messages labelled with a notice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from nlu.rasa_yaml import DataError

PACKAGED_NOTICE_QUESTIONS = Path(__file__).resolve().parent / "data" / "notice_questions.yml"
#: Written after the scorer and its threshold were fixed on the set above.
PACKAGED_NOTICE_HELDOUT = PACKAGED_NOTICE_QUESTIONS.with_name("notice_questions_heldout.yml")
PACKAGED_NOTICE_SETS = (PACKAGED_NOTICE_QUESTIONS, PACKAGED_NOTICE_HELDOUT)
KINDS = ("answer", "near", "chatter")
#: The thresholds reported.
THRESHOLDS = tuple(round(0.05 * i, 2) for i in range(4, 21))


@dataclass(frozen=True, slots=True)
class LabelledNotice:
    id: int
    key: str
    text: str
    sent_at: datetime


@dataclass(frozen=True, slots=True)
class LabelledQuestion:
    text: str
    asked_at: datetime
    kind: str  # answer | near | chatter
    answer: str | None  # the key of the notice that answers it
    board: int


@dataclass(slots=True)
class NoticeSet:
    boards: list[list[LabelledNotice]] = field(default_factory=list)
    questions: list[LabelledQuestion] = field(default_factory=list)

    @property
    def pairs(self) -> int:
        """(message, notice) pairs scored."""
        return sum(len(self.boards[q.board]) for q in self.questions)


def _moment(value: Any, where: str) -> datetime:
    from domain.notices import SHANGHAI

    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise DataError(f"{where}: not a time: {value!r}") from exc
    return moment.replace(tzinfo=SHANGHAI) if moment.tzinfo is None else moment


def load_notice_questions(path: Path = PACKAGED_NOTICE_QUESTIONS) -> NoticeSet:
    """The labelled set in `path`; DataError saying what is wrong with it."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise DataError(f"{path}: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("boards"), list):
        raise DataError(f"{path}: expected a mapping with a list of boards")
    found = NoticeSet()
    next_id = 1
    for b, board in enumerate(data["boards"]):
        where = f"{path.name}: board {b + 1}"
        notices: list[LabelledNotice] = []
        keys: set[str] = set()
        for n in board.get("notices") or ():
            key = str(n.get("id", ""))
            if not key or key in keys or not n.get("text"):
                raise DataError(f"{where}: each notice needs a new id and a text")
            keys.add(key)
            notices.append(LabelledNotice(next_id, key, str(n["text"]),
                                          _moment(n.get("sent"), f"{where}: {key}")))
            next_id += 1
        asked = board.get("asked")
        for q in board.get("questions") or ():
            text = str(q.get("q", "")).strip()
            answer = q.get("answer")
            kind = "answer" if answer is not None else str(q.get("kind", ""))
            if not text or kind not in KINDS or (answer is not None and answer not in keys):
                raise DataError(f"{where}: question {text!r}: give answer: <a notice id of "
                                f"the board> or kind: near|chatter")
            found.questions.append(LabelledQuestion(
                text, _moment(q.get("at", asked), f"{where}: {text}"), kind,
                str(answer) if answer is not None else None, b))
        found.boards.append(notices)
    if not found.questions:
        raise DataError(f"{path}: no questions")
    return found


@dataclass(frozen=True, slots=True)
class Scored:
    """One message's best notice and its score."""

    question: LabelledQuestion
    best: str | None  # the key of the best notice, None when no notice scores above 0
    score: float
    why: str


def score_set(labelled: NoticeSet) -> list[Scored]:
    """Every message of the set, scored against its board's notices."""
    from handlers.notice_match import rank

    scored = []
    for question in labelled.questions:
        board = labelled.boards[question.board]
        ranking = rank(question.text, question.asked_at, board)
        best = ranking.best
        if best is None or best.score <= 0:
            why = best.explain() if best is not None else "不是问题"
            scored.append(Scored(question, None, 0.0, why))
            continue
        key = next(n.key for n in board if n.id == best.notice_id)
        scored.append(Scored(question, key, best.score, best.explain()))
    return scored


@dataclass(frozen=True, slots=True)
class AtThreshold:
    threshold: float
    answered: int
    right: int
    wrong: int
    expected: int

    @property
    def precision(self) -> float:
        return self.right / self.answered if self.answered else 1.0

    @property
    def recall(self) -> float:
        return self.right / self.expected if self.expected else 0.0


def at_threshold(scored: list[Scored], threshold: float) -> AtThreshold:
    answered = [s for s in scored if s.best is not None and s.score >= threshold]
    right = sum(1 for s in answered if s.best == s.question.answer)
    expected = sum(1 for s in scored if s.question.answer is not None)
    return AtThreshold(threshold, len(answered), right, len(answered) - right, expected)


def errors_at(scored: list[Scored], threshold: float) -> list[dict[str, Any]]:
    """What goes wrong at a threshold: wrong answers and missed ones, with their reasons."""
    out = []
    for s in scored:
        answered = s.best is not None and s.score >= threshold
        if answered and s.best != s.question.answer:
            error = "wrong answer"
        elif not answered and s.question.answer is not None:
            error = "missed"
        else:
            continue
        out.append({"error": error, "text": s.question.text, "kind": s.question.kind,
                    "expected": s.question.answer, "best": s.best, "score": s.score,
                    "why": s.why})
    return out


def report(path: Path = PACKAGED_NOTICE_QUESTIONS) -> dict[str, Any]:
    """The figures of the set in `path` at every reported threshold and at gridbot's."""
    from handlers.notice_match import THRESHOLD

    labelled = load_notice_questions(path)
    scored = score_set(labelled)
    counts = {kind: sum(1 for q in labelled.questions if q.kind == kind) for kind in KINDS}
    rows = [at_threshold(scored, t) for t in sorted({*THRESHOLDS, THRESHOLD})]
    chosen = at_threshold(scored, THRESHOLD)
    return {
        "path": str(path), "notices": sum(len(b) for b in labelled.boards),
        "boards": len(labelled.boards), "messages": len(labelled.questions),
        "pairs": labelled.pairs, "kinds": counts,
        "threshold": THRESHOLD,
        "at_threshold": _row(chosen),
        "thresholds": [_row(r) for r in rows],
        "errors": errors_at(scored, THRESHOLD),
    }


def _row(r: AtThreshold) -> dict[str, Any]:
    return {"threshold": r.threshold, "answered": r.answered, "right": r.right,
            "wrong": r.wrong, "precision": round(r.precision, 4), "recall": round(r.recall, 4)}


def format_report(figures: dict[str, Any]) -> str:
    """The figures as `gridbot nlu eval` prints them."""
    kinds = figures["kinds"]
    lines = [
        f"answers from notices: {figures['path']}",
        f"{figures['messages']} messages on {figures['boards']} boards of "
        f"{figures['notices']} notices ({figures['pairs']} message-notice pairs): "
        f"{kinds['answer']} answered by a notice, {kinds['near']} near misses, "
        f"{kinds['chatter']} not questions",
        f"{'threshold':>10}{'answered':>10}{'right':>7}{'wrong':>7}{'precision':>11}{'recall':>8}",
    ]
    for row in figures["thresholds"]:
        mark = "  <- gridbot's" if row["threshold"] == figures["threshold"] else ""
        lines.append(f"{row['threshold']:>10.2f}{row['answered']:>10d}{row['right']:>7d}"
                     f"{row['wrong']:>7d}{row['precision']:>11.3f}{row['recall']:>8.3f}{mark}")
    chosen = figures["at_threshold"]
    lines.append(f"at gridbot's threshold {figures['threshold']:.2f}: precision "
                 f"{chosen['precision']:.3f}, recall {chosen['recall']:.3f}")
    return "\n".join(lines)
