from __future__ import annotations

import random

import pytest

from nlu.entities import EXTRACTOR, cn_to_int, extract
from nlu.rasa_yaml import load_rasa
from nlu.service import PACKAGED_DATA


def found(text: str) -> list[tuple[str, str, str]]:
    return [(e["entity"], e["value"], text[e["start"]:e["end"]]) for e in extract(text)]


def values(text: str, entity: str) -> list[str]:
    return [e["value"] for e in extract(text) if e["entity"] == entity]


@pytest.mark.parametrize(
    ("text", "building"),
    [
        ("3号楼电梯坏了", "3"),
        ("三号楼电梯坏了", "3"),
        ("3栋楼道灯不亮", "3"),
        ("3幢门禁坏了", "3"),
        ("3#楼道积水", "3"),
        ("3#楼2单元", "3"),
        ("十二号楼停电了", "12"),
        ("二十三号楼", "23"),
        ("第十二栋", "12"),
        ("１２号楼", "12"),
        ("１２＃", "12"),
        ("B栋电梯", "B"),
    ],
)
def test_building_forms(text: str, building: str) -> None:
    assert values(text, "building") == [building]


def test_floor_is_not_a_building() -> None:
    assert found("15楼楼道灯坏了")[:1] == [("floor", "15", "15楼")]
    assert values("15楼楼道灯坏了", "building") == []
    assert values("十五楼漏水", "floor") == ["15"]
    assert values("一楼大厅", "floor") == ["1"]
    assert values("五层的消防栓", "floor") == ["5"]
    assert values("负一层车库", "floor") == ["-1"]
    assert values("B2车库灯坏了", "floor") == ["-2"]


def test_building_then_floor() -> None:
    assert found("3号楼15楼漏水")[:2] == [("building", "3", "3号楼"), ("floor", "15", "15楼")]


def test_unit_and_room() -> None:
    assert found("2单元1502漏水")[:2] == [("unit", "2", "2单元"), ("room", "1502", "1502")]
    assert found("3号楼2单元1502") == [
        ("building", "3", "3号楼"), ("unit", "2", "2单元"), ("room", "1502", "1502")]
    assert values("1502室卫生间", "room") == ["1502"]
    assert values("3-2-1502", "building") == ["3"]
    assert values("3-2-1502", "unit") == ["2"]
    assert values("3-2-1502", "room") == ["1502"]
    assert values("2-1502漏水", "room") == ["2-1502"]
    assert values("楼上1602天天吵", "room") == ["1602"]
    assert values("1502的业主", "room") == ["1502"]


def test_numbers_that_are_not_rooms() -> None:
    assert values("2024年装修", "room") == []
    assert values("花了1500元", "room") == []
    assert values("打12345热线", "room") == []


def test_phones() -> None:
    assert values("电话13812345678", "phone") == ["13812345678"]
    assert values("打 138 1234 5678 找我", "phone") == ["13812345678"]
    assert values("+86 139-1234-5678", "phone") == ["13912345678"]
    assert values("物业021-62345678", "phone") == ["021-62345678"]
    assert values("客服400-820-1234", "phone") == ["400-820-1234"]
    assert values("１３８１２３４５６７８", "phone") == ["13812345678"]
    assert values("订单号123456789012", "phone") == []
    assert values("11012345678", "phone") == []


@pytest.mark.parametrize(
    ("text", "facility"),
    [
        ("电梯坏了", "lift"),
        ("楼道灯不亮", "light"),
        ("东门的路灯坏了好几个", "street_light"),
        ("门禁刷不开", "door"),
        ("可视对讲没声音", "intercom"),
        ("水管爆了", "water_pipe"),
        ("下水道堵了", "drain"),
        ("楼顶漏水", "roof"),
        ("配电箱冒火花", "power"),
        ("一股煤气味", "gas"),
        ("摄像头坏了", "camera"),
        ("路面有个大坑", "road"),
        ("道闸抬不起来", "barrier"),
        ("灭火器过期了", "fire_equipment"),
        ("井盖丢了", "manhole"),
    ],
)
def test_facilities(text: str, facility: str) -> None:
    assert values(text, "facility")[:1] == [facility]


