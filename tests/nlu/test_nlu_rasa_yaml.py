from __future__ import annotations

import json
from pathlib import Path

import pytest

from nlu.rasa_yaml import (
    DataError,
    Example,
    TrainingData,
    dump_rasa,
    dumps_rasa,
    load_examples,
    load_jsonl,
    load_rasa,
    loads_rasa,
    parse_markup,
    render_markup,
)
from nlu.service import PACKAGED_DATA

SAMPLE = """version: "3.1"
nlu:
- intent: repair_request
  examples: |
    - [3号楼](building)电梯坏了
    - [十二号楼]{"entity": "building", "value": "12"}[2单元]{"entity": "unit", "value": "2"}漏水
    - 楼道灯不亮
- intent: none
  examples: |
    - 谢谢师傅
- synonym: lift
  examples: |
    - 电梯
    - 电悌
- regex: phone
  examples: |
    - 1[3-9]\\d{9}
- lookup: facility
  examples: |
    - 电梯
    - 井盖
"""


def test_markup_is_stripped_with_spans() -> None:
    text, ents = parse_markup('[十二号楼]{"entity": "building", "value": "12"}的[电梯](facility)坏了')
    assert text == "十二号楼的电梯坏了"
    assert ents == [
        {"entity": "building", "value": "12", "start": 0, "end": 4},
        {"entity": "facility", "value": "电梯", "start": 5, "end": 7},
    ]


def test_old_style_value_and_list_markup() -> None:
    text, ents = parse_markup("[3栋](building:3)和[对门](party)")
    assert text == "3栋和对门"
    assert ents[0]["value"] == "3"
    text, ents = parse_markup('[楼上]{"entity": "party", "role": "upstairs"}')
    assert ents == [{"entity": "party", "value": "楼上", "start": 0, "end": 2, "role": "upstairs"}]


def test_emoji_codes_are_not_entities() -> None:
    text, ents = parse_markup("电梯坏了[捂脸][捂脸]")
    assert text == "电梯坏了[捂脸][捂脸]"
    assert ents == []


def test_loads_every_section() -> None:
    data = loads_rasa(SAMPLE)
    assert [e.intent for e in data.examples] == ["repair_request"] * 3 + ["none"]
    assert data.examples[1].text == "十二号楼2单元漏水"
    assert data.examples[1].entities[1] == {"entity": "unit", "value": "2", "start": 4, "end": 7}
    assert data.synonyms == {"lift": ["电梯", "电悌"]}
    assert data.regexes == {"phone": [r"1[3-9]\d{9}"]}
    assert data.lookups == {"facility": ["电梯", "井盖"]}


def test_round_trip_sample(tmp_path: Path) -> None:
    data = loads_rasa(SAMPLE)
    path = tmp_path / "nlu.yml"
    dump_rasa(data, path)
    again = load_rasa(path)
    assert again == data
    assert dumps_rasa(again) == dumps_rasa(data)
    assert path.read_text(encoding="utf-8").startswith('version: "3.1"')


def test_round_trip_packaged_data() -> None:
    data = load_rasa(PACKAGED_DATA)
    assert loads_rasa(dumps_rasa(data)) == data


def test_render_is_inverse_of_parse() -> None:
    marked = '[3号楼]{"entity": "building", "value": "3"}[1502](room)漏水了'
    assert render_markup(*parse_markup(marked)) == marked


def test_dump_keeps_odd_text_intact() -> None:
    data = TrainingData(examples=[
        Example("- 开头是横线: 冒号 # 井号", "none"),
        Example("两行\n文字", "none"),
        Example("有[括号]和{花括号}", "none"),
    ])
    again = loads_rasa(dumps_rasa(data))
    assert [e.text for e in again.examples] == [
        "- 开头是横线: 冒号 # 井号", "两行 文字", "有[括号]和{花括号}"]


def test_malformed_yaml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yml"
    path.write_text('version: "3.1"\nnlu:\n- intent: none\n  examples: |\n    - ok\n  bad: [\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"bad\.yml:\d+"):
        load_rasa(path)


def test_unknown_item_and_bad_lines(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=":3: unknown nlu item"):
        loads_rasa('version: "3.1"\nnlu:\n- story: x\n')
    with pytest.raises(DataError, match="does not start with"):
        loads_rasa('nlu:\n- intent: none\n  examples: |\n    no dash here\n')
    with pytest.raises(DataError, match="bad entity annotation"):
        loads_rasa('nlu:\n- intent: none\n  examples: |\n    - [x]{"entity": }\n')


def test_jsonl_loading_and_errors(tmp_path: Path) -> None:
    good = tmp_path / "good.jsonl"
    rows = [{"text": "电梯坏了", "intent": "repair_request", "id": 1}, {"text": "早", "intent": "none"}]
    good.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n\n", encoding="utf-8")
    assert load_jsonl(good) == [Example("电梯坏了", "repair_request"), Example("早", "none")]
    assert load_examples(good) == load_jsonl(good)

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "a", "intent": "none"}\n{"text": "b", "intent": \n', encoding="utf-8")
    with pytest.raises(DataError, match=r"bad\.jsonl:2: malformed JSON"):
        load_jsonl(bad)
    missing = tmp_path / "missing.jsonl"
    missing.write_text('{"text": "a"}\n', encoding="utf-8")
    with pytest.raises(DataError, match=":1: 'text' and 'intent'"):
        load_jsonl(missing)
    with pytest.raises(DataError, match="no such file"):
        load_examples(tmp_path / "nope.jsonl")


def test_packaged_data_is_rich_enough() -> None:
    data = load_rasa(PACKAGED_DATA)
    counts: dict[str, int] = {}
    for ex in data.examples:
        counts[ex.intent] = counts.get(ex.intent, 0) + 1
    assert set(counts) == {"complaint", "repair_request", "micro_wish", "dispute", "none"}
    assert min(counts.values()) >= 150
    texts = [ex.text for ex in data.examples]
    assert len(texts) == len(set(texts)), "duplicate training examples"


def test_a_missing_colon_is_reported_on_its_own_line():
    """YAML's scanner notices a missing ':' where the next token starts; the error names the
    line that needs mending."""
    text = 'version: "3.1"\nnlu:\n- intent: none\n  examples |\n    - 你好\n'
    with pytest.raises(DataError, match=r"^nlu\.yml:4: malformed YAML"):
        loads_rasa(text, "nlu.yml")
