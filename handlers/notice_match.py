"""Which of a building's recent notices answers a resident's question, and how well: a
scorer that can say why.

A question is read into four things:

- what it asks for (`Aspect`): a time (几点, 什么时候, 多久), a place (在哪), a cost (要钱吗), what
  to bring (带什么), whom to ask (找谁), a reason (为什么), or only yes or no (吗, 是不是);
- the day it is about (今天, 明天, 周六, 12月3日 …), or that it is about the past (上次, 去年);
- its topics: the things notices are about, each with its synonyms (停水/断水/来水 are one
  topic, 电梯 another, 物业费 another);
- the rest of its words, once question words, particles, pronouns, times and words like 恢复
  or 能用 are taken out: the segments a notice must also contain (预约, 洗衣服, 大件).

A notice answers it when it was sent within the window (`ANSWER_WINDOW`), the day asked
about lies within the days the notice speaks of (a notice that names no day speaks of the
day it was sent; a question that names none asks about today or later), the notice holds
what is asked for (a time, a place, a cost …), and the question reports no fault (坏了, 漏水:
that is a matter, not a question about a notice). Its score is then

    score = T × R,   T = topics of the question the notice has / topics of the question
                         (NO_TOPIC when the question names none),
                     R = (1 + Σ coverage of each remaining segment) / (1 + segments),

where a segment's coverage is the share of its character bigrams found in the notice. One
segment the notice lacks halves R: "停水期间能洗衣服吗" is not answered by a notice that only
says when the water stops. The question is answered by its best notice when the score reaches
`THRESHOLD`, measured on the labelled set `nlu/data/notice_questions.yml` (`gridbot nlu eval`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Protocol

from domain.notices import SHANGHAI

#: Notices sent longer ago than this never answer: a week covers a meeting announced on
#: Monday for Saturday, and a notice's own days (below) retire it sooner.
ANSWER_WINDOW = timedelta(days=7)
#: The lowest score that answers. Chosen on the labelled set for precision ≥ 0.95 (see the
#: module's docstring and `gridbot nlu eval`).
THRESHOLD = 0.75
#: T for a question that names no topic: its words alone must carry it.
NO_TOPIC = 0.8


class NoticeLike(Protocol):
    id: int
    text: str
    sent_at: datetime | None


# ---------------------------------------------------------------- reading text

_SEP = "|"  # what a consumed word leaves behind, so segments never join across it
_CLAUSE = re.compile(r"[，,。.；;！!？?\s~～…、:：\"“”'‘’()（）【】\[\]]+")


def normalize(text: str) -> str:
    """Full-width to half-width, lower case, without an @-mention or emoji."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = re.sub(r"^\s*@\S+\s*", "", text)
    return re.sub(r"[\U0001F300-\U0001FAFF\u2600-\u27BF]", " ", text).strip()


# ---------------------------------------------------------------- topics

