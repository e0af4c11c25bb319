"""What every NLU backend shares: the answer's shape and the rule-based layers.

A backend answers like Rasa's ``/model/parse`` plus gridbot's ``urgency``, ``tier`` and
``model``; entities, urgency and tier always come from gridbot's regex layer
(:mod:`nlu.entities`, :mod:`nlu.attributes`), whatever classified the intent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from nlu import attributes, entities
from nlu.pipeline import INTENTS, NONE


class BackendError(RuntimeError):
    """A backend that cannot be configured, loaded or reached."""


def as_text(text: Any) -> str:
    """``text`` as a string (``None`` becomes ``""``)."""
    if isinstance(text, str):
        return text
    return "" if text is None else str(text)


def ranking_from(scores: Mapping[str, float]) -> list[dict[str, Any]]:
    """Every intent of :data:`INTENTS` with its confidence, best first (ties in INTENTS order).

    Names outside :data:`INTENTS` count as ``none``.
    """
    merged = {name: 0.0 for name in INTENTS}
    for name, value in scores.items():
        key = name if name in merged else NONE
        merged[key] = max(merged[key], float(value))
    ordered = sorted(merged.items(), key=lambda kv: (-kv[1], INTENTS.index(kv[0])))
    return [{"name": name, "confidence": round(p, 4)} for name, p in ordered]


def empty_ranking() -> list[dict[str, Any]]:
    """The ranking for a message with nothing to classify: ``none`` for certain."""
    return ranking_from({NONE: 1.0})


def decide(ranking: list[dict[str, Any]], threshold: float) -> tuple[str, float]:
    """The intent and confidence for ``ranking``: its best entry, or ``none`` when a ticket
    intent wins with less than ``threshold``."""
    best = ranking[0]
    if best["name"] != NONE and best["confidence"] < threshold:
        none = next((r["confidence"] for r in ranking if r["name"] == NONE), 0.0)
        return NONE, float(none)
    return str(best["name"]), float(best["confidence"])


def merge_entities(
    primary: Iterable[dict[str, Any]], extra: Iterable[dict[str, Any]]
) -> list[dict[str, Any]]:
    """``primary`` entities plus those of ``extra`` that do not repeat one of them."""
    out = [dict(e) for e in primary]
    seen = {(e.get("entity"), e.get("start"), e.get("end")) for e in out}
    for e in extra:
        key = (e.get("entity"), e.get("start"), e.get("end"))
        if key not in seen:
            seen.add(key)
            out.append(dict(e))
    out.sort(key=lambda e: (int(e.get("start") or 0), int(e.get("end") or 0)))
    return out


def answer(
    text: str,
    intent: str,
    confidence: float,
    ranking: list[dict[str, Any]],
    model: str,
    extra_entities: Iterable[dict[str, Any]] = (),
) -> dict[str, Any]:
    """The parse answer: Rasa's keys, then ``urgency``, ``tier``, ``danger`` and ``model``."""
    return {
        "text": text,
        "intent": {"name": intent, "confidence": round(float(confidence), 4)},
        "intent_ranking": ranking,
        "entities": merge_entities(extra_entities, entities.extract(text)),
        "urgency": attributes.urgency(text, intent),
        "tier": attributes.tier(text, intent),
        "danger": attributes.danger(text),
        "model": model,
    }
