"""Messages in traditional characters are read as their simplified forms (nlu.traditional)."""

from __future__ import annotations

import pytest

from handlers.registry import SPECS, parse_command
from nlu import attributes
from nlu.normalize import normalize
from nlu.pipeline import IntentModel
from nlu.traditional import _TABLE, TRADITIONAL, is_traditional, to_simplified

# What an outside tester sent, which gridbot did not answer, and what gridbot must make of it.
TESTER = [
    ("燃氣味很重", "燃气味很重", "emergency", "gas"),
    ("煤氣味好重，樓道裡都是", "煤气味好重，楼道里都是", "emergency", "gas"),
    ("樓道燈壞了，晚上好黑", "楼道灯坏了，晚上好黑", "normal", None),
    ("樓道燈壞咗，好黑", "楼道灯坏咗，好黑", "normal", None),
]


def _gb2312_hanzi() -> str:
    """Every Chinese character of GB 2312, the simplified character set (rows 16-87)."""
    out = []
    for row in range(0xB0, 0xF8):
        for cell in range(0xA1, 0xFF):
            try:
                out.append(bytes([row, cell]).decode("gb2312"))
            except UnicodeDecodeError:
                continue
    return "".join(out)


def _reading(parsed: dict) -> tuple:
    return (parsed["intent"]["name"], parsed["intent"]["confidence"], parsed["urgency"],
            parsed["tier"], parsed["danger"])


@pytest.mark.parametrize(("text", "simplified", "urgency", "danger"), TESTER)
def test_the_testers_messages_are_repairs(model: IntentModel, text, simplified, urgency, danger):
    assert to_simplified(text) == simplified
    parsed = model.parse(text)
    assert parsed["intent"]["name"] == "repair_request"
    assert parsed["urgency"] == urgency
    assert parsed["danger"] == danger
    # read exactly as the same words in simplified characters, and kept as written
    assert _reading(parsed) == _reading(model.parse(simplified))
    assert parsed["text"] == text


@pytest.mark.parametrize(("text", "intent", "urgency", "tier", "danger"), [
    # a lift with someone in it
    ("救命！5號樓電梯卡在8樓，我婆婆被困在裡面出不來", "repair_request", "emergency", None,
     "trapped"),
    ("電梯困住人了，快打電話給物業", "repair_request", "emergency", None, "trapped"),
    # 著火 is 着火 in Taiwan and Hong Kong
    ("廚房著火了！冒煙很大", "repair_request", "emergency", None, "fire"),
    # Cantonese: 𨋢 is a lift, 困咗喺入面 trapped inside
    ("𨋢壞咗，有人困咗喺入面", "repair_request", "emergency", None, "trapped"),
    ("水管爆了，水一直噴，家裡都淹了", "repair_request", "emergency", None, None),
    # noise
    ("樓上每晚十二點後還在拖傢俱、跺腳，吵得我們根本睡不著", "complaint", None, None, None),
    ("樓下的廣場舞音響每天開到晚上十點，太吵了，能不能管一管", "complaint", None, None, None),
    # wishes
    ("希望社區能幫樓下獨居的陳婆婆買菜，她腿腳不方便", "micro_wish", None, None, None),
    ("我們家孩子想要一套課外書，希望有好心人幫忙", "micro_wish", None, None, None),
    # neighbours
    ("樓上漏水到我家天花板，跟他講了好幾次都不理，還罵人", "dispute", None, "medium", None),
    # no matter
    ("謝謝師傅，修好了", "none", None, None, None),
])
def test_traditional_messages(model: IntentModel, text, intent, urgency, tier, danger):
    parsed = model.parse(text)
    assert (parsed["intent"]["name"], parsed["urgency"], parsed["tier"], parsed["danger"]) == (
        intent, urgency, tier, danger)
    assert _reading(parsed) == _reading(model.parse(to_simplified(text)))


def test_buildings_units_and_rooms(model: IntentModel):
    parsed = model.parse("3號樓2單元的門禁壞了三天了")
    assert [(e["entity"], e["value"]) for e in parsed["entities"]] == [
        ("building", "3"), ("unit", "2"), ("facility", "door")]
    assert parsed["intent"]["name"] == "repair_request"


