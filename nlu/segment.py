"""Word segmentation: jieba's dictionary and answers, without its per-call overhead.

:class:`Segmenter` gives exactly the words ``jieba.Tokenizer.lcut(text, HMM=False)`` gives
(the same dictionary, the same most-probable path, the same tie-breaking and the same
handling of non-Chinese runs), but builds the word graph and walks it in one backward pass
over plain lists instead of jieba's dict of lists and generator expressions. With the compiled
speedups the dictionary is moved into a compact trie (:class:`nlu._speedups.Trie`): every
prefix of a span is then looked up with one probe per character and no Python objects, and
the Python dict of 350,000 words and their prefixes is freed.
"""

from __future__ import annotations

import math
import re
from typing import Any

from nlu import speedups

# jieba's own block patterns (jieba.re_han_default, re_skip_default, re_eng).
_HAN_RUN = re.compile("([\u4e00-\u9fd5a-zA-Z0-9+#&._%\\-]+)")
_SKIP = re.compile(r"(\r\n|\s)")
_ABSENT = object()
_ACTIVE: Any = object()  # "whatever nlu.speedups.active() says when the segmenter is built"
_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


class Segmenter:
    """Most-probable-path segmentation over jieba's dictionary.

    ``freq`` and ``total`` are a loaded ``jieba.Tokenizer``'s ``FREQ`` and ``total``: every
    dictionary word with its count, and every proper prefix of a word with 0. The segmenter
    takes ``freq`` over, so the tokenizer it came from must not be used again: with the
    compiled speedups the trie takes the counts as log probabilities and ``freq`` is emptied;
    without them the counts become log probabilities in place (a copy would cost some 15 MB
    per process). ``compiled`` is the speedups module to use, or None for the Python path;
    by default whatever :func:`nlu.speedups.active` answers when the segmenter is built.
    """

    def __init__(self, freq: dict[str, Any], total: int, compiled: Any = _ACTIVE) -> None:
        if compiled is _ACTIVE:
            compiled = speedups.active()
        log_total = math.log(total)
        # what jieba charges for a character that is not in the dictionary: log(1 / total)
        self._unknown = -log_total
        self.compiled = compiled
        self.trie: Any = None
        if compiled is not None:  # the trie takes the log probabilities; the dict goes
            self.trie = compiled.Trie(freq, log_total)
            freq.clear()
        else:
            for word, count in freq.items():
                freq[word] = math.log(count) - log_total if count else None
        # log P(word), or None for a prefix that is not itself a word
        self._cost: dict[str, float | None] = freq

    @property
    def unknown(self) -> float:
        """The log probability of a character that is not in the dictionary."""
        return self._unknown

    def tokens(self, text: str, skip: frozenset[str]) -> list[str]:
        """The words of ``text`` less whitespace and the words in ``skip``."""
        if self.trie is not None:
            return self.compiled.tokens(self.trie, self._unknown, text, skip)
        return [t for t in self.words(text) if t not in skip and not t.isspace()]

    def words(self, text: str) -> list[str]:
        """Every word of ``text`` in order, spaces and punctuation included, like jieba."""
        out: list[str] = []
        for i, block in enumerate(_HAN_RUN.split(text)):
            if not block:
                continue
            if i % 2:  # the split pattern's captured runs sit at odd positions
                if self.trie is not None:
                    self.compiled.cut_run(self.trie, self._unknown, block, out)
                else:
                    self._cut_run(block, out)
                continue
            for piece in _SKIP.split(block):
                if not piece:
                    continue
                if _SKIP.fullmatch(piece):
                    out.append(piece)
                else:
                    out.extend(piece)
        return out

    def _cut_run(self, run: str, out: list[str]) -> None:
        cost = self._cost.get
        n = len(run)
        score = [0.0] * (n + 1)
        end = list(range(n + 1))
        for k in range(n - 1, -1, -1):
            best = self._unknown + score[k + 1]
            best_end = -1
            i = k
            c = cost(run[k], _ABSENT)
            while c is not _ABSENT:
                if c is not None:
                    s = c + score[i + 1]
                    # jieba takes max over (score, end): equal scores go to the longer word
                    if best_end < 0 or s >= best:
                        best = s
                        best_end = i
                i += 1
                if i == n:
                    break
                c = cost(run[k : i + 1], _ABSENT)
            score[k] = best
            end[k] = best_end if best_end >= 0 else k
        # Walk the path; like jieba, single ASCII letters or digits in a row are joined.
        x = 0
        buf = ""
        while x < n:
            y = end[x] + 1
            word = run[x:y]
            if y - x == 1 and word in _ALNUM:
                buf += word
            else:
                if buf:
                    out.append(buf)
                    buf = ""
                out.append(word)
            x = y
        if buf:
            out.append(buf)
