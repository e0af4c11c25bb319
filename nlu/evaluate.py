"""Evaluation: reports keyed like Rasa's, confusion matrices, misclassified examples.

The report (:func:`report`) is keyed like Rasa's ``intent_report.json``: per intent
``{"precision", "recall", "f1-score", "support"}``, plus ``"accuracy"``, ``"macro avg"`` and
``"weighted avg"``. :func:`write_reports` writes what ``rasa test nlu`` writes for intents:
``intent_report.json``, ``intent_confusion_matrix.png`` and ``intent_errors.json`` (a list of
``{"text", "intent", "intent_prediction": {"name", "confidence"}}``).

Cross-validation uses :func:`stratified_folds`, which depends only on the labels, the number
of folds and the seed, so that different pipelines (see :mod:`nlu.compare`) and the Rasa
benchmark are scored on exactly the same splits.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.model_selection import StratifiedKFold

from nlu.pipeline import INTENTS, IntentModel, ModelConfig, train
from nlu.rasa_yaml import Example

REPORT_FILE = "intent_report.json"
CONFUSION_FILE = "intent_confusion_matrix.png"
ERRORS_FILE = "intent_errors.json"

# (intent, confidence) for one text
Prediction = tuple[str, float]


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``values`` by the nearest-rank method; 0 if empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def _labels(y_true: Sequence[str], y_pred: Sequence[str]) -> list[str]:
    seen = set(y_true) | set(y_pred)
    labels = [n for n in INTENTS if n in seen]
    return labels + sorted(seen - set(labels))


def report(y_true: Sequence[str], y_pred: Sequence[str]) -> dict[str, Any]:
    """A Rasa-style intent report for gold labels ``y_true`` and predictions ``y_pred``."""
    if len(y_true) != len(y_pred):
        raise ValueError("y_true and y_pred differ in length")
    labels = _labels(y_true, y_pred)
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


def bootstrap_macro_f1(
    y_true: Sequence[str], y_pred: Sequence[str], rounds: int = 1000, seed: int = 0
) -> tuple[float, float, float]:
    """``(standard error, 2.5th, 97.5th percentile)`` of macro-F1 over ``rounds`` resamples
    of the examples with replacement (labels as in :func:`report`)."""
    if len(y_true) != len(y_pred):
        raise ValueError("y_true and y_pred differ in length")
    if not y_true:
        return 0.0, 0.0, 0.0
    labels = _labels(y_true, y_pred)
    index = {name: i for i, name in enumerate(labels)}
    k = len(labels)
    pairs = np.array([index[t] * k + index[p] for t, p in zip(y_true, y_pred, strict=True)])
    rng = np.random.default_rng(seed)
    scores = np.empty(rounds)
    for r in range(rounds):
        sample = pairs[rng.integers(0, len(pairs), len(pairs))]
        counts = np.bincount(sample, minlength=k * k).reshape(k, k).astype(float)
        tp = np.diag(counts)
        predicted, support = counts.sum(axis=0), counts.sum(axis=1)
        precision = np.divide(tp, predicted, out=np.zeros(k), where=predicted > 0)
        recall = np.divide(tp, support, out=np.zeros(k), where=support > 0)
        both = precision + recall
        f1 = np.divide(2 * precision * recall, both, out=np.zeros(k), where=both > 0)
        scores[r] = f1.mean()
    low, high = np.percentile(scores, [2.5, 97.5])
    return float(scores.std()), float(low), float(high)


def confusion_matrix(
    y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str] | None = None
) -> tuple[list[str], list[list[int]]]:
    """``(labels, matrix)`` where ``matrix[i][j]`` counts gold ``labels[i]`` predicted ``labels[j]``."""
    if len(y_true) != len(y_pred):
        raise ValueError("y_true and y_pred differ in length")
    names = list(labels) if labels is not None else _labels(y_true, y_pred)
    index = {name: i for i, name in enumerate(names)}
    matrix = [[0] * len(names) for _ in names]
    for t, p in zip(y_true, y_pred, strict=True):
        if t in index and p in index:
            matrix[index[t]][index[p]] += 1
    return names, matrix


def errors(examples: Sequence[Example], predictions: Sequence[Prediction]) -> list[dict[str, Any]]:
    """Misclassified examples in the shape of Rasa's ``intent_errors.json``."""
    out = []
    for ex, (name, confidence) in zip(examples, predictions, strict=True):
        if name != ex.intent:
            out.append({
                "text": ex.text,
                "intent": ex.intent,
                "intent_prediction": {"name": name, "confidence": round(float(confidence), 4)},
            })
    return out


@dataclass
class EvalResult:
    """What an evaluation produced: the examples, a prediction for each, and the report."""

    examples: list[Example]
    predictions: list[Prediction]
    title: str = ""
    folds: int | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def y_true(self) -> list[str]:
        return [ex.intent for ex in self.examples]

    @property
    def y_pred(self) -> list[str]:
        return [name for name, _ in self.predictions]

    @property
    def report(self) -> dict[str, Any]:
        return report(self.y_true, self.y_pred)

    @property
    def errors(self) -> list[dict[str, Any]]:
        return errors(self.examples, self.predictions)


def predictor(model: Any) -> Callable[[str], Prediction]:
    """A function giving ``(intent, confidence)`` for a text, for an :class:`IntentModel` or
    anything with a Rasa-shaped ``parse(text)``."""
    if isinstance(model, IntentModel):
        def classify(text: str) -> Prediction:
            name, confidence, _ = model.classify(text)
            return name, float(confidence)

        return classify

    def parse(text: str) -> Prediction:
        intent = model.parse(text)["intent"]
        return str(intent["name"]), float(intent["confidence"])

    return parse


