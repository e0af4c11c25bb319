"""A reply quoting another message is read as the reply alone."""

from __future__ import annotations

import pytest

from handlers.quotes import reply_of

DASHES = "- - - - - - - - - - - - - - -"


@pytest.mark.parametrize("text,reply", [
    (f"「老孟：楼上那家天天吵架摔东西」\n{DASHES}\n别八卦了😂", "别八卦了😂"),
    (f"「王阿姨：3号楼2单元\n楼道灯坏了」\n{DASHES}\n早修好了，昨天就亮了", "早修好了，昨天就亮了"),
    (f"「王阿姨：电梯坏了」\n{DASHES}\n", ""),  # a quote and nothing more: nothing said
    ("「老孟：电梯坏了」\n———\n我家这边也是", "我家这边也是"),
    # Not a quote: kept as written.
    ("3号楼电梯坏了", "3号楼电梯坏了"),
    ("「电梯坏了」这事谁管", "「电梯坏了」这事谁管"),
    ("电梯坏了\n- - -\n楼道灯也坏了", "电梯坏了\n- - -\n楼道灯也坏了"),
])
def test_the_reply_is_read_without_the_message_it_quotes(text: str, reply: str) -> None:
    assert reply_of(text) == reply