def test_attributes_read_traditional_text_alone():
    assert attributes.danger("煤氣味好重") == "gas"
    assert attributes.danger("廚房著火了") == "fire"
    assert attributes.danger("沒有人被困，已經出來了") is None
    assert attributes.urgency("電梯裡困住人了", "repair_request") == "emergency"
    assert attributes.tier("他拿著菜刀在樓道裡罵", "dispute") == "big"


def test_normalize_reads_simplified():
    assert normalize("＠王師傅 煤氣味好重！！[捂臉]") == normalize("@王师傅 煤气味好重!![捂脸]")
    assert normalize("煤氣味好重，樓道裡都是") == "煤气味好重,楼道里都是"


def test_simplified_text_is_left_as_it_is():
    hanzi = _gb2312_hanzi()
    assert len(hanzi) == 6763
    # 後 is in GB 2312 too, but only traditional writing uses it
    assert [ch for ch in hanzi if is_traditional(ch)] == ["後"]
    simplified = hanzi.replace("後", "")
    assert to_simplified(simplified) is simplified
    for text in ("煤气味好重，楼道里都是", "3号楼2单元电梯坏了", "显著", "干净", "于是", "哪吒",
                 "覆盖", "著名", "天台", "回复", "嗰个租客成日锁门", ""):
        assert to_simplified(text) is text
        assert not is_traditional(text)


@pytest.mark.parametrize(("text", "simplified"), [
    ("乾淨", "干净"),
    ("乾坤", "乾坤"),  # a word in which 乾 stays
    ("廚房著火了，著名的", "厨房着火了，著名的"),
    ("顯著的問題", "显著的问题"),
    ("我瞭解了，謝謝", "我了解了，谢谢"),
    ("請儘快回覆", "请尽快回复"),
    ("這個計畫", "这个计划"),
    ("然後呢", "然后呢"),
    ("衞生間漏水", "卫生间漏水"),
    ("3號樓2單元1202", "3号楼2单元1202"),
    ("樓上嗰家成日漏水", "楼上嗰家成日漏水"),  # 嗰 is Cantonese, kept as the model knows it
])
def test_words(text, simplified):
    assert to_simplified(text) == simplified


def test_one_character_for_one():
    """Positions in a converted text are positions in the original (entities, commands)."""
    keys = "".join(chr(k) for k in _TABLE)
    assert len(keys) > 2500 and len(TRADITIONAL) > 2500
    assert all(len(v) == 1 for v in _TABLE.values())
    for text in (keys, "廚房著火了，著名的" * 50, "乾坤乾淨瞭解回覆" + keys):
        assert len(to_simplified(text)) == len(text)


@pytest.mark.parametrize(("text", "word", "ticket", "arg", "remark"), [
    ("查詢 128", "查询", 128, "", ""),
    ("接單 677 馬上過去", "接单", 677, "馬上過去", ""),
    ("進展 128：已聯繫物業，明天上門", "进展", 128, "已聯繫物業，明天上門", ""),
    ("評價 128 五顆星", "评价", 128, "5", ""),
    ("評價 128 5 師傅辛苦了", "评价", 128, "5", "師傅辛苦了"),
    ("改類 12 報修", "改类", 12, "报修", ""),
    ("我的工單", "我的工单", None, "", ""),
])
def test_commands_in_traditional_characters(text, word, ticket, arg, remark):
    command = parse_command(text, to_simplified)
    assert command is not None and command.error is None
    # the word and a closed argument read in simplified; a note as written
    assert (command.word, command.ticket_id, command.arg, command.remark) == (
        word, ticket, arg, remark)


def test_command_words_fit_what_the_parser_converts():
    """handlers.commands.parse reads a traditional command word in a text's first 16 characters."""
    assert max(map(len, SPECS)) < 16


def test_conversation_is_not_a_command():
    assert parse_command("評價一下物業", to_simplified) is None
    assert parse_command("查詢3號樓的工單", to_simplified) is None
