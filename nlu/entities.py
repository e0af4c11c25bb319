"""Rule-based entity extraction for building-group messages.

Returns Rasa-shaped entity dicts ``{"entity", "value", "start", "end", "extractor"}`` with
offsets into the text as given. Entities: ``building``, ``unit``, ``room``, ``floor``,
``phone`` and ``facility``. Numbers may be written in ASCII digits, full-width digits or
Chinese numerals (三号楼, 十二号楼); values are canonical ASCII strings.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

from nlu.traditional import to_simplified

EXTRACTOR = "gridbot.regex"
MAX_SCAN = 2000

log = logging.getLogger(__name__)

# Full-width ASCII to half-width, one character for one character, so offsets stay valid.
_HALF_WIDTH = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)}
_HALF_WIDTH.update({0x3000: 0x20, 0x2014: 0x2D, 0x2013: 0x2D, 0x2212: 0x2D, 0x2010: 0x2D})
_WIDE = re.compile("[" + "".join(re.escape(chr(cp)) for cp in sorted(_HALF_WIDTH)) + "]")
_HALF = {chr(k): chr(v) for k, v in _HALF_WIDTH.items()}


def half_width(text: str) -> str:
    """``text.translate(_HALF_WIDTH)``, faster: only the characters found are replaced."""
    return _WIDE.sub(lambda m: _HALF[m.group()], text)

_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5,
              "六": 6, "七": 7, "八": 8, "九": 9}
_CN_UNITS = {"十": 10, "百": 100, "千": 1000}
CN = "零〇一二两三四五六七八九十百千"


def cn_to_int(word: str) -> int | None:
    """Value of a Chinese numeral such as 十二, 二十三, 一百零二 or 三〇二; None if not one."""
    if not word or any(ch not in _CN_DIGITS and ch not in _CN_UNITS for ch in word):
        return None
    if not any(ch in _CN_UNITS for ch in word):
        return int("".join(str(_CN_DIGITS[ch]) for ch in word))
    total = 0
    digit: int | None = None
    for ch in word:
        if ch in _CN_DIGITS:
            digit = _CN_DIGITS[ch]
        else:
            unit = _CN_UNITS[ch]
            total += (1 if digit is None else digit) * unit
            digit = None
    if digit is not None:
        total += digit
    return total


def to_number(word: str) -> str | None:
    """Canonical string form of an ASCII, or Chinese numeral; None when unreadable."""
    word = word.strip()
    if word.isascii() and word.isdigit():
        return str(int(word))
    value = cn_to_int(word)
    return None if value is None else str(value)


FACILITY_SYNONYMS: dict[str, tuple[str, ...]] = {
    "lift": ("电梯", "电梯间", "轿厢", "升降梯", "直梯", "客梯", "货梯", "电悌", "電梯",
             "电梯门", "电梯按钮", "电梯按键", "升降机", "𨋢"),
    "light": ("楼道灯", "声控灯", "感应灯", "灯泡", "灯管", "走廊灯", "过道灯",
              "照明", "楼梯灯", "廊灯", "吸顶灯", "灯", "楼到灯"),
    # The estate's lights outdoors: another matter than a stairwell's light, for whoever
    # looks after the grounds.
    "street_light": ("路灯", "庭院灯", "草坪灯", "景观灯", "高杆灯", "路边的灯"),
    "door": ("单元门", "门禁", "大门", "楼门", "防盗门", "铁门", "门锁", "门禁卡", "门卡",
             "闭门器", "楼栋门", "人脸识别", "电子门", "天台门"),
    "intercom": ("对讲", "可视对讲", "对讲机", "门铃", "楼宇对讲", "门口机"),
    "water_pipe": ("水管", "自来水管", "水龙头", "水表", "总阀", "阀门", "供水管", "管道",
                   "水压", "水泵", "水箱", "二次供水", "爆管", "进水管", "上水管", "自来水",
                   "水喉"),
    "drain": ("下水道", "下水管", "排水管", "地漏", "化粪池", "污水管", "落水管", "雨水管",
              "阴沟", "排污管", "下水", "马桶", "污水井", "排水沟"),
    "roof": ("屋顶", "楼顶", "天台", "屋面", "防水层", "顶楼漏水", "天花板", "吊顶"),
    "wall": ("外墙", "墙皮", "墙面", "瓷砖", "墙砖", "外立面"),
    "power": ("停电", "跳闸", "电闸", "电表", "配电箱", "电箱", "电线", "电路", "插座",
              "断电", "供电", "变压器", "电缆", "漏电", "线路", "空气开关", "总闸"),
    "gas": ("煤气", "燃气", "天然气", "燃气管", "煤气管", "燃气表", "煤气罐"),
    "camera": ("摄像头", "监控", "探头", "监控探头", "摄像机"),
    "road": ("路面", "道路", "坑洼", "大坑", "深坑", "坑坑洼洼", "地砖", "路砖", "台阶",
             "人行道", "塌陷", "路沿"),
    "barrier": ("道闸", "栏杆", "挡车杆", "抬杆", "闸杆", "车牌识别", "道杆", "车库杆"),
    "fire_equipment": ("灭火器", "消防栓", "消火栓", "消防门", "烟感", "喷淋", "应急灯",
                       "消防水带", "消防管", "疏散指示", "防火门", "消防箱", "烟雾报警器"),
    "manhole": ("井盖", "窨井盖", "下水井", "窨井", "检查井", "雨水井", "阴井盖"),
}

#: Places that hold a facility's word without naming the facility ("单元门口的台阶碎了" is a
#: step at the door, "电梯门口的地砖" a floor tile by the lift): read first, and skipped.
PLACES_NOT_FACILITIES = ("门口", "单元门口", "大门口", "楼门口", "小区门口", "楼栋门口",
                         "电梯门口", "家门口", "电梯口", "大门外", "单元门外")

_FACILITY_INDEX: dict[str, str | None] = {
    word: key for key, words in FACILITY_SYNONYMS.items() for word in words}
_FACILITY_INDEX.update((place, None) for place in PLACES_NOT_FACILITIES)
_FACILITY_RE = re.compile(
    "|".join(re.escape(w) for w in sorted(_FACILITY_INDEX, key=len, reverse=True))
)

_NOT_AFTER_CN = rf"(?<![{CN}几])"
_DEMONSTRATIVE = re.compile(r"[这那每哪整好几同各]$")

_PHONE_MOBILE = re.compile(r"(?<![\d+])(?:\+?86[\s-]?)?(1[3-9]\d)[\s-]?(\d{4})[\s-]?(\d{4})(?!\d)")
_PHONE_LAND = re.compile(r"(?<![\d-])(0\d{2,3})[\s-]?([2-9]\d{6,7})(?![\d-])")
_PHONE_SERVICE = re.compile(r"(?<![\d-])([48]00)[\s-]?(\d{3})[\s-]?(\d{4})(?![\d-])")
_PHONE_LOCAL = re.compile(r"(?:电话|座机|热线|tel|Tel|TEL)[\s:是为]{0,3}([2-9]\d{6,7})(?![\d-])")

_DIGIT = re.compile(r"\d")
# Phones, rooms and unit-room triples all need three digits in a row.
_DIGIT_RUN = re.compile(r"\d{3}")
_BUILDING_SUFFIX = re.compile(r"[号栋幢座#]")
_TRIPLE = re.compile(r"(?<![\d-])(\d{1,3})-(\d{1,2})-(\d{3,4})(?![\d-])")
_PAIR = re.compile(r"(?<![\d-])(\d{1,3})-(\d{3,4})(?![\d-])")

_BUILDING = re.compile(
    r"(?P<pre>第)?(?:(?<![\d.])(?P<d>\d{1,3})|" + _NOT_AFTER_CN + rf"(?P<c>[{CN}]{{1,4}})"
    r"|(?<![A-Za-z])(?P<l>[A-Za-z]))\s?"
    r"(?P<suf>号楼|号栋|号幢|栋楼|幢楼|栋|幢|座|#楼|#)"
)
_UNIT = re.compile(
    r"(?:(?<![\d.])(?P<d>\d{1,2})|" + _NOT_AFTER_CN + rf"(?P<c>[{CN}]{{1,3}}))\s?(?:单元|门洞)"
)
_FLOOR = re.compile(
    r"(?P<neg>负|地下)?(?:(?<![\d.])(?P<d>\d{1,2})|" + _NOT_AFTER_CN
    + rf"(?P<c>[{CN}]{{1,3}}))\s?(?:楼|层)(?![栋幢])"
)
_BASEMENT = re.compile(r"(?<![A-Za-z])[Bb](?P<d>\d)(?=层|楼|车库|停车|地库|库)")
_ROOM_SUFFIX = re.compile(r"(?<![\d-])(\d{3,4})\s?(?:室|号房|房间|号室)")
_ROOM_AFTER = re.compile(r"[\s的-]{0,2}(\d{3,4})(?![\d元块年月日号米平%.:：万千wW])")
_ROOM_CONTEXT_BEFORE = re.compile(
    r"(?:住在|住|我家是|房号|门牌号?|楼上|楼下|对门|隔壁)[\s是:]{0,2}(\d{3,4})"
    r"(?![\d元块年月日号米平%.:：万千wW])"
)
_ROOM_CONTEXT_AFTER = re.compile(
    r"(?<![\d-])(\d{3,4})(?=\s?(?:的|家|业主|住户|那户|那家|户|邻居|房东|租客|阿姨|大爷|大妈|"
    r"奶奶|爷爷|老人|老太|小孩|装修|群租|漏水|又|天天|一直|总是|老是|经常|在))"
)


class _Spans:
    """Collected entities; numeric entities may not overlap each other."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self._taken: list[tuple[int, int]] = []

    def free(self, start: int, end: int) -> bool:
        return all(end <= s or start >= e for s, e in self._taken)

    def add(self, entity: str, value: str, start: int, end: int, exclusive: bool = True) -> bool:
        if start >= end:
            return False
        if exclusive:
            if not self.free(start, end):
                return False
            self._taken.append((start, end))
        self.items.append({"entity": entity, "value": value, "start": start, "end": end,
                           "extractor": EXTRACTOR})
        return True


