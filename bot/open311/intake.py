"""A report POSTed through Open311 becomes an inbound message like any other, and the
processor reads it back.

`read_report` checks the form (service, address, who to tell) against the org map and
`stored_message` turns it into the message the intake stores on the channel `open311`:
its text is what the reporter wrote (with the phone, e-mail and picture they gave, so that
staff can reach them), and its `chat_id` says what the form decided, as a small query
string: `service=repair&building=12&group=3&reply=wechat`. `report_context` is the other
half: the processor's context for such a message (`bot.processing`), with the building
and group of the form and, when the reporter gave an Official Account openid, the
reporter as that WeChat user, so that everything gridbot tells the reporter goes there.

Where the reporter hears progress:
- `attribute[group]` names a building group (its name or chat id): progress is said in that
  group, the reporter named by the name they gave (never @-mentioned: they are nobody in
  the chat);
- `attribute[openid]` is the reporter's openid under the Official Account: progress comes
  as Official Account messages (possible only when the Official Account is connected);
- neither: gridbot cannot reach an e-mail address or a phone; the ticket has no resident
  channel, and the reporter follows it by its token and `GET requests/{id}`.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from urllib.parse import parse_qs, urlencode

from bot.channels import InboundMessage
from bot.open311.documents import Open311Error
from domain.decisions import Context, Message
from domain.org import BuildingInfo, GroupInfo, OrgMap, normalize_number
from handlers.open311 import CHANNEL, REPORTER_PREFIX, SERVICE_CODES

MAX_DESCRIPTION = 4000  # the spec's limit
MAX_FIELD = 200
MAX_MEDIA_URL = 1000
ATTRIBUTES = ("group", "openid")
_OPENID = re.compile(r"[A-Za-z0-9_-]{6,64}")
_MEDIA_URL = re.compile(r"https?://[^\s<>\"]+", re.IGNORECASE)
_ATTRIBUTE = re.compile(r"attribute\[([^\]]*)\](\[\])?")
# "3号楼", "3 号", "3栋", "3幢": a building's number where an address names it.
_BUILDING_WORD = re.compile(r"([0-9A-Za-z]+(?:-[0-9A-Za-z]+)?)\s*(?:号楼|号|栋|幢)")
_SEPARATORS = re.compile(r"[\s,，、;；/]+")


@dataclass(frozen=True, slots=True)
class Report:
    """What a POSTed form asks for, checked against the org map."""

    service_code: str
    building: BuildingInfo
    group: GroupInfo | None
    openid: str | None
    description: str
    reporter_name: str | None
    reporter_key: str | None  # account, e-mail, phone or device: who reports, as given
    phone: str | None
    email: str | None
    media_url: str | None
    account_id: str | None


def _one(values: Mapping[str, list[str]], name: str, max_chars: int = MAX_FIELD) -> str | None:
    """A single form field, stripped; None when absent or empty (the spec's "optional")."""
    given = values.get(name, [])
    if len(given) > 1:
        raise Open311Error(400, f"{name} 只能给一个值。")
    value = given[0].strip() if given else ""
    if not value:
        return None
    if len(value) > max_chars:
        raise Open311Error(400, f"{name} 超过 {max_chars} 个字符。")
    if "\x00" in value:
        raise Open311Error(400, f"{name} 含有不允许的字符。")
    return value


def form_values(pairs: list[tuple[str, str]]) -> tuple[dict[str, list[str]], dict[str, str]]:
    """The form's fields by name, and its attributes (`attribute[code]=value`) by code."""
    values: dict[str, list[str]] = {}
    attributes: dict[str, str] = {}
    for name, value in pairs:
        match = _ATTRIBUTE.fullmatch(name)
        if match is None:
            values.setdefault(name, []).append(value)
            continue
        code = match.group(1)
        if code not in ATTRIBUTES:
            raise Open311Error(400, f"没有 attribute[{code[:40]}] 这一项；可填的是 "
                                    + "、".join(f"attribute[{a}]" for a in ATTRIBUTES) + "。")
        if code in attributes or match.group(2):
            raise Open311Error(400, f"attribute[{code}] 只能给一个值。")
        attributes[code] = value.strip()
    return values, attributes


def jurisdiction_streets(org: OrgMap, jurisdiction: str | None) -> set[int] | None:
    """The street a jurisdiction_id names (404 when none has that name); None: any street."""
    if jurisdiction is None:
        return None
    ids = {s.id for s in org.streets.values() if s.name == jurisdiction}
    if not ids:
        raise Open311Error(404, f"没有名为“{jurisdiction[:40]}”的 jurisdiction_id（街道）。")
    return ids


def _in_streets(org: OrgMap, building: BuildingInfo, streets: set[int] | None) -> bool:
    district = org.district(building.district_id)
    return streets is None or (district is not None and district.street_id in streets)


def _group(org: OrgMap, given: str) -> list[GroupInfo]:
    return [g for g in org.groups.values() if g.name == given or g.chat_id == given]


def _buildings_named(org: OrgMap, address: str) -> list[BuildingInfo]:
    """The buildings an address string names: a number with 号楼/号/栋/幢 (or the bare
    number), narrowed by the district and street names it mentions."""
    text = unicodedata.normalize("NFKC", address)
    mentioned_streets = {s.id for s in org.streets.values() if s.name and s.name in text}
    mentioned_districts = {d.id for d in org.districts.values() if d.name and d.name in text}
    for name in sorted({d.name for d in org.districts.values()}
                       | {s.name for s in org.streets.values()}, key=len, reverse=True):
        if name:
            text = text.replace(name, " ")
    numbers = _BUILDING_WORD.findall(text)
    if not numbers:
        numbers = [part for part in _SEPARATORS.split(text) if part]
    found: dict[int, BuildingInfo] = {}
    for number in numbers:
        for building in org.buildings_by_number(normalize_number(number)):
            found[building.id] = building
    buildings = list(found.values())
    if mentioned_districts:
        buildings = [b for b in buildings if b.district_id in mentioned_districts]
    if mentioned_streets:
        buildings = [b for b in buildings if _in_streets(org, b, mentioned_streets)]
    return buildings


def _locate(org: OrgMap, values: dict[str, list[str]], group: GroupInfo | None,
            streets: set[int] | None) -> BuildingInfo:
    """The building of the report: address_id (gridbot's building id), address_string (its
    number, with its district or street when the number is not unique), or the group's."""
    address_id = _one(values, "address_id")
    address = _one(values, "address_string")
    candidates: list[BuildingInfo] | None = None
    if address_id is not None:
        building = (org.building(int(address_id))
                    if address_id.isascii() and address_id.isdigit() and len(address_id) < 12
                    else None)
        if building is None:
            raise Open311Error(404, f"没有编号为 {address_id[:20]} 的楼栋（address_id）。")
        candidates = [building]
    elif address is not None:
        candidates = [b for b in _buildings_named(org, address) if _in_streets(org, b, streets)]
        if group is not None:
            candidates = [b for b in candidates if b.id == group.building_id] or candidates
        if not candidates:
            raise Open311Error(400, f"address_string“{address[:60]}”里没有找到已登记的楼栋，"
                                    "请写楼号（如 3号楼）或改用 address_id。")
        if len(candidates) > 1:
            raise Open311Error(400, f"address_string“{address[:60]}”对应多个居民区的楼栋，"
                                    "请写上居民区名称，或改用 address_id。")
    elif group is not None:
        building = org.building(group.building_id)
        if building is not None:
            candidates = [building]
    if not candidates:
        if _one(values, "lat") or _one(values, "long"):
            raise Open311Error(400, "网格小助手按楼栋派单，不认经纬度：请给 address_string"
                                    "（如 3号楼）或 address_id。")
        raise Open311Error(400, "缺少位置：请给 address_string（如 3号楼）或 address_id。")
    building = candidates[0]
    if not _in_streets(org, building, streets):
        raise Open311Error(400, "这栋楼不属于 jurisdiction_id 所指的街道。")
    if group is not None and group.building_id != building.id:
        raise Open311Error(400, "attribute[group] 所指的群不是这栋楼的群。")
    return building


def read_report(org: OrgMap, pairs: list[tuple[str, str]], *, wechat_connected: bool) -> Report:
    """The form of a POST, checked; Open311Error says what is wrong (404 for a service or
    jurisdiction that does not exist, 400 for anything else)."""
    values, attributes = form_values(pairs)
    streets = jurisdiction_streets(org, _one(values, "jurisdiction_id"))
    code = _one(values, "service_code")
    if code is None:
        raise Open311Error(400, "缺少 service_code：请从 services 列表中选一个服务。")
    if code not in SERVICE_CODES:
        raise Open311Error(404, f"没有 service_code 为“{code[:40]}”的服务；可选："
                                + "、".join(SERVICE_CODES) + "。")
    description = _one(values, "description", MAX_DESCRIPTION)
    if description is None:
        raise Open311Error(400, "缺少 description：请写明是什么问题。")

    group = None
    if attributes.get("group"):
        given = attributes["group"][:MAX_FIELD]
        groups = _group(org, given)
        if not groups:
            raise Open311Error(400, f"没有名为“{given[:40]}”的楼栋群（attribute[group]）。")
        group = groups[0]
        if len(groups) > 1:
            group = None  # several groups of that name: the address decides which
            building = _locate(org, values, None, streets)
            group = next((g for g in groups if g.building_id == building.id), None)
            if group is None:
                raise Open311Error(400, f"“{given[:40]}”不是这栋楼的群（attribute[group]）。")
    building = _locate(org, values, group, streets)

    openid = attributes.get("openid") or None
    if openid is not None:
        if not _OPENID.fullmatch(openid):
            raise Open311Error(400, "attribute[openid] 不是公众号 openid 的样子"
                                    "（6 到 64 位字母、数字、- 或 _）。")
        if not wechat_connected:
            raise Open311Error(400, "本站没有接入公众号，无法用 attribute[openid] 告知进展；"
                                    "请改填 attribute[group]，或不填。")
        if group is not None:
            raise Open311Error(400, "attribute[group] 和 attribute[openid] 只能填一个。")

    media_url = _one(values, "media_url", MAX_MEDIA_URL)
    if media_url is not None and not _MEDIA_URL.fullmatch(media_url):
        raise Open311Error(400, "media_url 须是 http 或 https 地址。")
    first, last = _one(values, "first_name", 50), _one(values, "last_name", 50)
    name = "".join(part for part in (last, first) if part) or None
    account_id = _one(values, "account_id")
    email, phone = _one(values, "email"), _one(values, "phone", 30)
    device = _one(values, "device_id")
    key = next((f"{kind}:{value}" for kind, value in (
        ("account", account_id), ("email", email), ("phone", phone), ("device", device))
        if value), None)
    return Report(service_code=code, building=building, group=group, openid=openid,
                  description=description, reporter_name=name, reporter_key=key,
                  phone=phone, email=email, media_url=media_url, account_id=account_id)


def stored_message(report: Report, token: str, sent_at: int) -> InboundMessage:
    """The inbound message a report is stored as (see the module's docstring)."""
    decided = {"service": report.service_code, "building": report.building.id}
    if report.group is not None:
        decided["group"] = report.group.id
    if report.openid is not None:
        decided["reply"] = "wechat"
        sender = report.openid
    else:
        who = report.reporter_key or f"token:{token}"
        sender = REPORTER_PREFIX + hashlib.sha256(who.encode()).hexdigest()[:24]
    extras = [f"{label}：{value}" for label, value in (
        ("联系电话", report.phone), ("邮箱", report.email), ("图片", report.media_url)) if value]
    text = report.description + (f"\n（{'；'.join(extras)}）" if extras else "")
    return InboundMessage(
        channel=CHANNEL, msg_id=token, sender_id=sender, text=text, sent_at=sent_at,
        chat_id=urlencode(decided), sender_name=report.reporter_name,
        chat_name=f"Open311 {report.building.number}号楼",
    )


# ------------------------------------------------------------------ the processor's side


class StoredReport(Protocol):
    """The columns of a stored message the processor holds (`bot.processing.Claim`)."""

    id: int
    chat_id: str | None
    sender_id: str
    sender_name: str | None
    text: str


@dataclass(frozen=True, slots=True)
class Decided:
    """What the form decided, as the stored message keeps it."""

    service_code: str
    building_id: int | None
    group_id: int | None
    reply_on_wechat: bool


def decided(chat_id: str | None) -> Decided:
    fields = {k: v[0] for k, v in parse_qs(chat_id or "").items()}

    def number(name: str) -> int | None:
        value = fields.get(name, "")
        return int(value) if value.isascii() and value.isdigit() else None

    service = fields.get("service", "")
    if service not in SERVICE_CODES:
        raise ValueError(f"an Open311 message without a known service: {chat_id!r}")
    return Decided(service, number("building"), number("group"), fields.get("reply") == "wechat")


def report_context(claim: StoredReport, org: OrgMap, now: datetime) -> Context:
    """The context the processor handles a stored Open311 report in."""
    form = decided(claim.chat_id)
    group = org.group(form.group_id) if form.group_id is not None else None
    building = org.building(form.building_id) if form.building_id is not None else None
    channel = "wechat" if form.reply_on_wechat else CHANNEL
    person = org.person_by_sender(channel, claim.sender_id)
    return Context(
        message=Message(inbound_id=claim.id, channel=channel, sender_id=claim.sender_id,
                        sender_name=claim.sender_name, text=claim.text, chat_id=None),
        org=org, now=now,
        group_id=group.id if group is not None else None,
        building_id=building.id if building is not None else (
            group.building_id if group is not None else None),
        person_id=person.id if person is not None else None,
    )
