"""Ticket attributes derived from a message: repair urgency and dispute tier.

Both follow the rules in LABELING.md; ``danger`` (any intent) says whether people are in
danger now, which gridbot answers with whom to call and handles within minutes:

* ``urgency`` (repairs only): ``emergency`` when people are trapped in a lift, there is a gas
  smell, sparks or a fire risk, flooding, or water pouring through a ceiling; else ``normal``.
* ``tier`` (disputes only): ``big`` for violence, threats, police, lawsuits or many households;
  ``medium`` when it is about money or has gone on for a long time; ``micro`` for small
  friction a building volunteer can calm; ``small`` for the usual quarrel between two
  neighbour households.
"""

from __future__ import annotations

import re

from nlu.normalize import normalize

REPAIR = "repair_request"
DISPUTE = "dispute"

# 冇 and 唔系 are Cantonese ("冇人困住").
_NEGATED = r"(?:没有|没|无|不是|并没有|并没|未|不会|冇|唔系)"

_EMERGENCY = re.compile(
    "|".join(
        [
            # people trapped in a lift
            r"(?:困|关|卡|憋|锁)在了?(?:电梯|轿厢)",
            r"困(?:住|了)+",
            r"(?:电梯|轿厢|电悌)[^，。！？!?,.]{0,12}(?:被困|困住|困人|困了|关住|关了人|卡住了人|有人出不来|出不来|有人在里面|里面有人|里面还有人)",
            r"被困(?:在)?(?:电梯|轿厢)?",
            r"困在里面",
            # the same in Cantonese: 困咗喺𨋢入面 (𨋢 is a lift), 出唔到嚟
            r"(?:困|焗|锁)咗|困喺|(?:电梯|轿厢|𨋢|升降机)[^，。！？!?,.]{0,12}出唔(?:到|返)",
            # a child locked in, a gas ring left on
            r"反锁在(?:家|屋|房间)",
            r"(?:煤气灶|燃气灶|煤气|燃气)(?:还|一直)开着|(?:还|一直)开着(?:的)?(?:煤气|燃气)",
            # gas
            r"(?:煤气|燃气|天然气)(?:的)?(?:味|味道|泄漏|泄露|漏了|在漏|漏气)",
            r"(?:闻到|有|一股|好大|很大|很浓|浓浓的)[^，。！？!?,.]{0,6}(?:煤气|燃气|天然气|臭鸡蛋)味",
            r"漏气",
            # sparks, fire, smoke
            r"火花|冒火|起火|(?<![开点])着火|失火|火苗|火光|明火|冒烟|烧焦|焦味|糊味|烧起来|烧着了|自燃",
            r"漏电|触电|电到人",
            r"(?:电线|电箱|配电箱|插座|电表箱|电缆)[^，。！？!?,.]{0,8}(?:烧|爆|炸|噼里啪啦|啪啪)",
            r"短路",
            # flooding and water pouring through a ceiling
            r"水漫|漫水|水淹|淹了|被淹|淹水|水浸|进水了|(?:雨|污)?水倒灌|积水[^，。！？!?,.]{0,6}(?:膝|腿|半米|很深|漫)",
            r"水漫金山|发大水|成了河|成河了|像河一样|跟河一样|游泳池|水帘洞",
            r"爆管|(?:水管|水喉)(?:爆|炸)|(?:管子|管道)(?:爆|炸)了|喷水|狂喷|水柱",
            r"(?:天花板|吊顶|屋顶|顶上|楼板|灯座|灯里)[^，。！？!?,.]{0,10}"
            r"(?:哗哗|哗啦|往下(?:流|灌|冲|浇|淌|倒)|冲下来|灌下来|浇下来|倒下来|像下雨|下雨一样|水流如注|大量)",
            r"(?:哗哗|哗啦啦)[^，。！？!?,.]{0,6}(?:往下|流|漏|淌)",
            r"救命|十万火急|人命关天",
        ]
    )
)
# Phrases that name a danger without reporting one: "没有人被困", "万一着火了怎么办".
_NOT_REPORTED = re.compile(
    _NEGATED + r"[^，。！？!?,.]{0,3}(?:人被困|被困|困人|煤气味|燃气味|冒烟|着火|火花|漏气|漏电)"
    r"|(?:万一|真|要是|如果|一旦|假如|小心|防止|以防|预防)[^，。！？!?,.]{0,4}(?:着火|起火|失火|火灾|漏电|漏气|被困|淹)"
    r"|(?:点|打)不着火?|不着火"
)

