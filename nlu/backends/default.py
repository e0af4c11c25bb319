"""The default backend: gridbot's own linear model (:mod:`nlu.pipeline`), no downloads."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nlu.backends.base import BackendError
from nlu.normalize import normalize
from nlu.pipeline import INTENTS, IntentModel, ModelConfig, build_pipeline, data_version, train
from nlu.rasa_yaml import Example

FEATURES = ("both", "words", "chars")


def train_model(
    examples: Sequence[Example], config: ModelConfig, features: str = "both"
) -> IntentModel:
    """Train an :class:`IntentModel` on word and character n-grams, or on one of them."""
    if features == "both":
        return train(examples, config)
    if features not in FEATURES:
        raise ValueError(f"features must be one of {', '.join(FEATURES)}; got {features!r}")
    usable = [ex for ex in examples if normalize(ex.text)]
    if len({ex.intent for ex in usable}) < 2:
        raise ValueError("training data needs at least two intents")
    unknown = sorted({ex.intent for ex in usable} - set(INTENTS))
    if unknown:
        raise ValueError(f"unknown intents in training data: {', '.join(unknown)}")
    started = time.perf_counter()
    pipeline = build_pipeline(config)
    union = pipeline.named_steps["features"]
    union.transformer_list = [(n, t) for n, t in union.transformer_list if n == features]
    pipeline.fit([normalize(ex.text) for ex in usable], [ex.intent for ex in usable])
    return IntentModel(
        pipeline=pipeline,
        config=config,
        version=f"{data_version(usable, config)}-{features}",
        n_examples=len(usable),
        train_seconds=time.perf_counter() - started,
    )


class DefaultBackend:
    """gridbot's TF-IDF + logistic regression model behind the backend interface.

    Without a model of its own it uses the active model of ``model_dir`` (see
    :func:`nlu.service.get_model`), loaded on first use.
    """

    name = "default"

    def __init__(
        self,
        model: IntentModel | None = None,
        *,
        config: ModelConfig | None = None,
        features: str = "both",
        model_dir: Path | None = None,
    ) -> None:
        if features not in FEATURES:
            raise BackendError(f"features must be one of {', '.join(FEATURES)}")
        self.config = config or ModelConfig()
        self.features = features
        self.model_dir = model_dir
        self._model = model

    @property
    def model(self) -> IntentModel:
        if self._model is None:
            from nlu.service import get_model

            self._model = get_model(self.model_dir)
        return self._model

    @property
    def version(self) -> str:
        return self.model.version

    def warm(self) -> DefaultBackend:
        """Load the model and warm it (`IntentModel.warm`) now rather than on the first
        message."""
        self.model.warm()
        return self

    def parse(self, text: Any) -> dict[str, Any]:
        return self.model.parse(text)

    async def aparse(self, text: Any) -> dict[str, Any]:
        return self.model.parse(text)

    def explain(self, text: Any, parsed: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """The terms that weigh most for the intent (see :meth:`IntentModel.explain`)."""
        return self.model.explain(text, parsed=parsed)

    def train(self, examples: Sequence[Example]) -> dict[str, Any]:
        """Fit a new model on ``examples`` and use it from now on (it is not saved)."""
        self._model = train_model(examples, self.config, self.features)
        return {"version": self._model.version, "examples": self._model.n_examples,
                "train_seconds": self._model.train_seconds}

    def close(self) -> None:
        return None