# Ordered: earlier patterns take their words first ("电梯" before "电", "物业费" before
# anything else with 费, "燃气…停" before "燃气").
_TOPICS: tuple[tuple[str, str], ...] = (
    ("物业费", r"物业费|管理费"),
    ("停车费", r"停车费|车位费"),
    ("水费", r"水费"),
    ("电费", r"电费"),
    ("燃气费", r"燃气费|煤气费"),
    ("暖气费", r"暖气费|取暖费|供暖费"),
    ("网费", r"网费|宽带费"),
    ("电动车", r"电动车|电瓶车|充电桩"),
    ("电梯", r"电梯|轿厢|\d+号梯"),
    ("楼梯", r"楼梯"),
    ("水表", r"水表"),
    ("电表", r"电表"),
    ("燃气表", r"燃气表|气表"),
    ("热水器", r"热水器"),
    ("净水器", r"净水器"),
    ("手机信号", r"手机信号|信号"),
    ("网络", r"网络|宽带|断网|网线|上网|wifi|有线电视|电视|网速|网(?=[^，,。？?]{0,4}(?:断|停|恢复|好))"),
    ("水质", r"水质|浑|浊|发黄|水黄|异味"),
    ("供暖", r"供暖|停暖|采暖|通暖|开暖气"),
    ("试水", r"试水|打压"),
    ("暖气", r"暖气片|暖气管|暖气|地暖"),
    ("停气", r"停气|断气|供气|通气|没气|来气|(?:燃气|煤气|天然气)[^，,。？?!！]{0,6}?(?:停|断|恢复)"),
    ("燃气", r"燃气|煤气|天然气|液化气"),
    ("管道", r"水管|管道|下水道|管网|管子"),
    ("停水", r"停水|断水|供水|来水|没水|没有水|有水|通水|用水|自来水|储水|存水|接水|蓄水|水箱|"
             r"二次供水|水压|停[^，,。？?!！水]{0,4}水|水(?![务表管质费箱压])(?=[^，,。？?!！]{0,5}(?:来|停|恢复|通))"),
    ("停电", r"停电|断电|供电|来电|没电|用电|电力|线路|配电|电闸|拉闸|"
             r"停[^，,。？?!！电]{0,4}电|电(?=[^，,。？?!！]{0,5}(?:来|停|恢复|通))"),
    ("楼道灯", r"楼道灯|声控灯|感应灯|楼道里的灯|灯泡"),
    ("路灯", r"路灯"),
    ("门禁", r"门禁|门卡|单元门|开门|密码门|门铃"),
    ("快递", r"快递柜|快递|丰巢|驿站"),
    ("大件垃圾", r"大件垃圾|大件"),
    ("垃圾", r"[扔倒丢]垃圾|垃圾|厨余"),
    ("消杀", r"消杀|灭蟑|灭鼠|杀虫|除虫|打药|喷药|消毒|蟑螂|老鼠"),
    ("外墙", r"外墙|外立面"),
    ("大扫除", r"大扫除|打扫|清扫|保洁|扫除"),
    ("消防", r"消防栓|消防|灭火器|烟感|逃生"),
    ("检查", r"安检|检查|检测|年检"),
    ("维修", r"维修|检修|维保|保养|抢修|修理"),
    ("施工", r"施工|工程|装修|改造"),
    ("道路", r"路面|道路|主干道|沥青|铺路|修路|马路"),
    ("开会", r"开会|会议|大会|例会|楼组会|议事会|协商会|座谈会|说明会"),
    ("投票", r"投票|选举|换届|业委会"),
    ("体检", r"体检|量血压|血压|义诊|测血糖|血糖"),
    ("疫苗", r"疫苗|接种"),
    ("理发", r"理发|剪头发|剪头|剪发|义剪"),
    ("台风", r"台风|暴雨|大风|防汛|寒潮"),
    ("停车", r"停车场|停车位|车位|停车|车库|挪车|划线|车辆|开车|(?<![电快])车"),
    ("留人", r"留人|在家|家里有人|有人在家|上门|入户"),
)
_TOPIC_RES = tuple((name, re.compile(pattern)) for name, pattern in _TOPICS)


def _take(text: str, pattern: re.Pattern[str]) -> tuple[str, bool]:
    """The text with the pattern's matches replaced by a separator, and whether any was."""
    taken, count = pattern.subn(_SEP, text)
    return taken, count > 0


def topics_of(text: str) -> tuple[frozenset[str], str]:
    """The topics a normalized text speaks of, and what is left of it."""
    found: set[str] = set()
    for name, pattern in _TOPIC_RES:
        text, hit = _take(text, pattern)
        if hit:
            found.add(name)
    return frozenset(found), text


# ---------------------------------------------------------------- what is asked for


@dataclass(frozen=True, slots=True)
class Aspect:
    name: str  # in the explanation: 时间, 地点 …
    asks: re.Pattern[str]
    notice_has: re.Pattern[str] | None  # None: any notice on the topic answers
    marks_question: bool = True  # 多少钱 asks by itself; 收费 or 带上 only with 吗, 什么 …


