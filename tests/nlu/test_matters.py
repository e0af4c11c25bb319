"""Several matters in one message (nlu.matters): cut into clauses, grouped by matter, each
matter read again on its own."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from nlu import matters
from nlu.pipeline import IntentModel


def said(intent: str, confidence: float = 0.95, facility: str | None = None) -> dict[str, Any]:
    entities = [{"entity": "facility", "value": facility}] if facility else []
    return {"intent": {"name": intent, "confidence": confidence}, "entities": entities}


def test_clauses_are_cut_at_punctuation_and_spaces_without_a_lone_mention():
    assert matters.clauses("@网格小助手\u2005电梯坏了！！楼道灯也不亮 。") == ["电梯坏了", "楼道灯也不亮"]


def test_sure_matters_of_another_kind_or_facility_are_apart_and_the_rest_goes_with_them():
    assert matters.group([
        ("3号楼", said("none", 0.6)),  # before any matter: with the first
        ("电梯坏了", said("repair_request", facility="lift")),
        ("我妈下不了楼", said("none", 0.59)),  # goes with the matter before it
        ("垃圾也没人清", said("complaint")),
        ("电梯里还很臭", said("repair_request", 0.9)),  # the lift again: names no other
        ("楼道灯也不亮", said("repair_request", facility="light")),
        ("谁能帮忙买点菜", said("micro_wish", 0.7)),  # not sure enough to be apart
    ]) == ["3号楼，电梯坏了，我妈下不了楼，电梯里还很臭", "垃圾也没人清",
           "楼道灯也不亮，谁能帮忙买点菜"]
    # two complaints that name no facility are one matter
    assert matters.group([("楼上天天半夜吵", said("complaint")),
                          ("楼道里堆满了杂物", said("complaint"))]) == ["楼上天天半夜吵，楼道里堆满了杂物"]


@pytest.mark.parametrize(("text", "expected"), [
    ("3号楼电梯坏了，垃圾也没人清，还有楼下阿婆需要人帮忙买菜",
     [("3号楼电梯坏了", "repair_request"), ("垃圾也没人清", "complaint"),
      ("还有楼下阿婆需要人帮忙买菜", "micro_wish")]),
    ("电梯又坏了，楼道灯也不亮", [("电梯又坏了", "repair_request"), ("楼道灯也不亮", "repair_request")]),
    ("5号楼门口的路灯不亮，垃圾桶也满了没人倒",
     [("5号楼门口的路灯不亮", "repair_request"), ("垃圾桶也满了没人倒", "complaint")]),
    # one matter said in several clauses, or again, or with chatter, stays whole
    ("楼道灯坏了好几天了，晚上很黑，老人走路容易摔", None),
    ("今天天气不错，电梯坏了", None),
    ("电梯坏了！！！电梯坏了！！！", None),
    ("3号楼 电梯坏了 快来修", None),
    ("今天天气不错，大家周末愉快", None),
])
def test_what_the_model_makes_of_real_messages(model: IntentModel, text: str,
                                               expected: list[tuple[str, str]] | None) -> None:
    async def parse(words: str) -> dict[str, Any]:
        return model.parse(words)

    found = asyncio.run(matters.read(parse, text, model.parse(text)))
    assert (None if found is None else
            [(m["text"], m["intent"]["name"]) for m in found]) == expected


def test_each_matter_has_its_own_danger(model: IntentModel) -> None:
    async def parse(words: str) -> dict[str, Any]:
        return model.parse(words)

    text = "电梯坏了，有人被困在里面，楼道灯也不亮"
    lift, light = asyncio.run(matters.read(parse, text, model.parse(text)))
    assert (lift["text"], lift["urgency"], lift["danger"]) == ("电梯坏了，有人被困在里面",
                                                               "emergency", "trapped")
    assert (light["urgency"], light["danger"]) == ("normal", None)
