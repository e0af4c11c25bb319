"""The intent classifier: features, training, parsing, saving.

Text is normalised (see :mod:`nlu.normalize`), then represented twice and the two TF-IDF
blocks are concatenated: jieba word uni/bigrams (with gridbot's estate vocabulary) and
character n-grams (see :mod:`nlu.features`). A multinomial logistic regression gives a
probability per intent; it is trained on the data's own mix of intents rather than balanced,
since most of what a building group says is no matter at all. When the best probability is
under ``threshold`` the message is treated as ``none``: a missed ticket can still be raised by
hand, a wrong one annoys a whole building.

Parsing a single message goes through :class:`nlu.scorer.LinearScorer` (the same arithmetic as
the scikit-learn pipeline, without its per-call overhead).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pickle
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import sklearn
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.svm import LinearSVC

from nlu import attributes, entities
from nlu.features import USERDICT, char_ngrams, segmenter, word_ngrams
from nlu.normalize import normalize
from nlu.rasa_yaml import Example
from nlu.scorer import LinearScorer

INTENTS: tuple[str, ...] = ("complaint", "repair_request", "micro_wish", "dispute", "none")
NONE = "none"
DATA_DIR = Path(__file__).resolve().parent / "data"
# Bumped whenever features or the saved format change, so old saved models are retrained.
FORMAT = "gridbot-nlu-5"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelConfig:
    """Everything that shapes a trained model besides its data."""

    classifier: str = "logreg"  # "logreg" or "svm" (LinearSVC, sigmoid-calibrated)
    C: float = 50.0
    class_weight: str | None = None
    word_ngrams: tuple[int, int] = (1, 2)
    char_ngrams: tuple[int, int] = (1, 3)
    char_analyzer: str = "char_wb"
    # each block's share of the features (FeatureUnion transformer weights)
    word_weight: float = 1.0
    char_weight: float = 1.0
    sublinear_tf: bool = True
    min_df: int = 1
    threshold: float = 0.35
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None) -> ModelConfig:
        if not raw:
            return cls()
        known = {f for f in cls.__dataclass_fields__}
        values = {k: v for k, v in raw.items() if k in known}
        for key in ("word_ngrams", "char_ngrams"):
            if key in values:
                values[key] = tuple(values[key])
        return cls(**values)


# --- model construction -------------------------------------------------------------------


def build_pipeline(config: ModelConfig) -> Pipeline:
    """An untrained scikit-learn pipeline for ``config``."""
    if config.char_analyzer not in ("char_wb", "char"):
        raise ValueError(f"unknown char_analyzer {config.char_analyzer!r}")
    features = FeatureUnion(
        [
            (
                "words",
                TfidfVectorizer(
                    analyzer=partial(word_ngrams, lo=config.word_ngrams[0],
                                     hi=config.word_ngrams[1]),
                    lowercase=False,
                    sublinear_tf=config.sublinear_tf,
                    min_df=config.min_df,
                ),
            ),
            (
                "chars",
                TfidfVectorizer(
                    analyzer=partial(char_ngrams, lo=config.char_ngrams[0],
                                     hi=config.char_ngrams[1],
                                     within_words=config.char_analyzer == "char_wb"),
                    lowercase=False,
                    sublinear_tf=config.sublinear_tf,
                    min_df=config.min_df,
                ),
            ),
        ],
        transformer_weights=(
            None if (config.word_weight, config.char_weight) == (1.0, 1.0)
            else {"words": config.word_weight, "chars": config.char_weight}),
    )
    classifier: Any
    if config.classifier == "logreg":
        classifier = LogisticRegression(
            C=config.C,
            class_weight=config.class_weight,
            solver="newton-cg",
            max_iter=1000,
            random_state=config.seed,
        )
    elif config.classifier == "svm":
        classifier = CalibratedClassifierCV(
            LinearSVC(C=config.C, class_weight=config.class_weight, random_state=config.seed),
            method="sigmoid",
            cv=5,
        )
    else:
        raise ValueError(f"unknown classifier {config.classifier!r}")
    return Pipeline([("features", features), ("classifier", classifier)])


def data_version(examples: Sequence[Example], config: ModelConfig) -> str:
    """Short sha256 over the training data, the configuration and the model format."""
    h = hashlib.sha256()
    h.update(FORMAT.encode())
    settings = config.to_dict()
    for key in ("word_weight", "char_weight"):  # unweighted blocks hash as before weights
        if settings[key] == 1.0:
            del settings[key]
    h.update(json.dumps(settings, sort_keys=True).encode())
    for ex in examples:
        if not normalize(ex.text):
            continue
        h.update(b"\x00")
        h.update(ex.intent.encode())
        h.update(b"\x01")
        h.update(ex.text.encode())
    if USERDICT.exists():
        h.update(USERDICT.read_bytes())
    return h.hexdigest()[:12]


@dataclass
class IntentModel:
    """A trained intent classifier plus gridbot's entity and attribute rules."""

    pipeline: Pipeline
    config: ModelConfig
    version: str
    n_examples: int
    trained_at: float = field(default_factory=time.time)
    train_seconds: float = 0.0
    source: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.threshold = float(self.config.threshold)
        self.classes: list[str] = [str(c) for c in self.pipeline.classes_]
        self._scorer: LinearScorer | None = (
            LinearScorer(self.pipeline) if self.config.classifier == "logreg" else None
        )

    # -- prediction ------------------------------------------------------------------------

    def probabilities(self, text: str) -> dict[str, float]:
        """Model probability of every intent (all of :data:`INTENTS`) for a normalised text."""
        if self._scorer is not None:
            probs = self._scorer(text)
        else:
            probs = self.pipeline.predict_proba([text])[0]
        out = {name: 0.0 for name in INTENTS}
        for name, p in zip(self.classes, probs, strict=True):
            out[name] = float(p)
        return out

    def predict(self, texts: Iterable[str]) -> list[str]:
        """Intent names (after the confidence fallback) for many raw texts."""
        return [self.classify(t)[0] for t in texts]

    def classify(self, text: Any) -> tuple[str, float, list[dict[str, Any]]]:
        """``(intent, confidence, ranking)`` for a raw text."""
        return self._classify(normalize(text))

    def _classify(self, norm: str) -> tuple[str, float, list[dict[str, Any]]]:
        if not norm:
            ranking = [{"name": NONE, "confidence": 1.0}] + [
                {"name": n, "confidence": 0.0} for n in INTENTS if n != NONE
            ]
            return NONE, 1.0, ranking
        probs = self.probabilities(norm)
        # sorted() is stable: equal probabilities keep the order of INTENTS
        ranking = [
            {"name": name, "confidence": round(probs[name], 4)}
            for name in sorted(INTENTS, key=lambda name: -probs[name])
        ]
        best = ranking[0]
        if best["name"] != NONE and probs[best["name"]] < self.threshold:
            return NONE, round(probs[NONE], 4), ranking
        return best["name"], best["confidence"], ranking

    def warm(self) -> IntentModel:
        """Make now what the first message would make (jieba's dictionary, the table of
        terms an explanation reads), so that it is not made with that message on a server's
        event loop; returns the model itself."""
        self.parse("预热")
        self.explain("预热")
        return self

    def explain(self, text: Any, top: int = 6,
                parsed: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """Why ``text`` got its intent: the terms that weigh most for it against the runner-up.

        ``{"intent", "rival", "terms": [{"term", "weight"}, ...]}``, heaviest first, where a
        weight is the term's share of the intent's score minus its share of the rival's.
        None for an empty text or a model without a linear scorer. ``parsed``, this model's
        :meth:`parse` of the same text, saves classifying it again: its intent and ranking
        name the intent and the rival.
        """
        norm = normalize(text if isinstance(text, str) else str(text or ""))
        if not norm or self._scorer is None:
            return None
        if parsed is not None and parsed.get("model") == self.version:
            intent, ranking = parsed["intent"]["name"], parsed["intent_ranking"]
        else:
            intent, _, ranking = self._classify(norm)
        rival = next(r["name"] for r in ranking if r["name"] != intent)
        if intent not in self.classes or rival not in self.classes:
            return None
        mine, theirs = self.classes.index(intent), self.classes.index(rival)
        weights = self._scorer.term_contrast(norm, mine, theirs)
        heaviest = sorted((kv for kv in weights.items() if kv[1] > 0), key=lambda kv: -kv[1])
        return {"intent": intent, "rival": rival,
                "terms": [{"term": t, "weight": round(w, 3)} for t, w in heaviest[:top]]}

    def parse(self, text: Any) -> dict[str, Any]:
        """The Rasa ``/model/parse`` answer for ``text`` plus ``urgency``, ``tier``, ``danger``
        and ``model``."""
        if not isinstance(text, str):
            text = "" if text is None else str(text)
        norm = normalize(text)
        intent, confidence, ranking = self._classify(norm)
        return {
            "text": text,
            "intent": {"name": intent, "confidence": confidence},
            "intent_ranking": ranking,
            "entities": entities.extract(text),
            "urgency": attributes.urgency(text, intent, norm),
            "tier": attributes.tier(text, intent, norm),
            "danger": attributes.danger(text, norm),
            "model": self.version,
        }

    # -- persistence -----------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """The model as bytes, for a file or a database row."""
        state = {
            "format": FORMAT,
            "sklearn": sklearn.__version__,
            "pipeline": self.pipeline,
            "config": self.config.to_dict(),
            "version": self.version,
            "n_examples": self.n_examples,
            "trained_at": self.trained_at,
            "train_seconds": self.train_seconds,
            "source": self.source,
            "meta": self.meta,
        }
        return pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)

    @classmethod
    def from_bytes(cls, data: bytes, where: str = "model") -> IntentModel:
        """Read what :meth:`to_bytes` wrote; ``ValueError`` if it is not one we can use."""
        state = pickle.loads(data)  # noqa: S301 - gridbot's own model, from its own storage
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            raise ValueError(f"{where}: not a {FORMAT} model")
        if state.get("sklearn") != sklearn.__version__:
            raise ValueError(
                f"{where}: saved with scikit-learn {state.get('sklearn')}, "
                f"running {sklearn.__version__}"
            )
        return cls(
            pipeline=state["pipeline"],
            config=ModelConfig.from_dict(state["config"]),
            version=state["version"],
            n_examples=state["n_examples"],
            trained_at=state["trained_at"],
            train_seconds=state.get("train_seconds", 0.0),
            source=state.get("source"),
            meta=state.get("meta") or {},
        )

    def save(self, path: str | Path) -> None:
        """Write the model atomically to ``path``."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".model-", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(self.to_bytes())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: str | Path) -> IntentModel:
        """Read a model written by :meth:`save`; ``ValueError`` if it is not one we can use."""
        return cls.from_bytes(Path(path).read_bytes(), str(path))

    def with_threshold(self, threshold: float) -> IntentModel:
        """A copy of this model with a different fallback threshold."""
        clone = replace(self, config=replace(self.config, threshold=threshold))
        return clone


def usable_examples(examples: Sequence[Example], text_of: Any) -> list[Example]:
    """The examples with text left after `text_of`; ValueError if they cannot train a model."""
    usable = [ex for ex in examples if text_of(ex.text)]
    if not usable:
        raise ValueError("no training examples")
    unknown = sorted({ex.intent for ex in usable} - set(INTENTS))
    if unknown:
        raise ValueError(f"unknown intents in training data: {', '.join(unknown)}")
    if len({ex.intent for ex in usable}) < 2:
        raise ValueError("training data needs at least two intents")
    return usable


def train(
    examples: Sequence[Example],
    config: ModelConfig | None = None,
    source: str | None = None,
) -> IntentModel:
    """Fit a model on ``examples`` (every intent in :data:`INTENTS` should appear)."""
    config = config or ModelConfig()
    usable = usable_examples(examples, normalize)
    started = time.perf_counter()
    segmenter()
    pipeline = build_pipeline(config)
    pipeline.fit([normalize(ex.text) for ex in usable], [ex.intent for ex in usable])
    elapsed = time.perf_counter() - started
    return IntentModel(
        pipeline=pipeline,
        config=config,
        version=data_version(usable, config),
        n_examples=len(usable),
        train_seconds=elapsed,
        source=source,
    )