_TIME_IN_NOTICE = re.compile(
    r"\d{1,2}[:：]\d{2}|\d{1,2}点|[上下]午|早上|晚上|中午|凌晨|傍晚|今天|明天|后天|今晚|明早|"
    r"明晚|\d{1,2}月\d{1,2}[日号]|\d{1,2}[日号]|[周星期][一二三四五六日天]|全天|整天|小时|分钟|"
    r"\d+天|[一两三四五六七八九十]天|一个月|工期|完工|恢复|以前|之前|前")
_PLACE_IN_NOTICE = re.compile(
    r"[在到][^，,。；;！!\d]{0,12}?(?:室|厅|广场|门|处|中心|办公室|楼|里|边|口|站|地面|空地|车棚)|"
    r"[东西南北]门|广场|活动室|会议室|办公室|大厅|门口|路边|地面|楼下|底楼|居委会")
# How long, or until when: a range, a duration or an end.
_END_IN_NOTICE = re.compile(
    r"[到至\-—~～]\s*(?:上午|下午|早上|晚上|中午|凌晨|傍晚|今晚|明天|明早|后天|\d)|小时|分钟|"
    r"\d+天|[一两三四五六七八九十]天|个月|工期|\d前|日前|点前|恢复|结束|完工|为止|截止|左右")
_COST_IN_NOTICE = re.compile(r"免费|不收|收费|费用|\d+\s*元|块钱|自费|付费|不要钱")
_BRING_IN_NOTICE = re.compile(r"带|携带|准备|证件|身份证|户口本|医保卡|房产证")
_CONTACT_IN_NOTICE = re.compile(r"\d{7,}|\d{3,4}-\d{7,8}|电话|联系|找|负责人|楼组长|物业|登记")

_ASPECTS: tuple[Aspect, ...] = (
    Aspect("联系人", re.compile(r"找谁|联系谁|问谁|打给谁|谁负责|谁管|谁来|什么电话|哪个电话|电话多少|"
                             r"电话是|联系方式|怎么联系"), _CONTACT_IN_NOTICE),
    Aspect("时间", re.compile(r"几点钟|几点|几时|什么时候|啥时候|什么时间|啥时间|何时|多久|多长时间|多长|"
                            r"几天|几号|哪天|哪一天|哪日|星期几|周几|礼拜几|多少天|几个小时|几分钟|"
                            r"上午还是下午|早上还是晚上"), _TIME_IN_NOTICE),
    Aspect("时长或结束时间", re.compile(r"多久|多长时间|多长|几天|多少天|几个小时|几分钟|到几点|到什么时候|"
                                 r"到啥时候|到哪天|到几号|停到|几点结束|什么时候结束|几点恢复|"
                                 r"什么时候恢复|啥时候恢复"), _END_IN_NOTICE),
    Aspect("地点", re.compile(r"哪里|哪儿|哪边|哪个门|哪个地方|哪个[^，,。？?]{0,3}室|什么地方|啥地方|"
                            r"[在去到放停挪交搬]哪(?:里|儿|边)?(?![天日号一])|哪集合|地点|位置|几楼"), _PLACE_IN_NOTICE),
    Aspect("费用", re.compile(r"多少钱|要钱|收钱|收费|要不要钱|花钱|付钱|费用|几块|交钱|出钱|"
                            r"贵不贵|要不要交"), _COST_IN_NOTICE, marks_question=False),
    Aspect("要带的东西", re.compile(r"带什么(?:证件|东西)?|带啥|要带|需要带|带不带|带上|拿什么|准备什么|"
                                r"要准备|什么证件"), _BRING_IN_NOTICE, marks_question=False),
    Aspect("原因", re.compile(r"为什么|为啥|怎么回事|什么原因|啥原因|干嘛|干啥|"
                            r"怎么(?:突然|又|会)?(?:停|断|没|是|浑|黄)"), None),
)
_REASON_IN_NOTICE = re.compile(r"因|由于|为了|原因|所以")
_WORK_WORDS = re.compile(r"维修|检修|抢修|年检|保养|维保|改造|施工|更换|清洗|升级|检查|安检|消杀|"
                         r"冲洗|爆|要修|换届|划线|铺")
