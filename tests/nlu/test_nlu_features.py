from __future__ import annotations

import math
import os
from collections import Counter

import jieba
import pytest
from sklearn.feature_extraction.text import CountVectorizer

from nlu import speedups
from nlu.features import SKIP_CHARS, USERDICT, char_ngrams, jieba_tokens, word_ngrams
from nlu.features import segmenter as features_segmenter
from nlu.normalize import normalize
from nlu.pipeline import IntentModel
from nlu.rasa_yaml import load_rasa
from nlu.segment import Segmenter
from nlu.service import PACKAGED_DATA

TRICKY = [
    "",
    " ",
    "3号楼2单元1502电梯坏了",
    "abc 12 3号楼 x y",
    "a1b2c3 d",
    "  \r\n a\tb  ",
    "3#1502室漏水!!!",
    "A1栋-2单元_3%的灯",
    "物业电话0571-88886666打不通",
    "电梯电梯电梯",
    "楼上装修太吵了,每天早上七点就开始电钻",
    "ｗｉｆｉ坏了？",
    "中文english混合mixed123文本",
]


def estate_jieba() -> jieba.Tokenizer:
    jieba.setLogLevel(60)
    tk = jieba.Tokenizer()
    with USERDICT.open("rb") as userdict:
        tk.load_userdict(userdict)
    tk.check_initialized()
    return tk


def corpus() -> list[str]:
    texts = [ex.text for ex in load_rasa(PACKAGED_DATA).examples]
    return texts + [normalize(t) for t in texts] + TRICKY


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "python"])
def test_segmenter_gives_jiebas_words(compiled: bool) -> None:
    if compiled and speedups.built is None:
        pytest.skip("the compiled speedups were not built")
    reference = estate_jieba()
    taken = estate_jieba()
    segmenter = Segmenter(taken.FREQ, taken.total,
                          compiled=speedups.built if compiled else None)
    for text in corpus():
        words = reference.lcut(text, HMM=False)
        assert segmenter.words(text) == words, text
        skip = frozenset("，。！#")
        assert segmenter.tokens(text, skip) == [
            w for w in words if w not in skip and not w.isspace()], text


def test_speedups_are_built_where_gridbot_is_measured() -> None:
    if speedups.built is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("nlu/_speedups.c was not compiled; the parse figures assume it is")
        pytest.skip("the compiled speedups were not built (no C compiler?)")


def test_use_compiled_decides_what_segmenters_and_scorers_are_built_with(
        model: IntentModel) -> None:
    from nlu.scorer import LinearScorer

    try:
        speedups.use_compiled(False)
        assert speedups.active() is None
        taken = estate_jieba()
        assert Segmenter(taken.FREQ, taken.total).compiled is None
        assert LinearScorer(model.pipeline).compiled is None
        speedups.use_compiled(True)
        assert speedups.active() is speedups.built
        taken = estate_jieba()
        assert Segmenter(taken.FREQ, taken.total).compiled is speedups.built
        assert LinearScorer(model.pipeline).compiled is speedups.built
        # None given explicitly is the Python path, whatever is allowed
        assert LinearScorer(model.pipeline, compiled=None).compiled is None
    finally:
        speedups.use_compiled(True)


def test_jieba_tokens_drop_spaces_and_punctuation() -> None:
    tokens = jieba_tokens("电梯 坏了，快来！！")
    assert tokens[0] == "电梯"
    assert "".join(tokens) == "电梯坏了快来"


def test_word_ngrams_are_words_then_pairs() -> None:
    words = jieba_tokens("电梯坏了快来修")
    grams = word_ngrams("电梯坏了快来修", 1, 2)
    pairs = [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)]
    assert grams == words + pairs
    assert word_ngrams("电梯坏了快来修", 2, 2) == pairs


