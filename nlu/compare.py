"""Several intent pipelines cross-validated on the same stratified folds, side by side.

Every candidate is a backend (see :mod:`nlu.backends`) built fresh for each fold, trained on
the fold's training part and asked to ``parse`` each held-out message one at a time, which is
how gridbot serves. Reported per candidate: macro-F1 and accuracy of the pooled held-out
predictions (a Rasa-style report too), mean training time per fold, and parse latency
percentiles over every message of the folds' test parts. With a held-out set, every
candidate is also trained once on all the examples and scored on it (``heldout_macro_f1``,
``heldout_report``, ``gap`` = held-out minus cross-validated macro-F1).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from nlu.backends import Backend
from nlu.backends.base import decide, ranking_from
from nlu.backends.default import DefaultBackend
from nlu.evaluate import Prediction, errors, percentile, report, stratified_folds
from nlu.pipeline import ModelConfig
from nlu.rasa_yaml import Example

Factory = Callable[[], Backend]


@dataclass(frozen=True)
class Candidate:
    """A named way of building an untrained backend."""

    name: str
    description: str
    factory: Factory


def _default(config: ModelConfig, features: str = "both") -> Factory:
    return lambda: DefaultBackend(config=config, features=features)


def _embedding() -> Backend:
    from nlu.backends.embedding import EmbeddingBackend

    return EmbeddingBackend()


class EnsembleBackend:
    """The mean of several backends' intent rankings, with the default model's fallback to
    ``none`` under ``threshold``. For comparing pipelines only."""

    name = "ensemble"

    def __init__(self, members: Sequence[Backend], threshold: float = ModelConfig().threshold):
        self.members = list(members)
        self.threshold = threshold

    @property
    def version(self) -> str:
        return "+".join(m.version for m in self.members)

    def train(self, examples: Sequence[Example]) -> dict[str, Any]:
        return {m.name: m.train(examples) for m in self.members}

    def parse(self, text: Any) -> dict[str, Any]:
        totals: dict[str, float] = {}
        for member in self.members:
            for row in member.parse(text)["intent_ranking"]:
                totals[row["name"]] = totals.get(row["name"], 0.0) + row["confidence"]
        ranking = ranking_from({k: v / len(self.members) for k, v in totals.items()})
        intent, confidence = decide(ranking, self.threshold)
        return {"text": text, "intent": {"name": intent, "confidence": confidence},
                "intent_ranking": ranking}

    def close(self) -> None:
        for member in self.members:
            member.close()


def builtin_candidates(seed: int = 0) -> dict[str, Candidate]:
    """The pipelines ``gridbot nlu compare`` knows without a Rasa server."""
    base = ModelConfig(seed=seed)
    out = {
        "logreg": Candidate("logreg", "default: jieba words 1-2 + char_wb 1-3, logistic regression",
                            _default(base)),
        "char4": Candidate("char4", "jieba words 1-2 + char_wb 1-4, logistic regression",
                           _default(replace(base, char_ngrams=(1, 4)))),
        "char4-text": Candidate(
            "char4-text", "jieba words 1-2 + char 1-4 across word boundaries, logistic regression",
            _default(replace(base, char_ngrams=(1, 4), char_analyzer="char"))),
        "words-half": Candidate("words-half", "default features, word block weighted 0.5",
                                _default(replace(base, word_weight=0.5))),
        "chars-half": Candidate("chars-half", "default features, char block weighted 0.5",
                                _default(replace(base, char_weight=0.5))),
        "balanced": Candidate("balanced", "default features, classes weighted to balance",
                              _default(replace(base, class_weight="balanced"))),
        "svm": Candidate("svm", "same features, LinearSVC (C=1) with sigmoid calibration",
                         _default(ModelConfig(classifier="svm", C=1.0, seed=seed))),
        "words": Candidate("words", "jieba word 1-2 grams only, logistic regression",
                           _default(base, "words")),
        "chars": Candidate("chars", "char_wb 1-3 grams only, logistic regression",
                           _default(base, "chars")),
    }
    from nlu.backends import embedding

    if embedding.available():
        out["embedding"] = Candidate(
            "embedding", "USE multilingual v3 sentence embeddings + logistic regression",
            _embedding)
        out["ensemble"] = Candidate(
            "ensemble", "mean of logreg's and embedding's probabilities, then the 0.35 fallback",
            lambda: EnsembleBackend([DefaultBackend(config=base), _embedding()]))
    return out


def rasa_candidate(url: str, config: Any = None, token: str | None = None) -> Candidate:
    """Rasa at ``url``: every fold is trained on the server (``POST /model/train``)."""
    from nlu.backends.rasa import RasaBackend

    return Candidate("rasa", f"Rasa server at {url}",
                     lambda: RasaBackend(url, token=token, config=config))


def run_heldout(candidate: Candidate, examples: Sequence[Example],
                heldout: Sequence[Example]) -> dict[str, Any]:
    """Train ``candidate`` on all ``examples`` and score it on ``heldout``."""
    backend = candidate.factory()
    try:
        backend.train(list(examples))
        predictions: list[Prediction] = []
        for ex in heldout:
            intent = backend.parse(ex.text)["intent"]
            predictions.append((str(intent["name"]), float(intent["confidence"])))
    finally:
        backend.close()
    rep = report([ex.intent for ex in heldout], [p[0] for p in predictions])
    return {"heldout_macro_f1": rep["macro avg"]["f1-score"],
            "heldout_accuracy": rep["accuracy"], "heldout_report": rep,
            "heldout_errors": len(errors(heldout, predictions))}


def run_candidate(
    candidate: Candidate,
    examples: Sequence[Example],
    splits: Sequence[tuple[Sequence[int], Sequence[int]]],
    heldout: Sequence[Example] | None = None,
) -> dict[str, Any]:
    """Train and score ``candidate`` on every fold of ``splits``, then on ``heldout``."""
    items = list(examples)
    predictions: list[Prediction] = [("", 0.0)] * len(items)
    train_seconds: list[float] = []
    latencies: list[float] = []
    fold_f1: list[float] = []
    for train_idx, test_idx in splits:
        backend = candidate.factory()
        try:
            started = time.perf_counter()
            backend.train([items[i] for i in train_idx])
            train_seconds.append(time.perf_counter() - started)
            for i in test_idx:
                started = time.perf_counter()
                intent = backend.parse(items[i].text)["intent"]
                latencies.append(time.perf_counter() - started)
                predictions[i] = (str(intent["name"]), float(intent["confidence"]))
        finally:
            backend.close()
        fold_f1.append(report([items[i].intent for i in test_idx],
                              [predictions[i][0] for i in test_idx])["macro avg"]["f1-score"])
    rep = report([ex.intent for ex in items], [p[0] for p in predictions])
    out = {
        "name": candidate.name,
        "description": candidate.description,
        "macro_f1": rep["macro avg"]["f1-score"],
        "accuracy": rep["accuracy"],
        "fold_macro_f1": fold_f1,
        "fold_macro_f1_stdev": statistics.pstdev(fold_f1) if len(fold_f1) > 1 else 0.0,
        "train_seconds_mean": statistics.fmean(train_seconds) if train_seconds else 0.0,
        "train_examples_mean": statistics.fmean(len(tr) for tr, _ in splits) if splits else 0.0,
        "parse_ms_p50": 1000 * percentile(latencies, 50),
        "parse_ms_p99": 1000 * percentile(latencies, 99),
        "parse_ms_max": 1000 * max(latencies, default=0.0),
        "report": rep,
        "errors": len(errors(items, predictions)),
    }
    if heldout:
        out.update(run_heldout(candidate, items, heldout))
        out["gap"] = out["heldout_macro_f1"] - out["macro_f1"]
    return out


def compare(
    examples: Sequence[Example],
    candidates: Sequence[Candidate],
    folds: int = 5,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
    heldout: Sequence[Example] | None = None,
) -> dict[str, Any]:
    """Cross-validate every candidate on the same ``folds`` stratified folds and, given
    ``heldout``, score each one trained on all ``examples`` on it."""
    items = list(examples)
    if not candidates:
        raise ValueError("no pipelines to compare")
    splits = stratified_folds([ex.intent for ex in items], folds, seed=seed)
    results = []
    for candidate in candidates:
        if progress is not None:
            progress(f"{candidate.name}: {folds} folds" + (", then the held-out set"
                                                             if heldout else ""))
        results.append(run_candidate(candidate, items, splits, heldout))
    out = {"examples": len(items), "folds": folds, "seed": seed, "pipelines": results}
    if heldout:
        out["heldout_examples"] = len(heldout)
    return out


def format_table(result: dict[str, Any]) -> str:
    """The comparison as a plain-text table, one row per pipeline."""
    width = max([len("pipeline")] + [len(row["name"]) for row in result["pipelines"]]) + 2
    held = "heldout_examples" in result
    header = (f"{'pipeline':<{width}}{'macro-F1':>9}{'±':>7}{'accuracy':>10}"
              + (f"{'held-out':>10}{'gap':>8}{'min rec':>9}" if held else "")
              + f"{'train s':>9}{'p50 ms':>9}{'p99 ms':>9}")
    title = (f"{result['folds']}-fold cross-validation on {result['examples']} examples "
             f"(seed {result['seed']}, the same folds for every pipeline)")
    if held:
        title += (f"; held-out: trained on all of them, scored on "
                  f"{result['heldout_examples']} held-out messages (macro-F1, lowest recall)")
    lines = [title, header, "-" * len(header)]
    for row in result["pipelines"]:
        held_cells = ""
        if held:
            recalls = [v["recall"] for k, v in row["heldout_report"].items()
                       if isinstance(v, dict) and "avg" not in k and v["support"]]
            held_cells = (f"{row['heldout_macro_f1']:>10.4f}{row['gap']:>+8.3f}"
                          f"{min(recalls, default=0.0):>9.3f}")
        lines.append(
            f"{row['name']:<{width}}{row['macro_f1']:>9.4f}{row['fold_macro_f1_stdev']:>7.3f}"
            f"{row['accuracy']:>10.4f}{held_cells}{row['train_seconds_mean']:>9.2f}"
            f"{row['parse_ms_p50']:>9.3f}{row['parse_ms_p99']:>9.3f}"
        )
    lines.append("")
    for row in result["pipelines"]:
        lines.append(f"{row['name']}: {row['description']}")
    return "\n".join(lines)