_YES_NO = re.compile(r"吗|(?<![什怎这那多])么|伐|是不是|是否|会不会|有没有|要不要|能不能|可不可以|用不用|需不需要|"
                     r"[了好]没|没有$|还[^，,。？?]{0,6}不|吧[?？]|([\u4e00-\u9fff])不\1")
_OTHER_QUESTION = re.compile(r"[?？]|怎么办|怎么|如何|什么|啥|哪些|几个|多少|谁")


def aspects_of(clause: str) -> tuple[Aspect, ...]:
    """What a normalized clause asks for: a time, a place …"""
    return tuple(aspect for aspect in _ASPECTS if aspect.asks.search(clause))


def asks(clause: str) -> bool:
    """Whether a normalized clause is a question (几点, 什么时候, 吗, 是不是, ？ …)."""
    return bool(any(a.marks_question for a in aspects_of(clause)) or _YES_NO.search(clause)
                or _OTHER_QUESTION.search(clause))


def without_question_words(text: str) -> str:
    for pattern in (*(a.asks for a in _ASPECTS), _YES_NO, _OTHER_QUESTION):
        text = pattern.sub(_SEP, text)
    return text


def is_question(text: str) -> bool:
    """Whether a message asks something."""
    clean = normalize(text)
    return any(asks(clause) for clause in _clauses(clean, text))


def _clauses(clean: str, original: str) -> list[str]:
    """A normalized text's clauses; a clause followed by a question mark keeps one."""
    parts = re.split(r"([，,。.；;！!？?\n~～…]+)", clean)
    clauses = []
    for i in range(0, len(parts), 2):
        clause = parts[i].strip()
        mark = parts[i + 1] if i + 1 < len(parts) else ""
        if clause:
            clauses.append(clause + ("?" if "?" in mark or "？" in mark else ""))
    return clauses


# ---------------------------------------------------------------- days

_WEEKDAYS = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6}
_RELATIVE = (("大后天", 3), ("后天", 2), ("明天", 1), ("明日", 1), ("明儿", 1), ("明早", 1),
             ("明晚", 1), ("明朝", 1), ("今天", 0), ("今日", 0), ("今儿", 0), ("今早", 0),
             ("今晨", 0), ("今晚", 0), ("今夜", 0), ("现在", 0), ("目前", 0), ("这会", 0),
             ("刚才", 0), ("马上", 0))
_RELATIVE_RE = re.compile("|".join(word for word, _ in _RELATIVE))
_RELATIVE_DAYS = dict(_RELATIVE)
_WEEKDAY_RE = re.compile(r"(下下|下|上|本|这)?(?:个)?(?:周|星期|礼拜)([一二三四五六日天])")
_WEEK_RE = re.compile(r"(下|上|本|这)(?:个)?(?:周|星期|礼拜)(?![一二三四五六日天])|(?:这|本)?周末")
_DATE_RE = re.compile(r"(?:(\d{1,2})月)(\d{1,2})[日号]?|(?<![\d.])(\d{1,2})[日号](?![楼线门梯单元房院])")
_PAST = re.compile(r"上次|上回|之前那次|以前|去年|上个月|上周|上星期|昨天|昨晚|前天|前几天|前阵子")


def _nearest(base: date, month: int, day: int) -> date | None:
    """The date with that month and day nearest to `base`."""
    best = None
    for year in (base.year - 1, base.year, base.year + 1):
        try:
            candidate = date(year, month, day)
        except ValueError:
            continue
        if best is None or abs(candidate - base) < abs(best - base):
            best = candidate
    return best