@pytest.mark.parametrize("analyzer,within_words", [("char_wb", True), ("char", False)])
@pytest.mark.parametrize("lo,hi", [(1, 3), (1, 4), (2, 3), (3, 5)])
def test_char_ngrams_match_scikit_learn(analyzer: str, within_words: bool, lo: int,
                                        hi: int) -> None:
    reference = CountVectorizer(analyzer=analyzer, ngram_range=(lo, hi),
                                lowercase=False).build_analyzer()
    for text in [normalize(t) for t in corpus()[::7]] + TRICKY:
        ours = char_ngrams(" ".join(text.split()), lo, hi, within_words=within_words)
        assert Counter(ours) == Counter(reference(" ".join(text.split()))), text


def _compiled():  # noqa: ANN202 - the extension module
    if speedups.built is None:
        pytest.skip("the compiled speedups were not built")
    return speedups.built


def test_trie_gives_what_the_dict_gives() -> None:
    compiled = _compiled()
    taken = estate_jieba()
    segmenter = Segmenter(dict(taken.FREQ), taken.total, compiled=None)
    costs = segmenter._cost  # log probabilities, None for prefixes only
    trie = compiled.Trie(costs)
    assert len(trie) == len(costs) and trie.nbytes > 0
    for word, cost in list(costs.items())[::7]:
        assert trie.get(word, "absent") == cost, word
    for absent in ("", "电梯电梯电梯电梯", "zzzzq", "\U00020000", "楼道灯坏了吗吗吗"):
        if absent not in costs:
            assert trie.get(absent, "absent") == "absent", absent
    counted = compiled.Trie(dict(estate_jieba().FREQ), math.log(taken.total))
    assert len(counted) == len(costs)
    for word, cost in list(costs.items())[::7]:
        assert counted.get(word) == cost, word
    vocab = {"电梯": 0, "电梯 坏": 1, " 电": 2, "a": 3}
    rows = compiled.Trie(vocab)
    assert [rows.get(k) for k in vocab] == [0, 1, 2, 3]
    assert rows.get("电") is None and rows.get("电", -1) == -1  # an inner node, not a key


def _block_counts(compiled, block: tuple, text: str) -> dict[int, int]:  # noqa: ANN001
    words = features_segmenter()
    return compiled.block_counts(words.trie, words.unknown, SKIP_CHARS, block, text)


@pytest.mark.parametrize("lo,hi,within_words",
                         [(1, 3, True), (1, 4, True), (2, 4, True), (4, 5, True), (1, 3, False),
                          (2, 4, False)])
def test_compiled_char_counts_match_char_ngrams(lo: int, hi: int, within_words: bool) -> None:
    compiled = _compiled()
    texts = [normalize(t) for t in corpus()[::2]] + TRICKY
    grams = [char_ngrams(t, lo, hi, within_words) for t in texts]
    vocab = {g: i for i, g in enumerate(sorted({g for gs in grams[::2] for g in gs}))}
    block = ("chars", compiled.Trie(vocab), lo, hi, within_words)
    for text, gs in zip(texts, grams, strict=True):
        counts = _block_counts(compiled, block, text)
        assert counts == Counter(vocab[g] for g in gs if g in vocab), text


@pytest.mark.parametrize("lo,hi", [(1, 2), (1, 3), (2, 3)])
def test_compiled_word_counts_match_word_ngrams(lo: int, hi: int) -> None:
    compiled = _compiled()
    texts = [normalize(t) for t in corpus()[::2]] + TRICKY
    grams = [word_ngrams(t, lo, hi) for t in texts]
    vocab = {g: i for i, g in enumerate(sorted({g for gs in grams[::2] for g in gs}))}
    block = ("words", compiled.Trie(vocab), lo, hi, True)
    for text, gs in zip(texts, grams, strict=True):
        counts = _block_counts(compiled, block, text)
        assert counts == Counter(vocab[g] for g in gs if g in vocab), text