# Danger to people, reported as happening now: someone trapped in a lift, a fire, a gas
# leak (the repairs LABELING.md calls emergencies), violence, someone collapsed.
_DANGER = {
    "trapped": re.compile(
        r"(?:困|关|卡|锁)在了?(?:电梯|轿厢)|被困|困住了|人(?:困|关|卡|锁)在了?里面|"
        r"(?:电梯|轿厢)[^，。！？!?,.]{0,12}(?:出不来|困住|困人)|"
        r"(?:困|焗|锁)咗|困喺|(?:电梯|轿厢|𨋢|升降机)[^，。！？!?,.]{0,12}出唔(?:到|返)|"
        r"反锁在(?:家|屋|房间)"),
    "fire": re.compile(r"(?<![开点])着火|起火|失火|火灾|烧起来|浓烟|冒烟|火烛|烧着咗|着咗火"),
    "gas": re.compile(r"(?:煤气|燃气|天然气)的?(?:泄漏|泄露|漏了|在漏|漏气|味)|漏气|"
                      r"(?:煤气灶|燃气灶)(?:还|一直)开着|(?:还|一直)开着(?:的)?(?:煤气|燃气)"),
    "violence": re.compile(
        r"拿(?:着)?(?:刀|菜刀|棍子|铁棍|棒子)|动刀|砍人|捅人|杀人了|打人了|打起来了|"
        r"喊救命|要砍|要杀|家暴|(?:在|又在|一直在)打我|打我[^，。！？!?,.]{0,3}(?:救命|快来)|"
        r"打(?:老婆|孩子|小孩)|打架[^，。！？!?]{0,8}(?:见血|流血|受伤)|见血了"),
    "medical": re.compile(
        r"晕倒|昏倒|昏迷|叫不醒|不省人事|摔倒了?起不来|摔(?:了一跤|伤了|倒了?)[^。！？!?]{0,6}起不来|倒在地上|"
        r"没有?呼吸|心脏病(?:发作|犯了)|突发心脏病|抽搐|"
        r"口吐白沫|晕(?:低|咗)|叫唔醒|冇(?:咗)?呼吸|"
        r"胸口(?:好|很|特别|突然)?(?:痛|疼)|胸痛|呼吸困难|"
        r"(?:头|脸|腿|手)[^，。！？!?,.]{0,3}(?:流血|出血)|流了(?:好多|很多|一地)血|大出血|血流不止|"
        r"中风了|突发中风|抽筋了|(?:好几|几|两|三)天没(?:出门|见到|见着|露面|动静)"
        r"[^。！？!?]{0,16}(?:没人应|不应|没反应|没有回应)"),
    # Someone who may take their own life: the worker at once, and 110 or 120.
    "self_harm": re.compile(
        r"想不开|不想活了?|活着没意思|活不下去了|轻生|自杀|寻短见|割腕|要跳楼|跳楼了|在楼顶要跳"),
}
# What makes a danger told of no danger now: over, heard of elsewhere, drilled, feared.
_OVER_OR_ELSEWHERE = re.compile(
    r"已经(?:解决|处理|修好|出来|救出|灭|没事|好了)|救出来|出来了|没事了|虚惊|放心|听说|新闻|"
    r"报道|上次|以前|之前|去年|前年|前几天|演练|演习|防火|安全知识|注意安全|小心|差点|隐患|这要|"
    r"出返嚟|冇事|哈哈|笑死|😂|电视剧|电影|小说"
)


def danger(text: str, normalized: str | None = None) -> str | None:
    """The danger to people a message reports as happening now (``trapped``, ``fire``,
    ``gas``, ``violence``, ``medical``), whatever its intent; None for none, and for one
    denied, feared, over or heard of elsewhere ("没有人被困", "万一着火", "已经救出来了",
    "听说隔壁小区着火了")."""
    norm = normalize(text) if normalized is None else normalized
    if _OVER_OR_ELSEWHERE.search(norm):
        return None
    norm = _NOT_REPORTED.sub(" ", norm)
    for kind, pattern in _DANGER.items():
        if pattern.search(norm):
            return kind
    return None