def days_named(text: str, base: date) -> list[date]:
    """The days a normalized text names, read from `base` (its day in Beijing)."""
    days: list[date] = []
    for match in _RELATIVE_RE.finditer(text):
        days.append(base + timedelta(days=_RELATIVE_DAYS[match.group(0)]))
    monday = base - timedelta(days=base.weekday())
    for match in _WEEKDAY_RE.finditer(text):
        which, name = match.groups()
        day = monday + timedelta(days=_WEEKDAYS[name])
        if which in ("下",):
            day += timedelta(days=7)
        elif which == "下下":
            day += timedelta(days=14)
        elif which == "上":
            day -= timedelta(days=7)
        elif which is None and day < base:
            day += timedelta(days=7)  # a bare 周六 is the next one
        days.append(day)
    for match in _WEEK_RE.finditer(text):
        which = match.group(1)
        if match.group(0).endswith("周末"):
            days += [monday + timedelta(days=5), monday + timedelta(days=6)]
            continue
        start = monday + timedelta(days={"下": 7, "上": -7}.get(which or "", 0))
        days += [start, start + timedelta(days=6)]
    last_month = None
    for match in _DATE_RE.finditer(text):
        month_text, day_text, alone = match.groups()
        if alone is not None:
            month, day = (last_month or base.month), int(alone)
        else:
            month, day = int(month_text), int(day_text)
            last_month = month
        found = _nearest(base, month, day)
        if found is not None:
            days.append(found)
    return days


def _local_day(moment: datetime) -> date:
    return moment.astimezone(SHANGHAI).date()


# ---------------------------------------------------------------- the question

# Reported faults make a matter, not a question about a notice.
_FAULT = re.compile(r"坏了|坏掉|又坏|故障|漏水|渗水|漏了|堵了|堵住|不亮|冒烟|着火|困人|关人|卡住|"
                    r"没人管|没人修|投诉|报修|噪音|太吵|吵死|跳闸|丢了|生锈|不热|掉了|太小")

# Time and state words: what the day and the aspect already say.
_TIME_WORDS = re.compile(
    r"大后天|后天|明天|明日|明儿|明早|明晚|明朝|今天|今日|今儿|今早|今晨|今晚|今夜|现在|目前|这会儿?|"
    r"刚才|马上|一会儿?|(?:下下|下|上|本|这)?(?:个)?(?:周|星期|礼拜)[一二三四五六日天]?|周末|"
    r"\d{1,2}月\d{1,2}[日号]?|\d{1,2}[日号]|\d{1,2}[:：]\d{2}|\d{1,2}点(?:半|\d{1,2}分?)?|"
    r"上午|下午|早上|早晨|晚上|中午|凌晨|傍晚|夜里|白天|一整天|整天|全天|一天|那天|当天|那几天|这几天|"
    r"期间|时候|时间|之前|以前|以后|之后|前后|为止|截止|结束|开始|恢复|正常|完成|完工|弄好|修好|搞好|换好|"
    r"铺完|好了|能用|能坐|能看|能上|能走|可以用|正常用|进行|停止|暂停|停用")
# Words that carry no content: greetings, particles, pronouns, helpers.
_FILLERS = re.compile(
    r"请问|请教|问一下|问下|想问|打听|有谁知道|谁知道|有人知道|知道|楼组长|楼长|组长|老师|各位|大家|"
    r"邻居们?|亲们?|你们|我们家|我们楼|我们|咱们|咱楼|咱|我家|俺|本楼|全楼|整栋楼|这栋楼|"
    r"\d+号楼|\d+单元|这个|那个|这次|这回|一下|一点|有点|到底|究竟|具体|大概|大约|一般|总共|"
    r"一共|真的|突然|通知|说的|说|应该|需要|必须|一定|还是|或者|可以|事情|事儿|的事|情况|自己|地方|"
    r"的话|原因|因为")
# Single characters that say nothing alone (停, 来, 用 …): a segment of one of them is dropped.
_WEAK = set("我你您他她它们这那的了吗呢吧啊呀哈嘛么伐哦喔噢咯啦喽呐哇嗯是就都也还又再要会能得"
            "到在去有没不把被给让对跟和与及个些次下停断来好完走做弄搞换开关用坐看上里外事点多"
            "前后从起已经该将请可等亮")