def evaluate_detailed(model: Any, examples: Sequence[Example], title: str = "") -> EvalResult:
    """Predict every example with ``model`` (an :class:`IntentModel` or a backend)."""
    predict = predictor(model)
    items = list(examples)
    return EvalResult(examples=items, predictions=[predict(ex.text) for ex in items],
                      title=title)


def evaluate(model: IntentModel, examples: Sequence[Example]) -> dict[str, Any]:
    """Score ``model`` (with its confidence fallback) against labelled ``examples``."""
    return evaluate_detailed(model, examples).report


def stratified_folds(
    labels: Sequence[str], folds: int = 5, seed: int = 0
) -> list[tuple[list[int], list[int]]]:
    """``(train indices, test indices)`` of ``folds`` stratified, shuffled folds.

    The split depends only on ``labels``, ``folds`` and ``seed``.
    """
    y = np.array(list(labels))
    if folds < 2:
        raise ValueError("cross-validation needs at least 2 folds")
    smallest = min((int((y == c).sum()) for c in set(labels)), default=0)
    if smallest < folds:
        raise ValueError(
            f"cross-validation with {folds} folds needs at least {folds} examples per intent"
        )
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return [
        ([int(i) for i in train_idx], [int(i) for i in test_idx])
        for train_idx, test_idx in splitter.split(np.zeros(len(y)), y)
    ]


def cross_validate_detailed(
    examples: Sequence[Example],
    folds: int = 5,
    config: ModelConfig | None = None,
    title: str = "",
    progress: Callable[[int, int], None] | None = None,
) -> EvalResult:
    """Stratified cross-validation; every example is predicted by the model of its fold.
    ``progress(done, folds)`` is called after each fold."""
    items = list(examples)
    config = config or ModelConfig()
    splits = stratified_folds([ex.intent for ex in items], folds, seed=config.seed)
    predictions: list[Prediction] = [("", 0.0)] * len(items)
    train_seconds: list[float] = []
    for done, (train_idx, test_idx) in enumerate(splits, start=1):
        model = train([items[i] for i in train_idx], config)
        train_seconds.append(model.train_seconds)
        predict = predictor(model)
        for i in test_idx:
            predictions[i] = predict(items[i].text)
        if progress is not None:
            progress(done, len(splits))
    return EvalResult(examples=items, predictions=predictions, title=title, folds=folds,
                      meta={"train_seconds": train_seconds})


def heldout_detailed(
    train_examples: Sequence[Example],
    heldout: Sequence[Example],
    config: ModelConfig | None = None,
    title: str = "",
) -> EvalResult:
    """Train on all of ``train_examples`` and predict every example of ``heldout``."""
    model = train(list(train_examples), config or ModelConfig())
    result = evaluate_detailed(model, heldout, title=title)
    result.meta["train_seconds"] = [model.train_seconds]
    result.meta["model"] = model.version
    return result


def cross_validate(
    examples: Sequence[Example],
    folds: int = 5,
    config: ModelConfig | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Stratified ``folds``-fold cross-validation; the held-out predictions are pooled."""
    return cross_validate_detailed(examples, folds, config, progress=progress).report


# --- files --------------------------------------------------------------------------------


def plot_confusion_matrix(
    y_true: Sequence[str], y_pred: Sequence[str], path: str | Path, title: str = ""
) -> Path:
    """Draw the confusion matrix of ``y_true`` and ``y_pred`` as a PNG at ``path``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    labels, matrix = confusion_matrix(y_true, y_pred)
    counts = np.array(matrix, dtype=float) if labels else np.zeros((1, 1))
    n = max(len(labels), 1)
    size = 2.2 + 1.1 * n
    fig = Figure(figsize=(size + 1.2, size), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    # Colour by row share, so that a small intent's errors show as clearly as a large one's.
    rows = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
    image = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the gold intent")
    ax.set_xticks(range(len(labels)))
    ax.set_yticks(range(len(labels)))
    ax.set_xticklabels(labels, rotation=35, ha="right")
    ax.set_yticklabels(labels)
    ax.set_xlabel("predicted intent")
    ax.set_ylabel("gold intent")
    for i in range(len(labels)):
        for j in range(len(labels)):
            value = int(counts[i, j])
            ax.text(j, i, str(value), ha="center", va="center", fontsize=9,
                    color="white" if share[i, j] > 0.5 else "black")
    ax.set_title(title or f"intent confusion matrix ({len(y_true)} examples)", fontsize=10)
    fig.tight_layout()
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target, format="png")
    return target


def _write_json(path: Path, obj: Any) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(obj, fh, ensure_ascii=False, indent=2)
            fh.write("\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_reports(result: EvalResult, out_dir: str | Path) -> dict[str, Path]:
    """Write ``intent_report.json``, ``intent_confusion_matrix.png`` and ``intent_errors.json``
    under ``out_dir``; returns their paths keyed ``report``, ``confusion_matrix``, ``errors``."""
    directory = Path(out_dir)
    directory.mkdir(parents=True, exist_ok=True)
    paths = {
        "report": directory / REPORT_FILE,
        "confusion_matrix": directory / CONFUSION_FILE,
        "errors": directory / ERRORS_FILE,
    }
    _write_json(paths["report"], result.report)
    _write_json(paths["errors"], result.errors)
    plot_confusion_matrix(result.y_true, result.y_pred, paths["confusion_matrix"],
                          title=result.title)
    return paths

