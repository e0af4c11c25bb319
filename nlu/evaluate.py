"""Evaluation reports keyed like Rasa's ``intent_report.json``.

Per intent ``{"precision", "recall", "f1-score", "support"}``, plus ``"accuracy"``,
``"macro avg"`` and ``"weighted avg"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.model_selection import StratifiedKFold

from nlu.pipeline import INTENTS, IntentModel, ModelConfig, train
from nlu.rasa_yaml import Example


def report(y_true: Sequence[str], y_pred: Sequence[str]) -> dict[str, Any]:
    """A Rasa-style intent report for gold labels ``y_true`` and predictions ``y_pred``."""
    if len(y_true) != len(y_pred):
        raise ValueError("y_true and y_pred differ in length")
    labels = [n for n in INTENTS if n in set(y_true) | set(y_pred)]
    labels += sorted((set(y_true) | set(y_pred)) - set(labels))
    out: dict[str, Any] = {}
    total = len(y_true)
    for label in labels:
        tp = sum(1 for t, p in zip(y_true, y_pred, strict=True) if t == label and p == label)
        predicted = sum(1 for p in y_pred if p == label)
        support = sum(1 for t in y_true if t == label)
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out[label] = {"precision": precision, "recall": recall, "f1-score": f1,
                      "support": support}
    correct = sum(1 for t, p in zip(y_true, y_pred, strict=True) if t == p)
    out["accuracy"] = correct / total if total else 0.0
    for avg in ("macro avg", "weighted avg"):
        if not labels or not total:
            out[avg] = {"precision": 0.0, "recall": 0.0, "f1-score": 0.0, "support": total}
            continue
        if avg == "macro avg":
            weights = np.ones(len(labels)) / len(labels)
        else:
            weights = np.array([out[lb]["support"] for lb in labels], dtype=float) / total
        out[avg] = {
            key: float(sum(w * out[lb][key] for w, lb in zip(weights, labels, strict=True)))
            for key in ("precision", "recall", "f1-score")
        }
        out[avg]["support"] = total
    return out


def evaluate(model: IntentModel, examples: Sequence[Example]) -> dict[str, Any]:
    """Score ``model`` (with its confidence fallback) against labelled ``examples``."""
    y_true = [ex.intent for ex in examples]
    y_pred = model.predict(ex.text for ex in examples)
    return report(y_true, y_pred)


def cross_validate(
    examples: Sequence[Example],
    folds: int = 5,
    config: ModelConfig | None = None,
) -> dict[str, Any]:
    """Stratified ``folds``-fold cross-validation; the held-out predictions are pooled."""
    examples = list(examples)
    y = np.array([ex.intent for ex in examples])
    smallest = min((int((y == c).sum()) for c in set(y)), default=0)
    if folds < 2:
        raise ValueError("cross-validation needs at least 2 folds")
    if smallest < folds:
        raise ValueError(
            f"cross-validation with {folds} folds needs at least {folds} examples per intent"
        )
    config = config or ModelConfig()
    predicted: list[str] = [""] * len(examples)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=config.seed)
    for train_idx, test_idx in splitter.split(np.zeros(len(examples)), y):
        model = train([examples[i] for i in train_idx], config)
        for i in test_idx:
            predicted[i] = model.classify(examples[i].text)[0]
    return report(list(y), predicted)