# Function words split segments wherever they stand ("阳台能晾衣服" is 阳台 and 晾衣服).
_FUNCTION = re.compile(r"[要能会还是就都也又再把被给让对跟和与及在有没不]")
# What a segment sheds at its front (用微信 → 微信) and at its end (阳台上 → 阳台).
_LEADING = "用去来到"
_TRAILING = "了的着过来去出走到下上里个"


@dataclass(frozen=True, slots=True)
class Question:
    """A resident's message as the scorer reads it."""

    text: str
    topics: frozenset[str]
    aspects: tuple[Aspect, ...]
    segments: tuple[str, ...]  # the words a notice must also hold
    days: tuple[date, ...]
    today: date
    past: bool
    fault: str | None


def read_question(text: str, now: datetime) -> Question | None:
    """The question in a message, or None when it asks nothing."""
    clean = normalize(text)
    today = _local_day(now)
    clauses = _clauses(clean, text)
    topics: set[str] = set()
    aspects: list[Aspect] = []
    asked_rest: list[str] = []
    said_rest: list[str] = []
    for clause in clauses:
        found, rest = topics_of(clause)
        topics |= found
        aspects += [a for a in aspects_of(clause) if a not in aspects]
        (asked_rest if asks(clause) else said_rest).append(without_question_words(rest))
    if not asked_rest:
        return None
    fault = _FAULT.search(clean)
    segments = _segments(asked_rest or said_rest)
    return Question(text=clean, topics=frozenset(topics), aspects=tuple(aspects),
                    segments=segments, days=tuple(days_named(clean, today)), today=today,
                    past=_PAST.search(clean) is not None,
                    fault=fault.group(0) if fault else None)


_PARTICLES = re.compile(r"[的了吗呢吧啊呀哈嘛么伐哦喔噢咯啦喽呐哇嗯]")


def _segments(rests: Iterable[str]) -> tuple[str, ...]:
    """The words left once times, states, fillers and particles are taken out."""
    segments: list[str] = []
    for rest in rests:
        rest = _TIME_WORDS.sub(_SEP, rest)
        rest = _FILLERS.sub(_SEP, rest)
        rest = _PARTICLES.sub(_SEP, rest)
        rest = _FUNCTION.sub(_SEP, rest)
        for piece in re.split(r"[|\s]+|[^\w]+", rest):
            piece = piece.strip("_").lstrip(_LEADING).rstrip(_TRAILING)
            if not piece or (len(piece) == 1 and piece in _WEAK):
                continue
            if piece not in segments:
                segments.append(piece)
    return tuple(segments)


# ---------------------------------------------------------------- scoring a notice


@dataclass(frozen=True, slots=True)
class NoticeScore:
    """How well one notice answers a question, and why."""

    notice_id: int
    score: float
    topics_found: tuple[str, ...] = ()
    topics_missing: tuple[str, ...] = ()
    words_found: tuple[str, ...] = ()
    words_missing: tuple[str, ...] = ()
    blocked: str | None = None  # why the notice cannot answer at all
    sent_at: datetime | None = None
    unblocked: float = 0.0  # the score it would have without `blocked`: how close it came

    def explain(self) -> str:
        """In an admin's words: what matched, what did not, and the score."""
        parts = []
        if self.topics_found or self.topics_missing:
            parts.append("主题 " + " ".join([f"{t}✓" for t in self.topics_found]
                                           + [f"{t}✗" for t in self.topics_missing]))
        if self.words_found or self.words_missing:
            parts.append("词 " + " ".join([f"{w}✓" for w in self.words_found]
                                         + [f"{w}✗" for w in self.words_missing]))
        if self.blocked is not None:
            parts.append(self.blocked)
        parts.append(f"得分 {self.score:.2f}")
        return "，".join(parts)


def _bigrams(text: str) -> set[str]:
    return {text[i:i + 2] for i in range(len(text) - 1)}


def _coverage(segment: str, notice: str) -> float:
    if len(segment) == 1:
        return 1.0 if segment in notice else 0.0
    grams = _bigrams(segment)
    return sum(1 for g in grams if g in notice) / len(grams)


