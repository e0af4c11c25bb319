"""Intent probabilities for one message, without scikit-learn's per-call overhead.

:class:`LinearScorer` does the arithmetic of ``pipeline.predict_proba([text])`` for gridbot's
TF-IDF + logistic regression pipeline (see :mod:`nlu.pipeline` and its analyzers in
:mod:`nlu.features`): term counts, sublinear TF times IDF, each feature block scaled to unit
length (and multiplied by the block's weight in the union), a dot product with the weights,
softmax. It touches only the few dozen terms present in the text. Each term's IDF and its
block's weight are folded into its row of weights when the scorer is built.

With the compiled speedups (:mod:`nlu.speedups`) one C call does all of it for gridbot's own
analyzers: it segments the text over the dictionary trie, walks each block's vocabulary trie
along the text's words and characters, counts the terms found and sums their rows, without
making a Python object per n-gram; otherwise numpy does the sums.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from nlu import speedups
from nlu.features import SKIP_CHARS, char_ngrams, segmenter, word_ngrams

_ACTIVE: Any = object()  # "whatever nlu.speedups.active() says when the scorer is built"


class _Block:
    """One feature block: its analyzer and a vocabulary from term to row of the weights."""

    def __init__(self, analyze: Callable[[str], list[Any]], vocabulary: dict[Any, int]) -> None:
        self.analyze = analyze
        self.vocabulary = vocabulary
        self.lookup = vocabulary.get
        # gridbot's own analyzers can be run by the compiled speedups
        self.kind, self.lo, self.hi, self.within_words = "other", 0, 0, False
        if isinstance(analyze, partial) and not analyze.args:
            kw = analyze.keywords
            if analyze.func is char_ngrams:
                self.kind, self.lo, self.hi = "chars", kw.get("lo", 1), kw.get("hi", 3)
                self.within_words = bool(kw.get("within_words", True))
            elif analyze.func is word_ngrams:
                self.kind, self.lo, self.hi = "words", kw.get("lo", 1), kw.get("hi", 2)


class LinearScorer:
    """``predict_proba`` of a fitted FeatureUnion(TfidfVectorizer...) + LogisticRegression.

    ``compiled`` is the speedups module to use, or None for numpy; by default whatever
    :func:`nlu.speedups.active` answers when the scorer is built.
    """

    def __init__(self, pipeline: Any, compiled: Any = _ACTIVE) -> None:
        if compiled is _ACTIVE:
            compiled = speedups.active()
        union = pipeline.named_steps["features"]
        block_weights = union.transformer_weights or {}
        clf = pipeline.named_steps["classifier"]
        coef = np.asarray(clf.coef_, dtype=np.float64)
        intercept = np.asarray(clf.intercept_, dtype=np.float64)
        if coef.shape[0] == 1:  # two classes: scikit-learn keeps one row
            coef = np.vstack([-coef[0], coef[0]]) / 2.0
            intercept = np.array([-intercept[0], intercept[0]]) / 2.0
        self.intercept: list[float] = intercept.tolist()
        self.compiled = compiled
        vectorizers = [vect for _, vect in union.transformer_list]
        weights = [float(block_weights.get(name, 1.0)) for name, _ in union.transformer_list]
        sublinear = {bool(vect.sublinear_tf) for vect in vectorizers}
        if len(sublinear) != 1:
            raise ValueError("feature blocks disagree on sublinear_tf")
        self.sublinear = sublinear.pop()
        # Row j of ``rows`` holds idf_j * weight_j for every class, then idf_j.
        self.blocks: list[_Block] = []
        rows = []
        offset = 0
        for vect, weight in zip(vectorizers, weights, strict=True):
            vocabulary = {term: offset + col for term, col in vect.vocabulary_.items()}
            self.blocks.append(_Block(vect.analyzer, vocabulary))
            idf = np.asarray(vect.idf_, dtype=np.float64)[:, None]
            rows.append(np.hstack([coef[:, offset : offset + len(vocabulary)].T * idf * weight,
                                   idf]))
            offset += len(vocabulary)
        self.rows = np.ascontiguousarray(np.vstack(rows))
        self._shown_terms: tuple[np.ndarray, list[str]] | None = None
        # The compiled path: every block one of gridbot's analyzers, its vocabulary a trie.
        self.specs: tuple[tuple[Any, ...], ...] | None = None
        if compiled is not None and all(b.kind != "other" for b in self.blocks):
            self.specs = tuple(
                (b.kind, compiled.Trie(b.vocabulary), b.lo, b.hi, b.within_words)
                for b in self.blocks)

    def __call__(self, text: str) -> list[float]:
        """Probability of each class of the classifier, in its order."""
        if self.specs is not None:
            shares = self._compiled_shares(text)
        else:
            shares = self._numpy_shares(text)
        scores = [b + s for b, s in zip(self.intercept, shares, strict=True)]
        top = max(scores)
        exps = [math.exp(s - top) for s in scores]
        total = sum(exps)
        return [e / total for e in exps]

    def term_contrast(self, text: str, mine: int, theirs: int) -> dict[str, float]:
        """The terms of ``text`` as an explanation shows them (character n-grams without
        their word-edge spaces; terms shown alike added together), each with its share of
        class ``mine``'s score less its share of class ``theirs``'s (a score is its intercept
        plus the sum of the terms' shares). For explaining a decision."""
        shown, names = self._shown()
        words = segmenter()
        if self.specs is not None and words.trie is not None:
            by_id = self.compiled.contrast_text(self.rows, self.sublinear, words.trie,
                                                words.unknown, SKIP_CHARS, self.specs, shown,
                                                mine, theirs, text)
            return {names[name_id]: weight for name_id, weight in by_id.items()}
        known = [block for block in self._known_rows(text) if block]
        if not known:
            return {}
        # Every block's terms in one array, so that numpy is called a few times a text
        # rather than a few times a block: an explanation is made for every message.
        rows = [row for block in known for row in block]
        tf = np.array([count for block in known for count in block.values()], dtype=np.float64)
        if self.sublinear:
            tf = np.log(tf) + 1.0
        weights = self.rows[rows]
        values = tf * weights[:, -1]  # tf * idf
        sizes = [len(block) for block in known]
        starts = np.cumsum([0, *sizes[:-1]])
        lengths = np.repeat(np.sqrt(np.add.reduceat(values * values, starts)), sizes)
        contrast = (tf * (weights[:, mine] - weights[:, theirs]) / lengths).tolist()
        out: dict[str, float] = {}
        for name_id, weight in zip(shown[rows].tolist(), contrast, strict=True):
            if name_id >= 0:
                name = names[name_id]
                out[name] = out.get(name, 0.0) + weight
        return out

    def _shown(self) -> tuple[np.ndarray, list[str]]:
        """For each row of the weights, the index of its term as shown in ``names`` (-1 for a
        term that shows as nothing), made when first asked: only explanations need it."""
        if self._shown_terms is None:
            shown = np.full(len(self.rows), -1, dtype=np.int64)
            names: list[str] = []
            index: dict[str, int] = {}
            for block in self.blocks:
                for term, row in block.vocabulary.items():
                    name = " ".join(str(term).split())
                    if not name:
                        continue
                    name_id = index.get(name)
                    if name_id is None:
                        name_id = index[name] = len(names)
                        names.append(name)
                    shown[row] = name_id
            self._shown_terms = (shown, names)
        return self._shown_terms

    def _block_shares(self, text: str) -> list[tuple[list[int], np.ndarray]]:
        """Per block with terms present: the rows of its terms in the weights, and a row of
        class shares for each."""
        out = []
        for known in self._known_rows(text):
            if not known:
                continue
            rows = list(known)
            tf = np.array(list(known.values()), dtype=np.float64)
            if self.sublinear:
                tf = np.log(tf) + 1.0
            weights = self.rows[rows]
            values = tf * weights[:, -1]  # tf * idf
            shares = tf[:, None] * weights[:, :-1] / math.sqrt(float(values @ values))
            out.append((rows, shares))
        return out

    def _known_rows(self, text: str) -> list[dict[int, int]]:
        """Per block: the row of each term of the vocabulary in ``text`` with its count, in
        the order first seen — counted by the compiled speedups when they can, else in
        Python."""
        words = segmenter()
        if self.specs is not None and words.trie is not None:
            return [self.compiled.block_counts(words.trie, words.unknown, SKIP_CHARS, spec, text)
                    for spec in self.specs]
        out = []
        for block in self.blocks:
            counts: dict[int, int] = {}
            for term, count in Counter(block.analyze(text)).items():
                if (row := block.lookup(term)) is not None:
                    counts[row] = count
            out.append(counts)
        return out

    def _compiled_shares(self, text: str) -> list[float]:
        words = segmenter()
        if words.trie is None:  # a segmenter without the compiled trie: count in Python
            return self._numpy_shares(text)
        return self.compiled.score_text(self.rows, self.sublinear, words.trie, words.unknown,
                                        SKIP_CHARS, self.specs, text)

    def _numpy_shares(self, text: str) -> list[float]:
        shares = [0.0] * len(self.intercept)
        for _, block_shares in self._block_shares(text):
            for k, share in enumerate(block_shares.sum(axis=0).tolist()):
                shares[k] += share
        return shares
