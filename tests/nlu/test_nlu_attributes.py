from __future__ import annotations

import pytest

from nlu.attributes import danger, tier, urgency


@pytest.mark.parametrize(
    "text",
    [
        "5号楼电梯里有人被困住了",
        "救命 电梯卡住了 我们三个人在里面",
        "楼道里好大一股煤气味",
        "闻到天然气的味道 好像漏气了",
        "楼道电箱冒火花了",
        "插座烧黑了 还在冒烟",
        "地下室进水了 水都淹到膝盖了",
        "楼上漏水 水从天花板哗哗往下流",
        "水管爆了 水一直在喷",
        # Cantonese (after the traditional characters are read): a burst pipe, a flood
        "屋企啲水喉爆咗，水浸成地",
        "升降机坏咗，仲有人困喺入面",
    ],
)
def test_emergencies(text: str) -> None:
    assert urgency(text, "repair_request") == "emergency"


@pytest.mark.parametrize(
    "text",
    [
        "楼道灯坏了",
        "电梯按钮按了没反应",
        "天花板有一点渗水 滴了几滴",
        "门禁刷卡没反应",
        "路面有个大坑",
        "电梯停了 还好没有人被困",
        "物业关了电梯在保养",
        "燃气灶打火打不着",
        "消防栓锈死了 万一着火了怎么办",
        "煤气灶开着火在煮汤，抽油烟机坏了",
    ],
)
def test_normal_repairs(text: str) -> None:
    assert urgency(text, "repair_request") == "normal"


def test_urgency_only_for_repairs() -> None:
    assert urgency("煤气味好大", "complaint") is None
    assert urgency("电梯有人被困", "none") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("电梯里两个人打起来了 都流血了", "big"),
        ("他说要找人来收拾我 还威胁我", "big"),
        ("我已经报警了 警察也来过", "big"),
        ("房东不退押金 我要去法院起诉", "big"),
        ("十几户业主联名跟他吵", "big"),
        ("楼上漏水泡坏我家墙 他不肯赔", "medium"),
        ("房东扣了我两千押金", "medium"),
        ("跟楼下为了噪音吵了半年了", "medium"),
        ("对门在楼道放鞋柜 我说了一句 他就跟我吵起来了", "small"),
        ("为了车位两家在楼下吵起来了", "small"),
        ("和邻居为了晾衣服拌了几句嘴 请楼长劝劝", "micro"),
        ("两个老邻居闹了点小别扭", "micro"),
        ("1102和1202为了车位吵起来了", "small"),
        ("孩子上三年级 跟邻居家孩子吵了几句", "micro"),
        ("这事还没报警 先请居委会看看", "small"),
    ],
)
def test_tiers(text: str, expected: str) -> None:
    assert tier(text, "dispute") == expected


def test_tier_only_for_disputes() -> None:
    assert tier("打起来了", "complaint") is None
    assert tier("打起来了", "repair_request") is None


def test_bad_input_is_tolerated() -> None:
    assert urgency("", "repair_request") == "normal"
    assert tier("", "dispute") == "small"
    assert urgency("\x00" * 10 + "煤气味", "repair_request") == "emergency"


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("救命 我被困在电梯里了", "trapped"),
        ("电梯卡住了里面的人出不来", "trapped"),
        ("电梯停了 还有人困在里面", "trapped"),
        ("电梯里有人困住了，我听到在喊", "trapped"),
        ("3号楼起火了 楼道里全是烟", "fire"),
        ("厨房一股很浓的煤气味", "gas"),
        ("快来人 五楼有人拿刀砍人了", "violence"),
        ("隔壁两口子打起来了", "violence"),
        ("楼道里有个老人晕倒了 叫不醒", "medical"),
        ("王奶奶摔倒了起不来", "medical"),
        ("我妈摔了一跤，起不来了，在23号楼1单元", "medical"),
        ("老爷子心脏病犯了 快叫救护车", "medical"),
        ("我家老人有心脏病，想找志愿者帮忙买药", None),  # a condition, not an event now
        # over, heard of elsewhere, feared, denied: nobody is in danger now
        ("刚才被困电梯的老人已经出来了 大家放心", None),
        ("听说隔壁小区昨晚着火了", None),
        ("楼道里堆满纸箱 存在火灾隐患", None),
        ("万一着火了怎么办", None),
        ("电梯停了 还好没有人被困", None),
        ("笑死我了 救命", None),
        ("电梯坏了三天了", None),
        # Cantonese, after the traditional characters are read as simplified ones
        ("有人困咗喺𨋢入面", "trapped"),
        ("我阿妈困咗喺电梯入面出唔到嚟", "trapped"),
        ("屋企火烛呀", "fire"),
        ("阿爷晕低咗，叫唔醒", "medical"),
        ("冇人困住，放心", None),
        ("已经出返嚟，冇事", None),
        ("升降机坏咗，仲有人困喺入面", "trapped"),
        # what an outside probe wrote that was missed
        ("救命，我老公又在打我", "violence"),
        ("有人在楼下打架，都见血了", "violence"),
        ("我胸口好痛，喘不上气", "medical"),
        ("楼下有个老人摔倒了，头在流血", "medical"),
        ("对门的独居老人好几天没出门了，敲门也没人应，有点担心", "medical"),
        ("我想不开了，活着没意思", "self_harm"),
        ("有人要跳楼，在38号楼顶楼", "self_harm"),
        ("孩子被反锁在家里了，里面还开着煤气灶", "trapped"),
        ("一直开着煤气没关，人不在家", "gas"),
        # ...and what is no danger now
        ("累死了哈哈不想活了", None),
        ("电视剧里有人跳楼了", None),
        ("两个小孩在楼下打架", None),
        ("煤气灶开着火在煮汤", None),
        ("对门好几天没出门了，应该是出去旅游了", None),
    ],
)
def test_danger_now(text: str, kind: str | None) -> None:
    assert danger(text) == kind
