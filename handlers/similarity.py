"""Whether two residents' messages speak of the same matter, when no facility says so.

"楼道堆物太多了没人管" and "3号楼楼道里堆物太多了，也没人管管" are one matter in other
words. The measure is simple enough to explain to the resident who asks why their report
joined another: the share of two-character pieces (bigrams) the two texts have in common
(Jaccard: shared pieces / all pieces), after taking out what does not say what the matter
is — building, unit and room numbers, punctuation, particles and degree words (了, 的, 太,
很…), and the complaint's frame ("没人管", "有没有人管管").

The threshold sits in the gap between the pairs of `tests/handlers/test_similarity.py`:
the same matter in other words scores 0.42 or more there, different matters at most 0.20.
"""

from __future__ import annotations

import re

#: Two texts at least this similar are one matter.
THRESHOLD = 0.35
#: A text with fewer pieces than this says too little to be matched with another.
MIN_BIGRAMS = 2

# A number with what it counts: 3号楼, 2单元, 1502室, 12层, and bare digits.
_NUMBERS = re.compile(r"[0-9０-９]+\s*(?:号楼|号|栋|幢|单元|楼|室|层)?")
# How a complaint is framed, whatever it is about.
_FRAMES = re.compile(
    r"(?:有没有人|没有人|没人|无人)(?:管管|管|理|处理|清理|过问)"
    r"|管管吧|管一管|谁来管|快来人|怎么回事|能不能|可不可以|麻烦|请问")
# Particles, degree words and other characters that never name the matter.
_FILLER = frozenset("了的也都吗呢吧啊呀哦嘛又很太真还就在把被给让里么着过得地是有")
_NOT_A_WORD = re.compile(r"[\W_]+")


def essence(text: str) -> str:
    """The text as it is compared: what names the matter, nothing else."""
    text = _FRAMES.sub("", _NUMBERS.sub("", text))
    text = _NOT_A_WORD.sub("", text)
    return "".join(ch for ch in text if ch not in _FILLER)


def bigrams(text: str) -> frozenset[str]:
    core = essence(text)
    return frozenset(core[i:i + 2] for i in range(len(core) - 1))


def similarity(a: str, b: str) -> float:
    """Jaccard similarity of the two texts' bigrams (0.0 when either says too little)."""
    first, second = bigrams(a), bigrams(b)
    if len(first) < MIN_BIGRAMS or len(second) < MIN_BIGRAMS:
        return 0.0
    return len(first & second) / len(first | second)


def same_matter(a: str, b: str) -> bool:
    return similarity(a, b) >= THRESHOLD
