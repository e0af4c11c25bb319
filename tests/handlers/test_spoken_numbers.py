"""Numbers said aloud: speech recognition writes a command's ticket number and rating in
Chinese numerals (查询十二, 接单一百零三, 评价十二，五星), and they read as typed digits."""

from __future__ import annotations

import pytest

from handlers.commands import chinese_number, spoken_rating
from handlers.registry import parse_command


@pytest.mark.parametrize(("words", "number"), [
    ("一", 1), ("九", 9), ("十", 10), ("十二", 12), ("二十", 20), ("三十五", 35), ("九十九", 99),
    ("一百", 100), ("一百零三", 103), ("一百一十", 110), ("一百五", 150), ("两百", 200),
    ("一千", 1000), ("一千零五", 1005), ("两千零五十", 2050), ("两千三", 2300),
    ("九千九百九十九", 9999), ("一万", 10000), ("一万零三", 10003), ("一万二", 12000),
    ("一万二千", 12000), ("十万", 100000), ("两万三千四百五十六", 23456),
    # digit by digit, as a number is read out
    ("一二三", 123), ("一零三", 103), ("一〇三", 103), ("幺二", 12), ("零", 0), ("两", 2),
    # digits as typed
    ("12", 12), ("１２", 12),
])
def test_chinese_numerals_read_as_their_number(words: str, number: int):
    assert chinese_number(words) == number


@pytest.mark.parametrize("words", [
    "", "百", "千", "十二三", "一百零", "一百十", "十百", "百百", "两二", "万", "一万零", "零一百",
    "十二号楼", "评价", "一下", "12a",
])
def test_what_is_no_number_is_none(words: str):
    assert chinese_number(words) is None


@pytest.mark.parametrize(("said", "rating"), [
    ("五星", "5"), ("5分", "5"), ("五", "5"), ("５", "5"), ("五颗星", "5"), ("五星好评", "5"),
    ("两星", "2"), ("3 星", "3"), ("5", "5"), ("六星", "6"), ("很好", "很好"), ("一下", "一下"),
])
def test_a_rating_said_aloud_is_its_digits(said: str, rating: str):
    assert spoken_rating(said) == rating


@pytest.mark.parametrize(("text", "word", "ticket", "arg"), [
    ("查询十二", "查询", 12, ""),
    ("接单一百零三", "接单", 103, ""),
    ("评价十二 五星", "评价", 12, "5"),
    ("评价12 五分", "评价", 12, "5"),
    ("评价十二，五星", "评价", 12, "5"),
    ("评价 ＃１２ ４", "评价", 12, "4"),
    ("完成十二，已修好", "完成", 12, "已修好"),
    ("进展十二 已联系物业", "进展", 12, "已联系物业"),
    ("升级十二号", "升级", 12, ""),
    ("@gridbot 撤销三", "撤销", 3, ""),
])
def test_commands_said_aloud_parse_as_typed(text: str, word: str, ticket: int, arg: str):
    command = parse_command(text)
    assert command is not None and command.error is None
    assert (command.word, command.ticket_id, command.arg) == (word, ticket, arg)


@pytest.mark.parametrize("text", [
    "评价一下物业", "完成了吗", "完成一半了", "查询一下", "接单两个", "查询十二三", "升级一下吧",
])
def test_words_that_only_start_like_a_number_are_conversation(text: str):
    assert parse_command(text) is None


def test_a_rating_out_of_range_is_a_usage_answer():
    command = parse_command("评价十二 六星")
    assert command is not None and command.error == "评价 编号 1-5"
