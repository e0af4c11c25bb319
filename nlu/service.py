"""The process-wide active model.

The active model lives in ``<model_dir>/active.pkl`` (``./var/models`` by default). It is
loaded once per process. A saved model is used when it can be read by this version of
gridbot and, if it was trained from the packaged ``nlu/data/nlu.yml``, when its version still
matches that file; a model trained from an admin's own data is kept until retrained.
Otherwise the packaged data is trained on and the result saved as the active model.

gridbot also ships ``nlu/data/heldout.yml``, messages written apart from the training data
and kept for evaluation only. :func:`training_examples` is how every training path reads its
data, and it refuses that file (and ``real_eval.jsonl``, outside data kept for evaluation):
a figure measured on examples the model was trained on means nothing.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

from nlu.evaluate import cross_validate
from nlu.pipeline import IntentModel, ModelConfig, data_version, train
from nlu.rasa_yaml import DataError, Example, load_examples, load_rasa

PACKAGED_DATA = Path(__file__).resolve().parent / "data" / "nlu.yml"
PACKAGED_HELDOUT = Path(__file__).resolve().parent / "data" / "heldout.yml"
# Files kept for evaluation only, by name: the packaged held-out set and the outside messages.
EVALUATION_ONLY = frozenset({"heldout.yml", "heldout.yaml", "heldout.jsonl", "real_eval.jsonl"})
DEFAULT_MODEL_DIR = Path("var") / "models"
ACTIVE = "active.pkl"
PACKAGED = "packaged"

log = logging.getLogger(__name__)

_lock = threading.Lock()
_cache: dict[Path, IntentModel] = {}


def packaged_examples() -> list[Example]:
    """The training examples shipped with gridbot (``nlu/data/nlu.yml`` and nothing else)."""
    return load_rasa(PACKAGED_DATA).examples


def evaluation_only(path: str | Path) -> bool:
    """Whether ``path`` is a file kept for evaluation only, never to be trained on."""
    p = Path(path)
    return p.name.lower() in EVALUATION_ONLY or p.resolve() == PACKAGED_HELDOUT


def training_examples(path: str | Path | None = None) -> list[Example]:
    """Examples to train on from ``path`` (default: the packaged training data).

    DataError for a file kept for evaluation only (see :func:`evaluation_only`).
    """
    if path is None:
        return packaged_examples()
    if evaluation_only(path):
        raise DataError(f"{path}: kept for evaluation only; gridbot never trains on it")
    return load_examples(path)


def packaged_heldout() -> Path | None:
    """The packaged held-out set, when this copy of gridbot has one."""
    return PACKAGED_HELDOUT if PACKAGED_HELDOUT.is_file() else None


def _usable(model: IntentModel) -> bool:
    if model.source != PACKAGED:
        return True
    return model.version == data_version(packaged_examples(), ModelConfig())


def get_model(model_dir: Path | None = None) -> IntentModel:
    """The active model for ``model_dir``, loaded or trained on first use, then cached."""
    directory = Path(model_dir) if model_dir is not None else DEFAULT_MODEL_DIR
    key = directory.resolve()
    model = _cache.get(key)
    if model is not None:
        return model
    with _lock:
        model = _cache.get(key)
        if model is not None:
            return model
        path = directory / ACTIVE
        if path.exists():
            try:
                loaded = IntentModel.load(path)
                if _usable(loaded):
                    model = loaded
                else:
                    log.info("active NLU model %s is stale; retraining", loaded.version)
            except Exception as exc:  # unreadable, foreign or from another library version
                log.warning("cannot use %s (%s); retraining", path, exc)
        if model is None:
            model = train(packaged_examples(), ModelConfig(), source=PACKAGED)
            try:
                model.save(path)
            except OSError as exc:
                log.warning("cannot save the NLU model to %s: %s", path, exc)
            log.info("trained NLU model %s on %d examples in %.1fs", model.version,
                     model.n_examples, model.train_seconds)
        _cache[key] = model
        return model


def set_active(model: IntentModel, model_dir: Path | None = None) -> Path:
    """Save ``model`` as the active model of ``model_dir`` and use it in this process."""
    directory = Path(model_dir) if model_dir is not None else DEFAULT_MODEL_DIR
    path = directory / ACTIVE
    model.save(path)
    with _lock:
        _cache[directory.resolve()] = model
    return path


def reset_cache() -> None:
    """Forget the cached models (the next :func:`get_model` loads from disk again)."""
    with _lock:
        _cache.clear()


def train_and_save(
    data_path: Path | None = None,
    model_dir: Path | None = None,
    config: ModelConfig | None = None,
    folds: int = 5,
) -> tuple[IntentModel, dict[str, Any]]:
    """Train on ``data_path`` (default: the packaged data), save it as the model file that
    `gridbot nlu parse` and `eval` use in ``model_dir``, and report. (The server's model is
    chosen in the database: `gridbot nlu retrain` and `activate`.)

    The report has ``version``, ``examples`` (read), ``used`` (trained on), ``intents``
    (count per intent, of those read),
    ``train_seconds``, ``path`` and, when ``folds`` >= 2 and every intent has that many
    examples, ``cross_validation`` (a Rasa-style intent report) and ``macro_f1``.
    """
    config = config or ModelConfig()
    packaged = data_path is None or Path(data_path).resolve() == PACKAGED_DATA
    examples = training_examples(data_path)
    model = train(examples, config, source=PACKAGED if packaged else str(data_path))
    path = set_active(model, model_dir)
    counts: dict[str, int] = {}
    for ex in examples:
        counts[ex.intent] = counts.get(ex.intent, 0) + 1
    result: dict[str, Any] = {
        "version": model.version,
        "examples": len(examples),
        # Examples with nothing left once normalised (an emoji alone) teach nothing.
        "used": model.n_examples,
        "intents": counts,
        "train_seconds": round(model.train_seconds, 3),
        "path": str(path),
    }
    if folds >= 2 and counts and min(counts.values()) >= folds:
        started = time.perf_counter()
        cv = cross_validate(examples, folds=folds, config=config)
        result["cross_validation"] = cv
        result["macro_f1"] = round(cv["macro avg"]["f1-score"], 4)
        result["cv_seconds"] = round(time.perf_counter() - started, 3)
    return model, result
