"""What the intent classifier sees of a normalised message: word and character n-grams.

Both functions are the analyzers of the classifier's two TF-IDF blocks, used as they are when
training and when parsing, so the two can never disagree.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from nlu.segment import Segmenter

USERDICT = Path(__file__).resolve().parent / "data" / "userdict.txt"

_segmenter_lock = threading.Lock()
_segmenter: Segmenter | None = None


def segmenter() -> Segmenter:
    """jieba's dictionary with the estate vocabulary, loaded once, quietly."""
    global _segmenter
    if _segmenter is None:
        with _segmenter_lock:
            if _segmenter is None:
                import jieba

                jieba.setLogLevel(logging.WARNING)
                tk = jieba.Tokenizer()
                if USERDICT.exists():  # opened here: jieba leaves a path it opens unclosed
                    with USERDICT.open("rb") as userdict:
                        tk.load_userdict(userdict)
                tk.check_initialized()
                _segmenter = Segmenter(tk.FREQ, tk.total)
    return _segmenter


# Single characters that are never words of a message (the compiled scorer takes them as a
# string, so every one must be one character).
SKIP_CHARS = " \t,.!?;:'\"()[]{}<>~`-_=+*/\\|@#$%^&，。！？；：、‘’“”（）【】《》…·～"
_SKIP_TOKEN = frozenset(SKIP_CHARS)


def jieba_tokens(text: str) -> list[str]:
    """Words of an already normalised text, punctuation and spaces dropped."""
    return segmenter().tokens(text, _SKIP_TOKEN)


def word_ngrams(text: str, lo: int = 1, hi: int = 2) -> list[str]:
    """jieba word ``lo``..``hi``-grams of a normalised text (n-grams joined by a space)."""
    words = jieba_tokens(text)
    grams = list(words) if lo == 1 else []
    for n in range(max(lo, 2), hi + 1):
        grams += [" ".join(words[i : i + n]) for i in range(len(words) - n + 1)]
    return grams


def char_ngrams(text: str, lo: int = 1, hi: int = 3, within_words: bool = True) -> list[str]:
    """Character ``lo``..``hi``-grams of a normalised text.

    With ``within_words`` each space-separated word is padded with a space on both sides and
    n-grams never cross words; a word shorter than ``n`` counts once, whole (scikit-learn's
    ``char_wb``). Otherwise n-grams run over the whole text (``char``).
    """
    grams: list[str] = []
    if not within_words:
        for n in range(lo, hi + 1):
            grams += [text[i : i + n] for i in range(len(text) - n + 1)]
        return grams
    for word in text.split():
        padded = f" {word} "
        size = len(padded)
        for n in range(lo, hi + 1):
            if size <= n:
                grams.append(padded[:n])
                break
            grams += [padded[i : i + n] for i in range(size - n + 1)]
    return grams
