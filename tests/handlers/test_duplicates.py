"""Duplicates without a named facility: a neighbour repeating "楼道堆物太多了没人管" joins the
first report when the words are alike (character bigram Jaccard, `handlers.similarity`),
and every follower hears of progress in the group where they reported."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.decisions import Follow, ToGroup, ToSender
from domain.tickets import Follower
from handlers import handle_message, similarity
from handlers.residents import tell_residents
from tests.handlers.support import NOW, ctx, nlu, ticket

# The threshold's justification: the same matter in other words scores at or above it …
SAME_MATTER = [
    ("楼道堆物太多了没人管", "3号楼楼道堆物太多了，没人管吗？"),          # 1.00
    ("楼道堆物太多了没人管", "楼道里堆物太多了也没人管管"),              # 1.00
    ("楼道堆物太多了没人管", "楼道里堆的杂物太多了，没人管"),            # 0.50
    ("楼道里乱堆杂物，消防通道都堵了", "楼道杂物乱堆，把消防通道堵住了"),  # 0.50
    ("小区门口垃圾桶满了好几天没人清理", "垃圾桶满了好几天了也没人清理"),  # 0.60
    ("楼下广场舞音乐太吵了", "楼下广场舞太吵了，音乐声音太大"),          # 0.42
    ("3号楼楼顶漏水", "楼顶又漏水了"),                                  # 1.00
    ("楼道里有人抽烟，烟味很大", "楼道有人抽烟，烟味太大了"),            # 1.00
]
# … and different matters, even in the same words around them, below it.
DIFFERENT_MATTERS = [
    ("楼道堆物太多了没人管", "楼下广场舞音乐太吵了"),                    # 0.00
    ("楼道堆物太多了没人管", "垃圾桶满了好几天没人清理"),                # 0.00
    ("楼道堆物太多了没人管", "楼道里有人抽烟，烟味很大"),                # 0.10
    ("楼道堆物太多了没人管", "楼道灯坏了没人管"),                        # 0.17
    ("楼下广场舞音乐太吵了", "楼上装修太吵了"),                          # 0.00
    ("小区门口垃圾桶满了好几天没人清理", "楼道堆满了垃圾没人清理"),      # 0.07
    ("电动车在楼道里充电太危险了", "楼道堆物太多了没人管"),              # 0.09
    ("楼上装修太吵了", "楼上漏水到我家了"),                              # 0.11
    ("楼上每天半夜装修太吵了", "楼下每天半夜跳广场舞太吵了"),            # 0.20
]


@pytest.mark.parametrize(("first", "again"), SAME_MATTER)
def test_the_same_matter_in_other_words_is_similar(first: str, again: str) -> None:
    assert similarity.similarity(first, again) >= similarity.THRESHOLD >= 0.42 - 0.07


@pytest.mark.parametrize(("first", "other"), DIFFERENT_MATTERS)
def test_different_matters_are_not(first: str, other: str) -> None:
    assert similarity.similarity(first, other) < similarity.THRESHOLD
    assert similarity.similarity(first, other) <= 0.20


def test_the_threshold_sits_in_the_gap_of_the_table() -> None:
    lowest_same = min(similarity.similarity(a, b) for a, b in SAME_MATTER)
    highest_different = max(similarity.similarity(a, b) for a, b in DIFFERENT_MATTERS)
    assert highest_different < similarity.THRESHOLD < lowest_same


def test_numbers_punctuation_and_filler_do_not_count() -> None:
    assert similarity.essence("3号楼2单元楼道里堆物太多了！！没人管吗？") == "楼道堆物多"
    assert similarity.similarity("没人管", "没人管啊") == 0.0  # nothing left to compare


CLUTTER = ticket(id=40, category="complaint", facility=None, text="楼道堆物太多了没人管",
                 created_at=NOW - timedelta(hours=2))


def test_a_neighbour_repeating_a_matter_without_a_facility_joins_it() -> None:
    decision = handle_message(ctx("楼道里堆物太多了，也没人管管", sender="wxid_res2", name="李叔"),
                              nlu("complaint"), [CLUTTER])
    assert decision.outcome == "followed" and decision.create is None
    assert decision.follow == Follow(40, "楼道里堆物太多了，也没人管管")
    assert "相似度" in decision.reason
    [reply] = decision.sends
    assert reply.to == ToGroup(100, ("wxid_res2",)) and "#40" in reply.render(40)


def test_a_different_matter_of_the_same_category_opens_its_own_ticket() -> None:
    decision = handle_message(ctx("楼下广场舞音乐太吵了，天天到半夜", sender="wxid_res2"),
                              nlu("complaint"), [CLUTTER])
    assert decision.outcome == "ticket_created" and decision.follow is None


def test_the_same_words_join_only_in_the_same_building_category_and_window() -> None:
    repeat = ctx("楼道堆物太多了没人管", sender="wxid_res2")
    other_building = ticket(**{**_fields(CLUTTER), "building_id": 11})
    assert handle_message(repeat, nlu("complaint"), [other_building]).create is not None
    as_repair = ticket(**{**_fields(CLUTTER), "category": "repair"})
    assert handle_message(repeat, nlu("complaint"), [as_repair]).create is not None
    too_old = ticket(**{**_fields(CLUTTER), "created_at": NOW - timedelta(hours=25)})
    assert handle_message(repeat, nlu("complaint"), [too_old]).create is not None


def test_two_different_facilities_never_join_whatever_the_words() -> None:
    lift = ticket(id=41, facility="lift", text="电梯坏了没人管")
    light = handle_message(ctx("电梯口的灯坏了没人管", sender="wxid_res2"),
                           nlu("repair_request", entities=[{"entity": "facility",
                                                            "value": "light"}]), [lift])
    assert light.create is not None


def test_the_estates_street_light_is_not_the_stairwells_light() -> None:
    from nlu.entities import extract

    stairwell = ticket(id=42, facility="light", text="2单元5楼楼道灯坏了")
    for text in ("小区大门口的路灯不亮了，晚上回家好黑", "小区东门的路灯坏了好几个"):
        words = extract(text)
        assert {"entity": "facility", "value": "street_light"}.items() <= words[0].items()
        report = handle_message(ctx(text, sender="wxid_res2"),
                                nlu("repair_request", entities=words), [stairwell])
        assert report.create is not None and report.create.facility == "street_light"
    again = handle_message(ctx("楼道灯又不亮了", sender="wxid_res3"),
                           nlu("repair_request", entities=extract("楼道灯又不亮了")), [stairwell])
    assert again.follow is not None and again.follow.ticket_id == 42


def _fields(view):  # type: ignore[no-untyped-def]
    return {name: getattr(view, name) for name in view.__slots__}


# ---------------------------------------------------------------- where followers hear


def test_a_follower_from_another_group_of_the_building_hears_there() -> None:
    view = ticket(follower_chats=(
        Follower("bridge", "wxid_res2", "李叔", 100),       # the reporter's group
        Follower("wecom_bot", "lisi", "李四", 101),          # the building's robot group
        Follower("wechat", "oFollower", None, None),         # 1:1 on the Official Account
    ))
    sends = tell_residents(view, "@{reporter} 工单 #{id} 有新进展：{note}", {"note": "已派人"})
    by_recipient = {s.to: s.render(128) for s in sends}
    assert by_recipient[ToGroup(100, ("wxid_res1", "wxid_res2"))] == (
        "@王阿姨 @李叔 工单 #128 有新进展：已派人")
    assert by_recipient[ToGroup(101, ("lisi",))] == "@李四 工单 #128 有新进展：已派人"
    assert by_recipient[ToSender("wechat", "oFollower")] == "工单 #128 有新进展：已派人"
    assert len({s.key for s in sends}) == len(sends) == 3


def test_a_disputes_followers_are_told_in_their_groups_without_a_name() -> None:
    view = ticket(category="dispute", tier="small", follower_chats=(
        Follower("wecom_bot", "lisi", "李四", 101),))
    sends = tell_residents(view, "@{reporter} 工单 #{id} 有新进展：{note}",
                           {"note": "王阿姨 已约谈，电话13812345678"})
    assert {s.to for s in sends} == {ToGroup(100), ToGroup(101)}
    for send in sends:
        text = send.render(128)
        assert "@" not in text and "王阿姨" not in text and "李四" not in text
        assert "13812345678" not in text


def test_the_reporter_alone_is_told_as_before() -> None:
    [send] = tell_residents(ticket(), "@{reporter} 工单 #{id} 已接单", {})
    assert send.to == ToGroup(100, ("wxid_res1",)) and send.key == "residents"
    [direct] = tell_residents(ticket(group_id=None, reporter_channel="wechat",
                                     reporter_id="oRes"), "@{reporter} 工单 #{id} 已接单", {})
    assert direct.to == ToSender("wechat", "oRes") and direct.key == "reporter"