def _building_value(m: re.Match[str], text: str) -> str | None:
    if m.group("d"):
        return str(int(m.group("d")))
    if m.group("l"):
        if m.group("suf") not in {"栋", "座", "幢", "号楼"}:
            return None
        return m.group("l").upper()
    word = m.group("c")
    if word is None or "两" in word:
        return None
    if m.group("suf") not in {"号楼", "号栋", "号幢", "栋", "幢", "栋楼", "幢楼"}:
        return None
    if not m.group("pre"):
        if _DEMONSTRATIVE.search(text[max(0, m.start() - 1) : m.start()]):
            return None
        if word == "一" and m.group("suf") in {"栋", "幢", "栋楼", "幢楼"}:
            return None
    return to_number(word)


def _number(m: re.Match[str]) -> str | None:
    if m.group("d"):
        return str(int(m.group("d")))
    word = m.group("c")
    if not word or "两" in word:
        return None
    return to_number(word)


def _room_after(text: str, end: int, spans: _Spans) -> None:
    m = _ROOM_AFTER.match(text, end)
    if m:
        spans.add("room", str(int(m.group(1))), m.start(1), m.end(1))


def extract(text: Any) -> list[dict[str, Any]]:
    """All entities found in ``text``, sorted by position. Never raises."""
    try:
        return _extract(text if isinstance(text, str) else str(text))
    except Exception:  # an extraction bug must never take a message down with it
        log.exception("entity extraction failed")
        return []


