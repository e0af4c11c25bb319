"""Trained models and the review queue, in the database every process shares."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import NluModel, ReviewItem, Setting

ACTIVE_KEY = "nlu_active"
# In the activation history: the model packaged with gridbot, not one from this database.
PACKAGED = "packaged"
INTENTS = ("complaint", "repair_request", "micro_wish", "dispute", "none")


class RegistryError(Exception):
    """What an admin asked for cannot be done (an unknown version, nothing to roll back to)."""


@dataclass(frozen=True, slots=True)
class ModelInfo:
    version: str
    created_at: datetime
    examples: int
    macro_f1: float | None
    note: str | None
    active: bool


# ---------------------------------------------------------------- models


async def save_model(session: AsyncSession, version: str, blob: bytes, examples: int,
                     config: dict[str, Any], report: dict[str, Any] | None,
                     note: str | None = None) -> None:
    """Keep a trained model (the same version twice keeps the newer report)."""
    row = await session.get(NluModel, version)
    if row is None:
        session.add(NluModel(version=version, created_at=datetime.now(UTC), examples=examples,
                             config=config, report=report, note=note, blob=blob))
    else:
        row.blob, row.report, row.note = blob, report or row.report, note or row.note


async def active_version(session: AsyncSession) -> str | None:
    """The version every process should serve; None for the packaged model."""
    setting = await session.get(Setting, ACTIVE_KEY)
    version = setting.value.get("version") if setting is not None else None
    return None if version == PACKAGED else version


async def model_blob(session: AsyncSession, version: str) -> bytes | None:
    return await session.scalar(select(NluModel.blob).where(NluModel.version == version))


async def model_report(session: AsyncSession, version: str) -> dict[str, Any] | None:
    return await session.scalar(select(NluModel.report).where(NluModel.version == version))


async def list_models(session: AsyncSession) -> list[ModelInfo]:
    active = await active_version(session)
    rows = await session.execute(
        select(NluModel.version, NluModel.created_at, NluModel.examples, NluModel.report,
               NluModel.note).order_by(NluModel.created_at.desc())
    )
    return [
        ModelInfo(version, created, examples, _macro_f1(report), note, version == active)
        for version, created, examples, report, note in rows
    ]


def _macro_f1(report: dict[str, Any] | None) -> float | None:
    if not report:
        return None
    value = report.get("macro avg", {}).get("f1-score")
    return float(value) if value is not None else None


async def activate(session: AsyncSession, version: str, by: str = "admin") -> str | None:
    """Make `version` the active model; the previously active version is returned."""
    if await session.get(NluModel, version) is None:
        raise RegistryError(f"no trained model {version}")
    setting = await session.get(Setting, ACTIVE_KEY)
    history: list[str] = list(setting.value.get("history", [])) if setting else []
    previous = setting.value.get("version") if setting else PACKAGED
    if previous == version:
        return previous
    history.append(previous)
    value = {"version": version, "history": history[-20:], "by": by,
             "at": datetime.now(UTC).isoformat()}
    if setting is None:
        session.add(Setting(key=ACTIVE_KEY, value=value))
    else:
        setting.value = value
    return previous


async def rollback(session: AsyncSession, by: str = "admin") -> str:
    """Go back to the version active before the current one ("packaged" for the model
    packaged with gridbot)."""
    setting = await session.get(Setting, ACTIVE_KEY)
    history: list[str] = list(setting.value.get("history", [])) if setting else []
    if setting is None or not history:
        raise RegistryError("there is no earlier model to roll back to")
    version = history.pop()
    setting.value = {"version": version, "history": history, "by": by,
                     "at": datetime.now(UTC).isoformat()}
    return version


# ---------------------------------------------------------------- review queue


async def add_review(session: AsyncSession, *, reason: str, text: str, predicted: str | None,
                     confidence: float | None, suggested: str | None = None,
                     model_version: str | None = None, inbound_id: int | None = None,
                     ticket_id: int | None = None) -> None:
    if inbound_id is not None:
        existing = await session.scalar(select(ReviewItem.id).where(
            ReviewItem.inbound_id == inbound_id, ReviewItem.reason == reason))
        if existing is not None:
            return
    session.add(ReviewItem(
        reason=reason, text=text, predicted=predicted, confidence=confidence,
        suggested=suggested, model_version=model_version, inbound_id=inbound_id,
        ticket_id=ticket_id, status="open", created_at=datetime.now(UTC),
    ))


async def review_items(session: AsyncSession, status: str | None = "open", limit: int = 100,
                       offset: int = 0, conditions: Sequence[Any] = ()) -> list[ReviewItem]:
    """Review items in id order; `conditions` narrow them (a person's scope)."""
    query = (select(ReviewItem).where(*conditions).order_by(ReviewItem.id)
             .limit(limit).offset(offset))
    if status:
        query = query.where(ReviewItem.status == status)
    return list((await session.execute(query)).scalars())


async def label_item(session: AsyncSession, item_id: int, intent: str | None, by: str) -> ReviewItem:
    """Label an item with an intent, or dismiss it (intent None)."""
    if intent is not None and intent not in INTENTS:
        raise RegistryError(f"intent must be one of {', '.join(INTENTS)}; got {intent!r}")
    item = await session.get(ReviewItem, item_id)
    if item is None:
        raise RegistryError(f"no review item {item_id}")
    item.status = "labeled" if intent is not None else "dismissed"
    item.label = intent
    item.labeled_by = by
    item.labeled_at = datetime.now(UTC)
    return item


async def labeled_examples(session: AsyncSession) -> list[tuple[str, str]]:
    """(text, intent) of every labeled item, oldest first; a later label of the same text wins."""
    rows = await session.execute(
        select(ReviewItem.text, ReviewItem.label)
        .where(ReviewItem.status == "labeled").order_by(ReviewItem.id)
    )
    latest: dict[str, str] = {}
    for text, label in rows:
        latest[text] = label
    return list(latest.items())


def item_json(item: ReviewItem) -> dict[str, Any]:
    return {
        "id": item.id, "reason": item.reason, "text": item.text, "predicted": item.predicted,
        "confidence": item.confidence, "suggested": item.suggested,
        "model_version": item.model_version, "inbound_id": item.inbound_id,
        "ticket_id": item.ticket_id, "status": item.status, "label": item.label,
        "labeled_by": item.labeled_by,
        "labeled_at": item.labeled_at.isoformat() if item.labeled_at else None,
        "created_at": item.created_at.isoformat(),
    }
