"""Several matters in one message (nlu.matters): cut into clauses, grouped by matter, each
matter read again on its own."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from handlers import notice_match
from nlu import matters
from nlu.pipeline import IntentModel


def said(intent: str, confidence: float = 0.95, facility: str | None = None) -> dict[str, Any]:
    entities = [{"entity": "facility", "value": facility}] if facility else []
    return {"intent": {"name": intent, "confidence": confidence}, "entities": entities}


def test_clauses_are_cut_at_punctuation_and_spaces_without_a_lone_mention():
    assert matters.clauses("@网格小助手\u2005电梯坏了！！楼道灯也不亮 。") == ["电梯坏了", "楼道灯也不亮"]


def test_a_sure_clause_of_another_kind_starts_another_matter_and_the_rest_goes_with_one():
    assert matters.group([
        ("3号楼", said("none", 0.6)),  # before any matter: with the first
        ("电梯坏了", said("repair_request", 0.85, facility="lift")),
        ("我妈下不了楼", said("none", 0.59)),  # goes with the matter before it
        ("垃圾也没人清", said("complaint")),
        ("电梯里还很臭", said("repair_request", facility="lift")),  # more of the lift
        ("楼道灯也不亮", said("repair_request", facility="light")),  # two repairs are one
        ("谁能帮忙买点菜", said("micro_wish", 0.85)),  # not sure enough to be apart
        ("有没有人能帮我扛米上楼", said("micro_wish")),
    ]) == ["3号楼，电梯坏了，我妈下不了楼，电梯里还很臭，楼道灯也不亮", "垃圾也没人清，谁能帮忙买点菜",
           "有没有人能帮我扛米上楼"]


@pytest.mark.parametrize("clauses", [
    # two complaints are one matter
    [("楼上天天半夜吵", said("complaint")), ("楼道里堆满了杂物", said("complaint"))],
    # what follows from a matter, or that nobody handles it, is no other matter
    [("垃圾桶坏了", said("repair_request", facility="door")), ("垃圾洒一地", said("complaint"))],
    [("有人在池塘里洗拖把", said("complaint")), ("水都黑了", said("repair_request"))],
    [("电梯坏了", said("repair_request", facility="lift")), ("物业也不管", said("complaint"))],
    # a repair naming nothing broken starts nothing
    [("下雨出不了门", said("repair_request")), ("谁能帮忙送一点上去", said("micro_wish"))],
])
def test_one_matter_in_several_clauses_stays_one(clauses):
    assert len(matters.group(clauses)) <= 1


def test_a_dispute_is_a_story_read_whole_and_its_wish_to_be_settled_is_its_own():
    said_apart = {"对门天天把垃圾袋放门口": said("complaint"), "我说了她一句": said("dispute"),
                  "谁能帮忙调解一下": said("micro_wish")}

    async def parse(words: str) -> dict[str, Any]:
        return said_apart.get(words, said("none", 0.5))

    text = "对门天天把垃圾袋放门口，我说了她一句，谁能帮忙调解一下"
    assert asyncio.run(matters.read(parse, text, said("dispute"))) is None
    # a quarrel inside a list of matters is one of them; asking to settle it is part of it
    assert matters.group([("楼上漏水到我家", said("repair_request", 0.85, facility="roof")),
                          ("找他不理", said("dispute")),
                          ("谁能帮忙调解一下", said("micro_wish"))]) == [
        "楼上漏水到我家", "找他不理，谁能帮忙调解一下"]


def test_someone_in_danger_is_never_hidden_in_another_matter():
    def hurt(intent: str, danger: str, facility: str | None = None) -> dict[str, Any]:
        return {**said(intent, 0.6, facility), "danger": danger}

    # a matter of their own, whatever the model made of the clause
    assert matters.group([("老人晕倒了", hurt("none", "medical")),
                          ("另外电梯也坏了", said("repair_request", facility="lift"))],
                         ("medical",)) == ["老人晕倒了", "电梯也坏了"]  # without its 另外
    assert matters.group([("楼道灯坏了", said("repair_request", facility="light")),
                          ("电梯里有人被困住了", hurt("complaint", "trapped", "lift"))],
                         ("trapped",)) == ["楼道灯坏了", "电梯里有人被困住了"]
    # ...or with the lift they are trapped in
    assert matters.group([("电梯坏了", said("repair_request", facility="lift")),
                          ("有人被困在里面", hurt("none", "trapped"))], ("trapped",)) == [
        "电梯坏了，有人被困在里面"]
    # a danger the message as a whole does not report (a fire only feared) is no matter
    assert matters.group([("纸箱堆成山了", said("complaint")),
                          ("着火了都跑不出去", hurt("complaint", "fire"))], ()) == [
        "纸箱堆成山了，着火了都跑不出去"]


def test_a_thanks_or_a_matter_settled_before_the_first_matter_is_in_none():
    said_apart = {"谢谢张师傅上次修好了水管": said("none", 0.99, facility="water_pipe"),
                  "谢谢": said("none", 0.99), "修是修好了": said("none", 0.99),
                  "另外楼道灯又坏了": said("repair_request", 0.99, facility="light"),
                  "可师傅态度太差": said("complaint", 0.95)}

    async def parse(words: str) -> dict[str, Any]:
        return said_apart.get(words) or said("repair_request", 0.99, facility="light")

    def read(text: str, whole: dict[str, Any]) -> list[dict[str, Any]] | None:
        return asyncio.run(matters.read(parse, text, whole))

    # the model read it whole as none, for the thanks: the matter left is the message's
    whole = said("none", 0.8, facility="water_pipe")
    [matter] = read("谢谢张师傅上次修好了水管，另外楼道灯又坏了", whole)
    assert matter["set_aside"] == ["谢谢张师傅上次修好了水管"]
    read_so = matters.as_read(whole, [matter])
    assert read_so["intent"]["name"] == "repair_request" and read_so["whole"] == whole["intent"]
    assert read_so["entities"] == [{"entity": "facility", "value": "light"}]
    # read whole as the repair, the thanks naming what was mended is set aside too
    [matter] = read("谢谢，谢谢张师傅上次修好了水管，另外楼道灯又坏了", said("repair_request", 0.6))
    assert matter["set_aside"] == ["谢谢", "谢谢张师傅上次修好了水管"]
    # a thanks naming nothing mended, before a matter read whole as one, leaves it whole
    assert read("谢谢，另外楼道灯又坏了", said("repair_request")) is None
    assert read("修是修好了，可师傅态度太差", said("complaint")) is None


@pytest.mark.parametrize(("text", "expected"), [
    # a question about something else is set aside, to be answered apart
    ("电梯坏了，明天义诊在哪里？", [("电梯坏了", "repair_request", ["明天义诊在哪里"])]),
    # …and listed beside one matter read whole as it, the message kept whole
    ("楼道灯不亮了，另外请问下周停水几点开始",
     [("楼道灯不亮了，另外请问下周停水几点开始", "repair_request", ["请问下周停水几点开始"])]),
    ("3号楼电梯坏了，垃圾也没人清，请问明天几点停水",
     [("3号楼电梯坏了", "repair_request", ["请问明天几点停水"]),
      ("垃圾也没人清", "complaint", None)]),
    # a question about the matter is part of it; a message asking whether is no report
    ("电梯坏了，什么时候能修好", None),
    ("电梯坏了 谁知道怎么回事", None),
    ("电梯坏了吗，大家知道吗", None),
])
def test_a_question_beside_a_matter_is_set_aside(model: IntentModel, text: str,
                                                 expected: list[tuple[Any, ...]] | None) -> None:
    async def parse(words: str) -> dict[str, Any]:
        return model.parse(words)

    found = asyncio.run(matters.read(parse, text, model.parse(text), notice_match.is_question))
    assert (None if found is None else
            [(m["text"], m["intent"]["name"],
              [a["question"] for a in m["asked"]] if "asked" in m else None)
             for m in found]) == expected
    if found is not None and len(found) > 1:  # the message's questions, not its first matter's
        read = matters.as_read(model.parse(text), found)
        assert [a["question"] for a in read["asked"]] == expected[0][2]
        assert "asked" not in read["matters"][0]


LETTER = ("尊敬的网格员您好，我是3号楼502的住户，我家老人八十多岁行动不便，想请志愿者每周帮忙买一次菜，"
          "另外我们单元的楼道灯坏了一个多月了也没人修，麻烦尽快处理，谢谢！")


@pytest.mark.parametrize(("text", "expected"), [
    # a letter that says where its second matter begins is cut there
    (LETTER, [("尊敬的网格员您好，我是3号楼502的住户，我家老人八十多岁行动不便，想请志愿者每周帮忙买一次菜",
               "micro_wish"),
              ("我们单元的楼道灯坏了一个多月了也没人修，麻烦尽快处理，谢谢", "repair_request")]),
    # …and read whole when it does not, or when what follows 另外 is more of the same
    (LETTER.replace("另外", ""), None),
    (LETTER.replace("另外", "而且"), None),  # 而且 goes on with a matter
    ("尊敬的网格员您好，我是3号楼502的住户，我们单元的楼道灯坏了一个多月了也没人修，"
     "另外电梯的按钮也不灵了，麻烦尽快派人来处理一下，谢谢！", None),
    # a letter longer than MAX_LETTER_CHARS is read whole
    (LETTER + "再说一遍：" + "楼道灯真的很暗，" * 30, None),
])
def test_a_letter_is_cut_only_where_it_says_another_matter_begins(
        model: IntentModel, text: str, expected: list[tuple[str, str]] | None) -> None:
    async def parse(words: str) -> dict[str, Any]:
        return model.parse(words)

    assert len(text) > matters.MAX_CHARS
    found = asyncio.run(matters.read(parse, text, model.parse(text)))
    assert (None if found is None else
            [(m["text"], m["intent"]["name"]) for m in found]) == expected


def test_the_first_matter_keeps_its_first_word_unless_something_was_set_aside_before_it():
    assert matters.group([("还有人在楼道里抽烟", said("complaint")),
                          ("另外楼道灯也不亮", said("repair_request", facility="light"))]) == [
        "还有人在楼道里抽烟", "楼道灯也不亮"]


def test_a_question_saying_a_thing_is_done_is_not_set_aside_as_a_thanks():
    done = said("none", 0.99)
    assert matters.settled("问题解决了", done)
    assert matters.settled("问题解决了", done, notice_match.is_question)
    assert not matters.settled("问题解决了吗", done, notice_match.is_question)


def test_a_message_kept_whole_keeps_its_own_reading_beside_its_questions():
    whole = {**said("repair_request", 0.7, facility="lift"), "read_as": "电梯坏了，明天义诊在哪里",
             "evidence": {"words": ["电梯"]}}
    asked = [{"clause": "明天義診在哪裡", "question": "明天義診在哪裡"}]
    read = matters.as_read(whole, [{**said("repair_request", 0.7), "asked": asked}])
    assert read == {**whole, "asked": asked}


def test_several_matters_beside_a_thanks_are_taken_for_the_first_ones_kind():
    whole = said("none", 0.8)
    found = [{**said("repair_request", facility="lift"), "text": "电梯坏了"},
             {**said("complaint"), "text": "垃圾也没人清"}]
    read = matters.as_read(whole, found)
    assert read["intent"]["name"] == "repair_request" and read["matters"] == found
    # a message read whole as a matter keeps its own reading
    assert matters.as_read(said("complaint", 0.7), found)["intent"]["name"] == "complaint"
    # …and one read whole as none takes the first matter that is one
    found_so = [{**said("none", 0.6), "text": "我说一下，电梯坏了"}, *found[1:]]
    assert matters.as_read(whole, found_so)["intent"]["name"] == "complaint"


@pytest.mark.parametrize(("text", "expected"), [
    ("3号楼电梯坏了，垃圾也没人清，还有楼下阿婆需要人帮忙买菜",
     [("3号楼电梯坏了", "repair_request"), ("垃圾也没人清", "complaint"),
      ("楼下阿婆需要人帮忙买菜", "micro_wish")]),
    ("5号楼门口的路灯不亮，垃圾桶也满了没人倒",
     [("5号楼门口的路灯不亮", "repair_request"), ("垃圾桶也满了没人倒", "complaint")]),
    ("电梯坏了，我妈腿脚不好下不了楼，谁能帮忙买点菜",
     [("电梯坏了，我妈腿脚不好下不了楼", "repair_request"), ("谁能帮忙买点菜", "micro_wish")]),
    # one matter said in several clauses, or again, or with chatter, stays whole
    ("电梯又坏了，楼道灯也不亮", None),
    ("楼道灯坏了好几天了，晚上很黑，老人走路容易摔", None),
    ("今天天气不错，电梯坏了", None),
    ("电梯坏了！！！电梯坏了！！！", None),
    ("3号楼 电梯坏了 快来修", None),
    ("今天天气不错，大家周末愉快", None),
    # a thanks for what was mended, then a new matter: the matter alone
    ("谢谢张师傅上次修好了水管，另外楼道灯又坏了", [("楼道灯又坏了", "repair_request")]),
    ("上周水管修好了谢谢，现在3楼楼道灯不亮了", [("现在3楼楼道灯不亮了", "repair_request")]),
    ("谢谢网格员，水管修好了，另外电梯坏了，垃圾也没人清",
     [("电梯坏了", "repair_request"), ("垃圾也没人清", "complaint")]),
    ("水管修好了，谢谢张师傅", None),
    ("楼下开店的把货堆在楼道里 说他两句就跟我急 差点动手", None),  # a dispute
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

    text = "电梯坏了，有人被困在里面，楼道里垃圾也没人清"
    lift, rubbish = asyncio.run(matters.read(parse, text, model.parse(text)))
    assert (lift["text"], lift["urgency"], lift["danger"]) == ("电梯坏了，有人被困在里面",
                                                               "emergency", "trapped")
    assert (rubbish["intent"]["name"], rubbish["danger"]) == ("complaint", None)


def test_the_packaged_examples_of_one_matter_are_hardly_ever_cut(model: IntentModel) -> None:
    """Every example gridbot learnt from, and the held-out ones, is one matter: at most one
    in a thousand may be cut up (one of 3,885 was when this was written)."""
    from nlu.service import PACKAGED_DATA, PACKAGED_HELDOUT, load_rasa

    async def parse(words: str) -> dict[str, Any]:
        return model.parse(words)

    async def cut() -> tuple[int, int]:
        texts = [e.text for path in (PACKAGED_DATA, PACKAGED_HELDOUT)
                 for e in load_rasa(path).examples]
        found = [await matters.read(parse, t, model.parse(t), notice_match.is_question)
                 for t in texts]
        # a question only listed beside the message's one matter leaves it whole
        return sum(f is not None and (len(f) > 1 or "set_aside" in f[0])
                   for f in found), len(texts)

    several, total = asyncio.run(cut())
    assert several <= total // 1000, (several, total)
