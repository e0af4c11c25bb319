"""A reply that quotes another message, as WeChat writes it into the text a bridge passes on:

    「老孟：楼上那家天天吵架摔东西」
    - - - - - - - - - - - - - - -
    别八卦了😂

Only the reply is the sender's own words; the quoted message was someone else's (and was
read when it was sent). gridbot reads the reply alone: the quote made a ticket in the
quoter's name, or made them a follower of a matter they only talked about.
"""

from __future__ import annotations

import re

#: The quote (「name：words」, over lines) and the dashed line under it, at the start.
_QUOTE = re.compile(r"^\s*「[^」]*」\s*\n[ \t]*(?:[-－—][ \t]*){3,}\n?")


def reply_of(text: str) -> str:
    """The words of `text` after a quoted message, or `text` as it is when it quotes none."""
    found = _QUOTE.match(text)
    return text[found.end():].strip() if found else text