def test_compiled_functions_refuse_bad_arguments() -> None:
    import numpy as np

    compiled = _compiled()
    words = features_segmenter()
    vocab = compiled.Trie({"a": 0, "b": 1})
    with pytest.raises(TypeError):
        compiled.Trie({"a": "x"})
    with pytest.raises(TypeError):
        compiled.Trie({"": 1.0})
    with pytest.raises(ValueError):
        compiled.Trie({"a": float("nan")})
    with pytest.raises(TypeError):
        compiled.cut_run({}, 0.0, "电梯", [])
    with pytest.raises(TypeError):
        compiled.block_counts(words.trie, words.unknown, "", ("chars", vocab, 1, 3, True),
                              b"bytes")
    with pytest.raises(ValueError):
        compiled.block_counts(words.trie, words.unknown, "", ("chars", vocab, 3, 1, True), "ab")
    with pytest.raises(ValueError):
        compiled.block_counts(words.trie, words.unknown, "", ("lines", vocab, 1, 3, True), "ab")

    def score(rows, text="a b"):  # noqa: ANN001, ANN202
        return compiled.score_text(rows, True, words.trie, words.unknown, "",
                                   (("chars", vocab, 1, 1, False),), text)

    with pytest.raises(TypeError):
        score(np.zeros(6))
    with pytest.raises(ValueError):
        score(np.zeros((1, 6)))  # row 1 (for "b") is outside the matrix
    with pytest.raises(TypeError):
        score(np.zeros((2, 6), dtype=np.float32))
    # idf 1 and weight 1 for both terms, one of each: (1 + 1) / sqrt(2) per class
    assert score(np.ones((2, 3))) == pytest.approx([2 ** 0.5, 2 ** 0.5])
    assert score(np.ones((2, 3)), "") == [0.0, 0.0]


def test_compiled_and_python_parsing_agree_on_random_text(model: IntentModel) -> None:
    import random

    from nlu.scorer import LinearScorer

    compiled = _compiled()
    fast = LinearScorer(model.pipeline, compiled=compiled)
    slow = LinearScorer(model.pipeline, compiled=None)
    taken = estate_jieba()
    fast_words = Segmenter(taken.FREQ, taken.total, compiled=compiled)
    again = estate_jieba()
    slow_words = Segmenter(again.FREQ, again.total, compiled=None)
    alphabet = ("电梯坏了漏水楼道灯不亮物业管理的是在有人号栋单元室" "abcXYZ0123456789"
                " \t\n\r\u3000,.!?#%&_-+，。！？、（）【】…" "🙂🚪\U00020000ｱ")
    rng = random.Random(7)
    for n in range(2050):  # the last 50 long, so that many walks share the trie at once
        size = rng.randint(0, 60) if n < 2000 else rng.randint(200, 800)
        text = "".join(rng.choice(alphabet) for _ in range(size))
        assert fast_words.words(text) == slow_words.words(text), repr(text)
        skip = frozenset("，。#")
        assert fast_words.tokens(text, skip) == slow_words.tokens(text, skip), repr(text)
        norm = normalize(text)
        if norm:
            for a, b in zip(fast(norm), slow(norm), strict=True):
                assert abs(a - b) < 1e-9, repr(text)
            # an explanation's terms, counted by the compiled walk or in Python (each block's
            # terms in the order its own walk meets them)
            fast_terms = fast.term_contrast(norm, 0, 1)
            slow_terms = slow.term_contrast(norm, 0, 1)
            assert fast_terms.keys() == slow_terms.keys(), repr(text)
            for term, weight in fast_terms.items():
                assert abs(weight - slow_terms[term]) < 1e-9, repr(text)


def test_fast_nfkc_and_half_width_give_what_the_slow_ways_give() -> None:
    import random
    import unicodedata

    from nlu.entities import _HALF_WIDTH, half_width
    from nlu.normalize import nfkc

    rng = random.Random(3)
    alphabet = "ＡＢａ１２，。！？：　—–−‐Ａ\u0301e\u0301ｶﾞ①㈱電梯abc ﬁ\U00020000"
    texts = corpus() + ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 14)))
                        for _ in range(5000)]
    for text in texts:
        assert nfkc(text) == unicodedata.normalize("NFKC", text), repr(text)
        assert half_width(text) == text.translate(_HALF_WIDTH), repr(text)