@pytest.mark.parametrize(
    ("text", "facilities"),
    [
        ("小区大门口的路灯坏了", ["street_light"]),
        ("单元门口的台阶断了一块", ["road"]),
        ("电梯门口的地砖碎了", ["road"]),
        ("单元门口的雨棚塌了一半", []),
        ("大门口的门禁刷不开", ["door"]),
        ("门口机按键失灵", ["intercom"]),
        ("单元门关不上", ["door"]),
    ],
)
def test_a_place_at_a_door_is_no_door(text: str, facilities: list[str]) -> None:
    assert values(text, "facility") == facilities


def test_entity_shape() -> None:
    ent = extract("3号楼电梯")[0]
    assert ent == {"entity": "building", "value": "3", "start": 0, "end": 3, "extractor": EXTRACTOR}


def test_chinese_numerals() -> None:
    assert [cn_to_int(w) for w in ["一", "九", "十", "十二", "二十", "九十九", "一百零二", "三〇二"]] == [
        1, 9, 10, 12, 20, 99, 102, 302]
    assert cn_to_int("") is None
    assert cn_to_int("十a") is None


def test_demonstratives_are_not_buildings() -> None:
    assert values("这栋楼都停电了", "building") == []
    assert values("两栋楼之间的路灯", "building") == []
    assert values("整栋楼", "building") == []


@pytest.mark.parametrize(
    "text",
    ["", " ", "\x00\x01", "号楼" * 50, "#" * 100, "9" * 5000, "[捂脸]" * 300, "楼楼楼栋栋单元单元室",
     "🏢🏠", "３－２－１５０２", "第第第栋", "十十十十号楼", "零号楼", "-1-2-3-4-", "é" * 10],
)
def test_never_crashes(text: str) -> None:
    for ent in extract(text):
        assert 0 <= ent["start"] < ent["end"] <= len(text)


def test_random_garbage_never_crashes() -> None:
    rng = random.Random(7)
    alphabet = "0123456789一二三十百号楼栋幢#单元室层-—电话 ＃１２３abcAB@[]"
    for _ in range(500):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        for ent in extract(text):
            assert text[ent["start"]:ent["end"]]


def test_non_string_input() -> None:
    assert extract(None) == []  # type: ignore[arg-type]
    assert extract(12345) == []  # type: ignore[arg-type]


def test_annotations_in_training_data_agree() -> None:
    checked = 0
    for ex in load_rasa(PACKAGED_DATA).examples:
        for ann in ex.entities:
            if ann["entity"] not in {"building", "unit", "room", "floor"}:
                continue
            got = [(e["value"], e["start"], e["end"]) for e in extract(ex.text)
                   if e["entity"] == ann["entity"]]
            assert (ann["value"], ann["start"], ann["end"]) in got, ex.text
            checked += 1
    assert checked >= 10


def test_the_digit_run_check_only_spares_scans(monkeypatch: pytest.MonkeyPatch) -> None:
    """Patterns that need three digits in a row are skipped without them: same entities."""
    import re

    from nlu import entities

    rng = random.Random(11)
    alphabet = "0123456789１２３-# 号楼栋单元室层电话家的住在漏水B"
    texts = [ex.text for ex in load_rasa(PACKAGED_DATA).examples]
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 30)))
              for _ in range(3000)]
    guarded = [extract(t) for t in texts]
    monkeypatch.setattr(entities, "_DIGIT_RUN", re.compile(""))  # always "found"
    assert [extract(t) for t in texts] == guarded


def test_traditional_characters_name_the_same_places() -> None:
    assert [(e["entity"], e["value"]) for e in extract("9號樓2單元電梯又壞咗")] == [
        ("building", "9"), ("unit", "2"), ("facility", "lift")]