_BIG = re.compile(
    "|".join(
        [
            r"打架|打人|打起来|打了起来|动手|动刀|殴打|揍|扇了|扇他|扇我|推搡|撕打|厮打|互殴|拳头",
            r"推倒|推了一把|推了我|推了他|推了她|踹门|踹我|掐",
            r"流血|见血|受伤|打伤|住院|头都破了|头破了",
            r"(?<!没)(?<!没有)(?<!不)(?<!不用)报警|报了警|(?<!\d)110(?!\d)|派出所|警察|民警|公安",
            r"起诉|告上法庭|法院|打官司|律师|律师函|诉讼|告他|告她|告我|去告",
            r"威胁|恐吓|弄死|砍死|杀了|要你命|放火|等着瞧|走着瞧|泼油漆|拿刀|菜刀|刀",
            r"找人(?:来)?收拾|收拾你|收拾我|一帮人|几个人[^，。！？!?,.]{0,4}堵|堵我|堵在门口|围堵|堵门",
            r"(?:几|好几|十几|几十|二十多|三十多|很多|许多|整栋楼的?|全楼的?|全体)(?:户|家业主|业主|居民)",
            r"联名|集体|上访|一群人|群体",
        ]
    )
)
_MEDIUM = re.compile(
    "|".join(
        [
            r"赔|补偿|医院|押金|房租|租金|罚款|欠|钱|损失|退款|扣|讹|费用|"
            r"(?:物业|水电|水|电|燃气|维修|修理|停车|管理|医药|医疗|治疗|疫苗|误工|律师|中介)费",
            r"\d+\s*(?:元|块|万|千)|[一二三四五六七八九十两几]+\s*(?:万|千|百)(?:块|元)?",
            r"好几次|多次|几次了|屡次|反复|一直|总是|老是|天天|每天|三番五次|没完没了|长期",
            r"好几回|几回了|两回|不是第一次|第[二三四五六七八九十几]次|又[^，。！？!?,.]{0,4}(?:吵|骂|闹)",
            r"(?:半|一|两|三|几|一个多|好几)(?:个)?(?:月|年)(?![级份代轻])|好多年|多年",
            r"(?:说|谈|协商|沟通|找|去)了?(?:好)?[几两三四五六七八九十]+(?:次|回)",
            r"协调(?:了)?(?:都)?(?:没用|不成|无果|没结果)|调解(?:过|了)|谈不拢|没谈拢|谈崩",
        ]
    )
)
_MICRO = re.compile(
    r"拌嘴|拌了几句|吵了几句|争了几句|说了几句|口角|小摩擦|小矛盾|有点矛盾|别扭|误会|不愉快|"
    r"闹得不开心|不太开心|有点不高兴|有点僵|小事|鸡毛蒜皮|劝|说和|和好|说说|尴尬|"
    r"吵了两句|说了两句|几句|两句|不是大事|没什么大事|不是什么大事|楼长|楼组长"
)


def urgency(text: str, intent: str, normalized: str | None = None) -> str | None:
    """``emergency`` or ``normal`` for a repair request, None for every other intent.

    ``normalized`` is ``normalize(text)`` when the caller has it already."""
    if intent != REPAIR:
        return None
    norm = _NOT_REPORTED.sub(" ", normalize(text) if normalized is None else normalized)
    return "emergency" if _EMERGENCY.search(norm) else "normal"


def tier(text: str, intent: str, normalized: str | None = None) -> str | None:
    """``micro``, ``small``, ``medium`` or ``big`` for a dispute, None for every other intent.

    ``normalized`` is ``normalize(text)`` when the caller has it already."""
    if intent != DISPUTE:
        return None
    norm = normalize(text) if normalized is None else normalized
    if _BIG.search(norm):
        return "big"
    if _MEDIUM.search(norm):
        return "medium"
    if _MICRO.search(norm):
        return "micro"
    return "small"
