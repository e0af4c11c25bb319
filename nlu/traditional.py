"""Traditional Chinese read as simplified, for everything that reads a message's words.

Residents in Hong Kong and Taiwan, older residents and phones set to traditional input write
煤氣味好重，樓道裡都是; the model was trained on simplified chat, and the danger and urgency
patterns, the entities and the command words are written in simplified characters.
:func:`to_simplified` reads such a text as 煤气味好重，楼道里都是. Nothing else changes: a
ticket and a reply keep the words as the resident wrote them.

The tables are OpenCC's, as shipped by ``opencc-python-reimplemented`` (Apache-2.0), read
once at import: ``TSCharacters`` (a traditional character and its simplified ones, the usual
one first), ``TSPhrases`` (the words where a character reads otherwise: 乾坤 stays, 瞭解 is
了解, 回覆 is 回复) and the Taiwan and Hong Kong variants (著 for 着: 著火 is 着火, but 著名
stays; 衞, 枱, 粧 …). Every mapping is one character for one character, so a converted text
is as long as the original and a position in one is the same position in the other (entity
offsets, command words).

Only a text holding a character that is traditional only (:data:`TRADITIONAL`: not used in
simplified writing, 電 燈 樓 氣 …) is converted, whole: a simplified message, the common case,
comes back as it was after one set check. Characters that simplified writing uses too (乾,
於, 著, 覆, 瞭 …) are converted only in a text found traditional. A character whose simplified
form lies outside the common CJK block (嗰, 餸: Cantonese, not traditional) stays as written,
as the model has seen it.
"""

from __future__ import annotations

import re
from importlib import resources

__all__ = ["TRADITIONAL", "is_traditional", "to_simplified"]

# Not in GB 2312's simplified repertoire only by accident of history: GB 2312 has 後 too.
_ALSO_TRADITIONAL = frozenset("後")


def _read(name: str) -> dict[str, list[str]]:
    """One OpenCC dictionary: each key with its values, the usual first."""
    text = resources.files("opencc").joinpath("dictionary", name).read_text(encoding="utf-8")
    table: dict[str, list[str]] = {}
    for line in text.splitlines():
        key, _, values = line.partition("\t")
        if key and values:
            table[key] = values.split()
    return table


def _common(text: str) -> bool:
    """Whether every character is in the CJK block that chat is typed in (not 𠮶, 𩠌)."""
    return all("\u4e00" <= ch <= "\u9fff" for ch in text)


def _gb2312(ch: str) -> bool:
    try:
        ch.encode("gb2312")
    except UnicodeEncodeError:
        return False
    return True


def _tables() -> tuple[dict[int, str], frozenset[str], dict[str, str]]:
    chars = _read("TSCharacters.txt")
    # Characters simplified writing uses: every simplified form, and a traditional character
    # that is its own simplified form in some words (乾坤, 於 the surname, 瞭望).
    simplified = {v for values in chars.values() for v in values}
    simplified |= {k for k, values in chars.items() if k in values}
    plain = {ord(k): values[0] for k, values in chars.items()
             if values[0] != k and _common(values[0])}
    table = dict(plain)
    for name in ("TWVariantsRev.txt", "HKVariantsRev.txt"):
        for key, values in _read(name).items():
            if len(key) != 1 or key in chars or key in simplified:
                continue
            final = values[0].translate(plain)
            if final != key and _common(final):
                table.setdefault(ord(key), final)
    traditional = frozenset(
        chr(k) for k in table
        if chr(k) not in simplified and (not _gb2312(chr(k)) or chr(k) in _ALSO_TRADITIONAL))
    # Words that read otherwise than character by character, keyed by what the characters
    # make of them (so that a text mixing both forms, 显著 among 電 and 樓, is read too).
    phrases: dict[str, str] = {}
    for key, values in _read("TSPhrases.txt").items():
        phrases.setdefault(key.translate(table), values[0])
    for name in ("TWVariantsRevPhrases.txt", "HKVariantsRevPhrases.txt"):
        for key, values in _read(name).items():
            phrases.setdefault(key.translate(table), values[0].translate(plain))
    phrases = {k: v for k, v in phrases.items() if len(k) == len(v) and k != v and _common(v)}
    return table, traditional, phrases


_TABLE, TRADITIONAL, _PHRASES = _tables()
_PHRASE = re.compile("|".join(map(re.escape, sorted(_PHRASES, key=len, reverse=True))))
# The characters at which a word reads otherwise than its characters: without one of them
# in a converted text, no word of _PHRASES can change it.
_PHRASE_CHARS = frozenset(
    a for key, value in _PHRASES.items() for a, b in zip(key, value, strict=True) if a != b)


def is_traditional(text: str) -> bool:
    """Whether ``text`` holds a character that is traditional only (電, 樓, 氣 …)."""
    return not TRADITIONAL.isdisjoint(text)


def to_simplified(text: str) -> str:
    """``text`` in simplified characters when it holds one that is traditional only, else
    ``text`` itself. Always as long as ``text``, position for position."""
    if TRADITIONAL.isdisjoint(text):
        return text
    out = text.translate(_TABLE)
    if not _PHRASE_CHARS.isdisjoint(out):
        out = _PHRASE.sub(lambda m: _PHRASES[m.group()], out)
    return out
