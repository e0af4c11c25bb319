from __future__ import annotations

from collections import Counter

import jieba
import pytest
from sklearn.feature_extraction.text import CountVectorizer

from nlu.features import USERDICT, char_ngrams, jieba_tokens, word_ngrams
from nlu.normalize import normalize
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


def test_segmenter_gives_jiebas_words() -> None:
    reference = estate_jieba()
    taken = estate_jieba()
    segmenter = Segmenter(taken.FREQ, taken.total)
    for text in corpus():
        assert segmenter.words(text) == reference.lcut(text, HMM=False), text


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