@dataclass(frozen=True, slots=True)
class _ReadNotice:
    text: str
    topics: frozenset[str]
    first: date
    last: date


def _read_notice(text: str, sent_at: datetime) -> _ReadNotice:
    clean = normalize(text)
    sent = _local_day(sent_at)
    days = days_named(clean, sent)
    return _ReadNotice(clean, topics_of(clean)[0], min(days, default=sent),
                       max(days, default=sent))


def _blocked(question: Question, notice: _ReadNotice, sent_at: datetime | None,
             now: datetime) -> str | None:
    if question.fault is not None:
        return f"说的是故障（{question.fault}），是要办的事，不是问通知"
    if question.past:
        return "问的是以前的事"
    if sent_at is None or sent_at > now or now - sent_at > ANSWER_WINDOW:
        return "通知不在最近7天内"
    if question.days:
        asked_first, asked_last = min(question.days), max(question.days)
        if asked_last < notice.first or asked_first > notice.last:
            return (f"问的是{asked_first:%m月%d日}，通知说的是"
                    f"{notice.first:%m月%d日}" + (f"至{notice.last:%m月%d日}"
                                                 if notice.last != notice.first else ""))
    elif notice.last < question.today:
        return f"通知说的{notice.last:%m月%d日}已经过去"
    for aspect in question.aspects:
        if aspect.name == "原因":
            has = (_REASON_IN_NOTICE.search(notice.text) is not None or any(
                m.group(0) not in question.text for m in _WORK_WORDS.finditer(notice.text)))
        else:
            has = aspect.notice_has is None or aspect.notice_has.search(notice.text) is not None
        if not has:
            return f"问的是{aspect.name}，通知没有写"
    return None


def score_notice(question: Question, notice: NoticeLike, now: datetime) -> NoticeScore:
    """How well `notice` answers `question`, asked at `now`."""
    sent_at = notice.sent_at
    read = _read_notice(notice.text, sent_at or now)
    found = tuple(sorted(question.topics & read.topics))
    missing = tuple(sorted(question.topics - read.topics))
    coverage = {segment: _coverage(segment, read.text) for segment in question.segments}
    t = len(found) / len(question.topics) if question.topics else NO_TOPIC
    r = (1 + sum(coverage.values())) / (1 + len(coverage))
    blocked = _blocked(question, read, sent_at, now)
    if blocked is None and not question.topics and not any(
            len(s) >= 2 and c >= 0.5 for s, c in coverage.items()):
        # Without a topic, only a word of its own shared with the notice says what it is about.
        blocked = "问题没有说是哪件事"
    return NoticeScore(
        notice.id, 0.0 if blocked is not None else round(t * r, 4), found, missing,
        tuple(s for s, c in coverage.items() if c >= 0.5),
        tuple(s for s, c in coverage.items() if c < 0.5), blocked=blocked, sent_at=sent_at,
        unblocked=round(t * r, 4))


@dataclass(frozen=True, slots=True)
class Ranking:
    """Every notice scored for one question, best first."""

    question: Question | None
    scores: tuple[NoticeScore, ...] = field(default=())

    @property
    def best(self) -> NoticeScore | None:
        return self.scores[0] if self.scores else None


def rank(text: str, now: datetime, notices: Sequence[NoticeLike]) -> Ranking:
    """The notices scored for the question in `text`, best first; of those that cannot
    answer, the closest first; the newest of equals."""
    question = read_question(text, now)
    if question is None:
        return Ranking(None)
    scores = [score_notice(question, notice, now) for notice in notices]
    scores.sort(key=lambda s: (-s.score, -s.unblocked,
                               -(s.sent_at.timestamp() if s.sent_at else 0)))
    return Ranking(question, tuple(scores))


def best_answer(text: str, now: datetime, notices: Sequence[NoticeLike],
                threshold: float = THRESHOLD) -> NoticeScore | None:
    """The notice that answers the question in `text`, if one reaches the threshold."""
    best = rank(text, now, notices).best
    return best if best is not None and best.score >= threshold and best.score > 0 else None