def _extract(raw: str) -> list[dict[str, Any]]:
    # Traditional characters read as simplified ones, one for one so that positions stay
    # ("9號樓2單元電梯" names building 9, unit 2, the lift; "煤氣" the gas).
    text = to_simplified(half_width(raw[:MAX_SCAN]))
    spans = _Spans()
    # Each pattern below needs a digit or a keyword; most messages have neither, so the
    # cheap checks spare them the scans.
    digits = _DIGIT.search(text) is not None
    runs = digits and _DIGIT_RUN.search(text) is not None

    if runs:
        for m in _PHONE_MOBILE.finditer(text):
            spans.add("phone", "".join(m.groups()), m.start(), m.end())
        for m in _PHONE_SERVICE.finditer(text):
            spans.add("phone", "-".join(m.groups()), m.start(), m.end())
        for m in _PHONE_LAND.finditer(text):
            spans.add("phone", "-".join(m.groups()), m.start(), m.end())
        for m in _PHONE_LOCAL.finditer(text):
            spans.add("phone", m.group(1), m.start(1), m.end(1))
        for m in _TRIPLE.finditer(text):
            if spans.free(m.start(), m.end()):
                spans.add("building", str(int(m.group(1))), m.start(1), m.end(1))
                spans.add("unit", str(int(m.group(2))), m.start(2), m.end(2))
                spans.add("room", str(int(m.group(3))), m.start(3), m.end(3))

    if _BUILDING_SUFFIX.search(text):
        for m in _BUILDING.finditer(text):
            value = _building_value(m, text)
            if value is not None and spans.add("building", value, m.start(), m.end()):
                _room_after(text, m.end(), spans)

    if "单元" in text or "门洞" in text:
        for m in _UNIT.finditer(text):
            value = _number(m)
            if value is not None and spans.add("unit", value, m.start(), m.end()):
                _room_after(text, m.end(), spans)

    if runs:
        for m in _ROOM_SUFFIX.finditer(text):
            spans.add("room", str(int(m.group(1))), m.start(), m.end())
        for m in _PAIR.finditer(text):
            spans.add("room", m.group(0), m.start(), m.end())
        for pattern in (_ROOM_CONTEXT_BEFORE, _ROOM_CONTEXT_AFTER):
            for m in pattern.finditer(text):
                spans.add("room", str(int(m.group(1))), m.start(1), m.end(1))

    if "楼" in text or "层" in text:
        for m in _FLOOR.finditer(text):
            value = _number(m)
            if value is None or value == "0":
                continue
            if m.group("neg"):
                value = "-" + value
            spans.add("floor", value, m.start(), m.end())
    if digits:
        for m in _BASEMENT.finditer(text):
            spans.add("floor", "-" + str(int(m.group("d"))), m.start(), m.end())

    for m in _FACILITY_RE.finditer(text):
        facility = _FACILITY_INDEX[m.group(0)]
        if facility is not None:
            spans.add("facility", facility, m.start(), m.end(), exclusive=False)

    return sorted(spans.items, key=lambda e: (e["start"], e["end"]))


def first_value(entities: Iterable[dict[str, Any]], name: str) -> str | None:
    """Value of the first entity called ``name``, if any."""
    for ent in entities:
        if ent.get("entity") == name:
            return str(ent.get("value"))
    return None
