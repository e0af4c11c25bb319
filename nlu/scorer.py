"""Intent probabilities for one message, without scikit-learn's per-call overhead.

:class:`LinearScorer` does the arithmetic of ``pipeline.predict_proba([text])`` for gridbot's
TF-IDF + logistic regression pipeline (see :mod:`nlu.pipeline` and its analyzers in
:mod:`nlu.features`): term counts, sublinear TF times IDF, each feature block scaled to unit
length, a dot product with the weights, softmax. It touches only the few dozen terms present
in the text, and each term's IDF is folded into its weights once, when the scorer is built, so
that a term that occurs once (nearly all of them) costs one lookup and one row of a sum.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np


class _Block:
    """One TF-IDF block: its analyzer, vocabulary and IDF-scaled weights."""

    def __init__(self, vect: Any, coef: np.ndarray) -> None:
        self.analyze: Callable[[str], list[Any]] = vect.analyzer
        self.vocabulary: dict[Any, int] = vect.vocabulary_
        self.sublinear = bool(vect.sublinear_tf)
        idf = np.asarray(vect.idf_, dtype=np.float64)
        self.idf_squared_array = idf * idf
        self.idf_squared: list[float] = self.idf_squared_array.tolist()
        # row j: idf_j times the weight of term j for every class
        self.rows = np.ascontiguousarray(coef.T * idf[:, None])

    def score(self, text: str) -> np.ndarray | None:
        """This block's share of the class scores, or None when no term of it is present."""
        vocab = self.vocabulary
        counts = Counter(col for col in map(vocab.get, self.analyze(text)) if col is not None)
        if not counts:
            return None
        cols = np.fromiter(counts, np.intp, len(counts))
        rows = self.rows[cols]
        if len(counts) == counts.total():  # every term once: tf is 1, sublinear or not
            square_sum = sum(map(self.idf_squared.__getitem__, counts))
            return rows.sum(axis=0) / math.sqrt(square_sum)
        tf = np.fromiter(counts.values(), np.float64, len(counts))
        if self.sublinear:
            tf = np.log(tf) + 1.0
        square_sum = float((tf * tf) @ self.idf_squared_array[cols])
        return (tf @ rows) / math.sqrt(square_sum)


class LinearScorer:
    """``predict_proba`` of a fitted FeatureUnion(TfidfVectorizer...) + LogisticRegression."""

    def __init__(self, pipeline: Any) -> None:
        union = pipeline.named_steps["features"]
        clf = pipeline.named_steps["classifier"]
        coef = np.asarray(clf.coef_, dtype=np.float64)
        intercept = np.asarray(clf.intercept_, dtype=np.float64)
        if coef.shape[0] == 1:  # two classes: scikit-learn keeps one row
            coef = np.vstack([-coef[0], coef[0]]) / 2.0
            intercept = np.array([-intercept[0], intercept[0]]) / 2.0
        self.intercept = intercept
        self.blocks: list[_Block] = []
        offset = 0
        for _, vect in union.transformer_list:
            width = len(vect.vocabulary_)
            self.blocks.append(_Block(vect, coef[:, offset : offset + width]))
            offset += width

    def __call__(self, text: str) -> np.ndarray:
        scores = self.intercept.copy()
        for block in self.blocks:
            share = block.score(text)
            if share is not None:
                scores += share
        scores -= scores.max()
        exp = np.exp(scores)
        return exp / exp.sum()
