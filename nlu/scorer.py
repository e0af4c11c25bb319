"""Intent probabilities for one message, without scikit-learn's per-call overhead.

:class:`LinearScorer` does the arithmetic of ``pipeline.predict_proba([text])`` for gridbot's
TF-IDF + logistic regression pipeline (see :mod:`nlu.pipeline` and its analyzers in
:mod:`nlu.features`): term counts, sublinear TF times IDF, each feature block scaled to unit
length, a dot product with the weights, softmax. It touches only the few dozen terms present
in the text. Each term's IDF is folded into its row of weights when the scorer is built, and
the terms of every block are counted, fetched and summed together, so a message costs a
handful of numpy calls whatever its length.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from functools import partial
from operator import is_not
from typing import Any

import numpy as np

_known = partial(is_not, None)


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
        self.intercept: list[float] = intercept.tolist()
        vectorizers = [vect for _, vect in union.transformer_list]
        sublinear = {bool(vect.sublinear_tf) for vect in vectorizers}
        if len(sublinear) != 1:
            raise ValueError("feature blocks disagree on sublinear_tf")
        self.sublinear = sublinear.pop()
        # Per block, the analyzer and a lookup from term to row. Row j of ``rows`` holds
        # idf_j * weight_j for every class, then idf_j.
        self.analyzers: list[tuple[Callable[[str], list[Any]], Callable[[Any], int | None]]]
        self.analyzers = []
        blocks = []
        offset = 0
        for vect in vectorizers:
            vocabulary = {term: offset + col for term, col in vect.vocabulary_.items()}
            self.analyzers.append((vect.analyzer, vocabulary.get))
            idf = np.asarray(vect.idf_, dtype=np.float64)[:, None]
            blocks.append(np.hstack([coef[:, offset : offset + len(vocabulary)].T * idf, idf]))
            offset += len(vocabulary)
        self.rows = np.ascontiguousarray(np.vstack(blocks))

    def __call__(self, text: str) -> list[float]:
        """Probability of each class of the classifier, in its order."""
        counts: Counter[int] = Counter()
        starts = []  # where each block with terms present begins among the counted rows
        for analyze, lookup in self.analyzers:
            before = len(counts)
            counts.update(filter(_known, map(lookup, analyze(text))))
            if len(counts) > before:  # blocks own disjoint rows, so every new key is its own
                starts.append(before)
        scores = self.intercept.copy()
        if counts:
            n = len(counts)
            tf = np.fromiter(counts.values(), np.float64, n)
            if self.sublinear:
                tf = np.log(tf)
                tf += 1.0
            rows = self.rows[np.fromiter(counts, np.intp, n)]
            rows *= tf[:, None]  # tf * idf * weight for every class, then tf * idf
            values = rows[:, -1]
            sums = np.add.reduceat(rows, starts).tolist()
            squares = np.add.reduceat(values * values, starts).tolist()
            for block_sums, square in zip(sums, squares, strict=True):
                scale = 1.0 / math.sqrt(square)
                for k in range(len(scores)):
                    scores[k] += block_sums[k] * scale
        top = max(scores)
        exps = [math.exp(s - top) for s in scores]
        total = sum(exps)
        return [e / total for e in exps]
