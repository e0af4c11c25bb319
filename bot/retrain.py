"""Retraining from the packaged data plus the admins' review labels, judged before use.

The new model is kept in the database with its cross-validated report but is not made
active: the admin compares it with the active model's report and activates it (or not).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nlu.evaluate import cross_validate
from nlu.pipeline import IntentModel, ModelConfig, train
from nlu.rasa_yaml import Example, TrainingData, dump_rasa, load_rasa
from nlu.service import PACKAGED_DATA
from storage.db import SessionFactory
from storage.nlu_store import active_version, labeled_examples, model_report, save_model

Progress = Callable[[int, int, str], None]


@dataclass(frozen=True, slots=True)
class Retrained:
    model: IntentModel
    report: dict[str, Any]
    active_version: str | None
    active_report: dict[str, Any] | None
    examples: int
    reviewed: int
    reviewed_file: Path


def merge(packaged: list[Example], reviewed: list[tuple[str, str]]) -> list[Example]:
    """The packaged examples with the admins' labels: a reviewed text replaces the same text."""
    labels = dict(reviewed)
    merged = [ex for ex in packaged if ex.text not in labels]
    merged += [Example(text, intent) for text, intent in reviewed]
    return merged


async def retrain(sessions: SessionFactory, var_dir: Path, *, data: Path = PACKAGED_DATA,
                  folds: int = 5, progress: Progress | None = None,
                  note: str | None = None) -> Retrained:
    def tick(done: int, total: int, what: str) -> None:
        if progress is not None:
            progress(done, total, what)

    async with sessions() as session:
        reviewed = await labeled_examples(session)
        active = await active_version(session)
        active_report = await model_report(session, active) if active else None
    packaged = load_rasa(data)
    examples = merge(packaged.examples, reviewed)
    # The labels, in Rasa's format, beside the packaged data: what the model was trained on.
    reviewed_file = Path(var_dir) / "nlu" / "reviewed.yml"
    reviewed_file.parent.mkdir(parents=True, exist_ok=True)
    dump_rasa(TrainingData(examples=[Example(t, i) for t, i in reviewed]), reviewed_file)

    steps = folds + 1
    config = ModelConfig()

    def fit() -> tuple[dict[str, Any], IntentModel]:
        report = cross_validate(
            examples, folds, config,
            progress=lambda done, total: tick(done, steps, f"fold {done}/{total}"),
        )
        model = train(examples, config, source="reviewed" if reviewed else "packaged")
        tick(steps, steps, "final model")
        return report, model

    tick(0, steps, "starting")
    report, model = await asyncio.to_thread(fit)
    async with sessions() as session, session.begin():
        await save_model(session, model.version, model.to_bytes(), len(examples),
                         config.to_dict(), report, note)
    return Retrained(model, report, active, active_report, len(examples), len(reviewed),
                     reviewed_file)


def side_by_side(new: dict[str, Any], old: dict[str, Any] | None, new_name: str,
                 old_name: str | None) -> str:
    """Per-intent F1 and the averages of two reports, with the change."""
    rows = [k for k in new if isinstance(new[k], dict) and "f1-score" in new[k]]
    width = max(len(r) for r in rows + ["accuracy"])
    header = f"{'':{width}}  {'active ' + (old_name or '—'):>20}  {'new ' + new_name:>20}  {'change':>8}"
    lines = [header, "-" * len(header)]

    def row(name: str, new_value: float | None, old_value: float | None) -> str:
        old_text = f"{old_value:.3f}" if old_value is not None else "—"
        new_text = f"{new_value:.3f}" if new_value is not None else "—"
        change = f"{new_value - old_value:+.3f}" if None not in (new_value, old_value) else ""
        return f"{name:{width}}  {old_text:>20}  {new_text:>20}  {change:>8}"

    for name in rows:
        old_value = (old or {}).get(name, {}).get("f1-score") if old else None
        lines.append(row(name, new[name]["f1-score"], old_value))
    lines.append(row("accuracy", new.get("accuracy"), (old or {}).get("accuracy") if old else None))
    return "\n".join(lines)
