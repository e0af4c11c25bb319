"""The figures at city size: a generator of two years of tickets and events for a whole city,
written with PostgreSQL's COPY, and how long each figure takes over them.

    .venv/bin/python bench/stats.py [--scale 1] [--server postgresql://postgres@127.0.0.1:5432]
                                    [--database gridbot_bench_stats] [--keep] [--reuse]
                                    [--repeat 5] [--explain] [--only stats,list]
                                    [--match TEXT] [--json FILE] [--generate-only]

`--scale 1` is a city: 200 streets × 5 districts × 30 grids × 3 buildings (90,000 buildings,
30,000 grids, about 215,000 staff), 10 million tickets over the last two years and about 50
million events; `--scale 0.01` is the same shape at 1/100 (2 streets, 100,000 tickets) for a
quick run. Every street has about 50,000 tickets at any scale.

The generator creates the database afresh (dropping one of that name), migrates it with
gridbot's migrations and writes the org and the history with COPY in PostgreSQL's binary
format: each table's rows are built column by column with numpy (no ORM, no Python object
per row), its secondary indexes are dropped for the load and built again afterwards, and
foreign keys are not checked row by row (`session_replication_role = replica`: the generator
writes only ids it made; no trigger fires either, so `ticket_counts` and
`ticket_piece_counts` are filled from the tickets afterwards, as migrations 0010 and 0016
fill them). It prints the time of each step and the
database's size.

Each ticket lives the loop as gridbot runs it (the distributions of `storage.demo_history`):
reports of the four categories, mostly weekdays and afternoons, more in the second year;
accepted (a wish claimed by a volunteer of its grid or handed to the grid worker), some late
and escalated by their deadline (a dispute up its tiers), now and then whistled to a
department that reports or misses its time, resolved after a lognormal time per category,
rated by most residents or closed unrated after three days, a few reopened (没修好) or
cancelled; followers, points for confirmed wishes; a long tail stays open, escalated again
and again. Tickets are numbered in the order they were received and events in the order
they happened, as gridbot writes them.

Then each figure is asked through gridbot's HTTP API, served in this process against the
generated database (the admin token for the whole city, a street admin's and a district
admin's session for theirs), several times: the time to the whole answer, p50 and max, against
the 200 ms target. `--explain` prints `EXPLAIN (ANALYZE, BUFFERS)` of each SQL statement of
the queries over the target. The database is dropped at the end unless `--keep`; `--reuse`
measures an existing one without generating it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import asyncpg
import numpy as np

SERVER = "postgresql://postgres@127.0.0.1:5432"
DATABASE = "gridbot_bench_stats"

US = 1_000_000
HOUR = 3600 * US
DAY = 86400 * US
#: PostgreSQL's binary timestamps count microseconds from 2000-01-01 00:00 UTC.
PG_EPOCH = 946_684_800 * US
#: Beijing is UTC+8 all year.
BEIJING = 8 * HOUR

CITY_STREETS = 200
CITY_TICKETS = 10_000_000
DISTRICTS_PER_STREET = 5
GRIDS_PER_DISTRICT = 30
BUILDINGS_PER_GRID = 3
VOLUNTEERS_PER_GRID = 2
DAYS = 730

CATEGORIES = ("repair", "complaint", "wish", "dispute")
CATEGORY_NAMES = ("报修", "投诉", "微心愿", "矛盾纠纷")
CATEGORY_WEIGHTS = (0.44, 0.26, 0.15, 0.15)
TIERS = ("micro", "small", "medium", "big")
TIER_WEIGHTS = (0.40, 0.35, 0.18, 0.07)
RATING_WEIGHTS = (0.03, 0.04, 0.09, 0.26, 0.58)  # 1 … 5 stars
STATUSES = ("new", "accepted", "in_progress", "resolved", "closed", "reopened", "cancelled")
NEW, ACCEPTED, IN_PROGRESS, RESOLVED, CLOSED, REOPENED, CANCELLED = range(7)
#: Median hours to resolve, per category (an emergency: 2).
RESOLVE_MEDIAN = (7.0, 16.0, 26.0, 60.0)
#: The default SLA (domain.sla) and a stricter one that one street in ten keeps.
ACCEPT_SECONDS = {"emergency": 600, "normal": 7200}
RESOLVE_SECONDS = ({"repair": 86400, "complaint": 172800, "wish": 604800, "dispute": 604800,
                    "emergency": 14400},
                   {"repair": 43200, "complaint": 86400, "wish": 432000, "dispute": 432000,
                    "emergency": 7200})
CONFIRM_SECONDS = 3 * 86400
DEPARTMENTS = (("房管所", True, 4 * 3600), ("派出所", False, 30 * 60), ("物业公司", True, 2 * 3600))

TEXTS = {
    "repair": ("{b}号楼电梯又坏了，卡在{f}楼不动，老人上下楼很不方便", "{b}号楼楼道灯不亮好几天了，晚上看不见路",
               "{b}号楼门禁坏了，外面的人随便进出", "{b}号楼{f}楼厨房下水道堵了，水漫出来了",
               "{b}号楼顶楼漏水，墙皮都泡起来了", "{b}号楼对讲机按了没反应，快递员进不来",
               "{b}号楼门口路灯坏了一片，晚上很黑", "{b}号楼{f}楼水管爆了，楼道里都是水"),
    "complaint": ("{b}号楼楼下烧烤店油烟太大，窗户都不敢开", "晚上十一点还有人在{b}号楼前广场跳舞，太吵了",
                  "{b}号楼楼道里堆满杂物，消防通道堵死了", "{b}号楼有人把电动车推进楼道充电，太危险了",
                  "{b}号楼垃圾房好几天没清运，味道很大", "{b}号楼{f}楼装修，中午也不停，噪音太大"),
    "wish": ("{b}号楼{f}楼独居老人腿脚不便，想请志愿者帮忙买菜", "{b}号楼{f}楼老人想请人帮忙换个灯泡",
             "{b}号楼老人想学用智能手机挂号，希望有志愿者教一下", "{b}号楼有几袋旧衣服，想请人帮忙送到回收点"),
    "dispute": ("{b}号楼楼上漏水到我家，楼上不肯修", "{b}号楼邻居家狗天天叫，沟通了没用",
                "{b}号楼楼下邻居占用公共车位，说了还吵起来", "{b}号楼隔壁装修把墙打裂了，不肯赔"),
}
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高郑梁谢宋唐许韩冯邓曹"
GIVEN_NAMES = ("建国", "秀英", "志强", "丽华", "海燕", "国庆", "桂兰", "文杰", "晓明", "玉梅",
               "德华", "春生", "美玲", "振华", "红霞", "永刚", "淑珍", "立新", "慧敏", "家豪")
RESIDENT_TITLES = ("阿姨", "师傅", "先生", "女士", "老伯", "大姐")
PROGRESS_NOTES = ("已联系物业上门查看", "已到现场，正在处理", "材料已订，明天上门", "已协调相关方")


def log(message: str) -> None:
    print(message, flush=True)


def beijing_midnight(moment_us: int) -> int:
    """Microseconds (Unix) of the Beijing midnight that starts the day of `moment_us`."""
    return (moment_us + BEIJING) // DAY * DAY - BEIJING


# ---------------------------------------------------------------- COPY, binary format


class Vocabulary:
    """Texts a column picks from by code, as a padded table of their UTF-8 bytes."""

    def __init__(self, texts: Sequence[str]) -> None:
        encoded = [text.encode() for text in texts]
        self.texts = list(texts)
        self.lengths = np.array([len(e) for e in encoded], np.int64)
        self.table = np.zeros((len(encoded), max(1, int(self.lengths.max(initial=1)))), np.uint8)
        for i, e in enumerate(encoded):
            self.table[i, :len(e)] = np.frombuffer(e, np.uint8)

    def __len__(self) -> int:
        return len(self.texts)


@dataclass
class Column:
    """One column of a batch: fixed-width big-endian bytes (n × width), or codes into a
    vocabulary; `null` marks the rows that are NULL."""

    fixed: np.ndarray | None = None
    codes: np.ndarray | None = None
    vocabulary: Vocabulary | None = None
    null: np.ndarray | None = None

    def take(self, rows: np.ndarray) -> Column:
        return Column(None if self.fixed is None else self.fixed[rows],
                      None if self.codes is None else self.codes[rows], self.vocabulary,
                      None if self.null is None else self.null[rows])


def integers(values: np.ndarray, width: int, null: np.ndarray | None = None) -> Column:
    kind = {2: ">i2", 4: ">i4", 8: ">i8"}[width]
    data = np.ascontiguousarray(values.astype(kind)).view(np.uint8).reshape(-1, width)
    return Column(fixed=data, null=null)


def timestamps(values_us: np.ndarray, null: np.ndarray | None = None) -> Column:
    """timestamptz from Unix microseconds."""
    return integers(values_us - PG_EPOCH, 8, null)


def texts(codes: np.ndarray, vocabulary: Vocabulary, null: np.ndarray | None = None) -> Column:
    return Column(codes=codes, vocabulary=vocabulary, null=null)


def ascii_numbers(prefix: str, numbers: np.ndarray, digits: int) -> Column:
    """Texts `prefix` + the number in `digits` zero-padded digits, all of one width."""
    head = np.frombuffer(prefix.encode(), np.uint8)
    powers = 10 ** np.arange(digits - 1, -1, -1, dtype=np.int64)
    body = ((numbers.astype(np.int64)[:, None] // powers) % 10 + 48).astype(np.uint8)
    return Column(fixed=np.hstack([np.broadcast_to(head, (len(numbers), len(head))), body]))


COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
COPY_TRAILER = (-1).to_bytes(2, "big", signed=True)


def _put(buffer: np.ndarray, at: np.ndarray, data: np.ndarray) -> None:
    """Write row i of `data` (n × width bytes) at offset at[i] of `buffer`."""
    if len(at):
        buffer[at[:, None] + np.arange(data.shape[1])] = data


def encode(columns: Sequence[Column]) -> bytes:
    """The rows of these columns as PostgreSQL binary COPY tuples (no header or trailer)."""
    first = columns[0]
    rows = len(first.fixed if first.fixed is not None else first.codes)  # type: ignore[arg-type]
    lengths = []
    size = np.full(rows, 2, np.int64)
    for column in columns:
        if column.vocabulary is not None:
            length = column.vocabulary.lengths[column.codes]
        else:
            length = np.full(rows, column.fixed.shape[1], np.int64)  # type: ignore[union-attr]
        if column.null is not None:
            length = np.where(column.null, 0, length)
        lengths.append(length)
        size += 4 + length
    end = np.cumsum(size)
    start = end - size
    buffer = np.empty(int(end[-1]) if rows else 0, np.uint8)
    count = np.frombuffer(len(columns).to_bytes(2, "big"), np.uint8)
    _put(buffer, start, np.broadcast_to(count, (rows, 2)))
    at = start + 2
    for column, length in zip(columns, lengths, strict=True):
        prefix = length if column.null is None else np.where(column.null, -1, length)
        _put(buffer, at, prefix.astype(">i4").view(np.uint8).reshape(-1, 4))
        at = at + 4
        present = slice(None) if column.null is None else ~column.null
        if column.vocabulary is not None:
            table = column.vocabulary.table[column.codes[present]]  # type: ignore[index]
            mask = np.arange(table.shape[1]) < length[present][:, None]
            buffer[(at[present][:, None] + np.arange(table.shape[1]))[mask]] = table[mask]
        else:
            _put(buffer, at[present], column.fixed[present])  # type: ignore[index]
        at = at + length
    return buffer.tobytes()


async def copy_columns(connection: asyncpg.Connection, table: str, names: Sequence[str],
                       make: Callable[[np.ndarray], Sequence[Column]], rows: int,
                       batch: int = 200_000, start: int = 0) -> None:
    """COPY rows `start` … `rows` - 1 into `table`, `batch` at a time: `make(indexes)` gives
    the columns of those rows; each batch is encoded in a thread while the previous one is
    sent."""

    async def chunks() -> AsyncIterator[bytes]:
        yield COPY_HEADER
        pending = None
        for begin in range(start, rows, batch):
            indexes = np.arange(begin, min(rows, begin + batch))
            following = asyncio.to_thread(lambda i=indexes: encode(make(i)))
            if pending is not None:
                yield await pending
            pending = asyncio.ensure_future(following)
        if pending is not None:
            yield await pending
        yield COPY_TRAILER

    await connection.copy_to_table(table, source=chunks(), columns=list(names), format="binary")


# ---------------------------------------------------------------- the org


def person_name(index: int) -> str:
    q, s = divmod(index, len(SURNAMES))
    return SURNAMES[s] + GIVEN_NAMES[(7 * q + 3 * s) % len(GIVEN_NAMES)]


class City:
    """The org of the city, as rows to COPY and as numpy lookups by id (ids from 1; index 0
    of every lookup is unused)."""

    def __init__(self, streets: int) -> None:
        self.streets = streets
        self.districts = streets * DISTRICTS_PER_STREET
        self.grids = self.districts * GRIDS_PER_DISTRICT
        self.buildings = self.grids * BUILDINGS_PER_GRID
        b = np.arange(self.buildings + 1)
        self.grid_of = np.where(b > 0, (b - 1) // BUILDINGS_PER_GRID + 1, 0)
        self.district_of = np.where(b > 0, (self.grid_of - 1) // GRIDS_PER_DISTRICT + 1, 0)
        self.street_of = np.where(b > 0, (self.district_of - 1) // DISTRICTS_PER_STREET + 1, 0)
        # One street in ten keeps a stricter SLA.
        self.sla_class = (np.arange(streets + 1) % 10 == 3).astype(np.int64)
        self.people: list[tuple[int, str, str | None, str | None, str | None]] = []
        self.roles: list[tuple[int, int, str, str, int, str]] = []
        self.departments: list[tuple[int, int, str, int | None, str | None, int]] = []
        self.grid_worker = np.zeros(self.grids + 1, np.int64)
        self.grid_leader = np.zeros(self.grids + 1, np.int64)
        self.volunteers = np.zeros((self.grids + 1, VOLUNTEERS_PER_GRID), np.int64)
        self.captain = np.zeros(self.buildings + 1, np.int64)
        self.district_admin = np.zeros(self.districts + 1, np.int64)
        self.mediator = np.zeros((self.districts + 1, 4), np.int64)  # by tier; micro: none
        self.street_admin = np.zeros(self.streets + 1, np.int64)
        self.street_departments = np.zeros((self.streets + 1, len(DEPARTMENTS)), np.int64)
        self.department_person = np.zeros(streets * len(DEPARTMENTS) + 1, np.int64)
        self.department_seconds = np.zeros(streets * len(DEPARTMENTS) + 1, np.int64)
        self.department_kind = np.zeros(streets * len(DEPARTMENTS) + 1, np.int64)
        self._plan()

    def _person(self, wecom: str | None = None, wechat: str | None = None,
                phone: str | None = None) -> int:
        person_id = len(self.people) + 1
        self.people.append((person_id, person_name(person_id), wecom, wechat, phone))
        return person_id

    def _role(self, person_id: int, role: str, scope: str, scope_id: int, tier: str = "") -> None:
        self.roles.append((len(self.roles) + 1, person_id, role, scope, scope_id, tier))

    def _plan(self) -> None:
        for s in range(1, self.streets + 1):
            admin = self._person(wecom=f"admin{s}")
            self._role(admin, "admin", "street", s)
            self.street_admin[s] = admin
            for k, (name, on_wecom, seconds) in enumerate(DEPARTMENTS):
                department_id = (s - 1) * len(DEPARTMENTS) + k + 1
                person = self._person(wecom=f"dept{s}_{k}") if on_wecom else None
                if person is not None:
                    self._role(person, "department", "street", s)
                self.departments.append((department_id, s, name, person,
                                         None if on_wecom else f"bench-key-d{department_id}",
                                         seconds))
                self.street_departments[s, k] = department_id
                self.department_person[department_id] = person or 0
                self.department_seconds[department_id] = seconds
                self.department_kind[department_id] = k
        for d in range(1, self.districts + 1):
            admin = self._person(wecom=f"sj{d}")
            self._role(admin, "admin", "district", d)
            self.district_admin[d] = admin
            for t, tier in enumerate(TIERS[1:], start=1):
                mediator = self._person(wecom=f"med{d}{tier[:2]}")
                self._role(mediator, "mediator", "district", d, tier)
                self.mediator[d, t] = mediator
        for g in range(1, self.grids + 1):
            self.grid_worker[g] = self._person(wecom=f"wg{g}", phone=f"139{g:08d}")
            self._role(int(self.grid_worker[g]), "grid_worker", "grid", g)
            self.grid_leader[g] = self._person(wecom=f"wgz{g}", phone=f"138{g:08d}")
            self._role(int(self.grid_leader[g]), "grid_leader", "grid", g)
            for k in range(VOLUNTEERS_PER_GRID):
                self.volunteers[g, k] = self._person(wechat=f"wxid_vol{g}_{k}")
                self._role(int(self.volunteers[g, k]), "volunteer", "grid", g)
        for b in range(1, self.buildings + 1):
            self.captain[b] = self._person(wechat=f"wxid_cap{b}")
            self._role(int(self.captain[b]), "captain", "building", b)

    def street_rows(self) -> list[tuple[Any, ...]]:
        rows = []
        for s in range(1, self.streets + 1):
            table = RESOLVE_SECONDS[int(self.sla_class[s])]
            sla = {"accept": ACCEPT_SECONDS, "resolve": table, "confirm": CONFIRM_SECONDS}
            rows.append((s, f"第{s}街道", json.dumps(sla), json.dumps({"wish": 10})))
        return rows

    def building_number(self, building_id: int) -> int:
        """Buildings are numbered 1 … 450 within their street, grids 第1 … 第150网格."""
        per_street = DISTRICTS_PER_STREET * GRIDS_PER_DISTRICT * BUILDINGS_PER_GRID
        return (building_id - 1) % per_street + 1

    def grid_number(self, grid_id: int) -> int:
        return (grid_id - 1) % (DISTRICTS_PER_STREET * GRIDS_PER_DISTRICT) + 1

    async def write(self, connection: asyncpg.Connection) -> None:
        """The org's rows, with COPY, and the org version that makes caches load them."""
        await connection.copy_records_to_table(
            "streets", records=self.street_rows(), columns=["id", "name", "sla", "points"])
        await connection.copy_records_to_table("districts", records=[
            (d, int((d - 1) // DISTRICTS_PER_STREET + 1), f"第{(d - 1) % DISTRICTS_PER_STREET + 1}居民区")
            for d in range(1, self.districts + 1)], columns=["id", "street_id", "name"])
        await connection.copy_records_to_table("grids", records=[
            (g, int((g - 1) // GRIDS_PER_DISTRICT + 1), f"第{self.grid_number(g)}网格")
            for g in range(1, self.grids + 1)], columns=["id", "district_id", "name"])
        await connection.copy_records_to_table("buildings", records=[
            (b, int(self.grid_of[b]), int(self.district_of[b]), str(self.building_number(b)),
             None) for b in range(1, self.buildings + 1)],
            columns=["id", "grid_id", "district_id", "number", "webhook_key"])
        await connection.copy_records_to_table("chat_groups", records=[
            (b, "bridge", f"b{b}@chatroom", f"{self.building_number(b)}号楼业主群", b)
            for b in range(1, self.buildings + 1)],
            columns=["id", "channel", "chat_id", "name", "building_id"])
        await connection.copy_records_to_table(
            "people", records=self.people,
            columns=["id", "name", "wecom_userid", "wechat_id", "phone"])
        await connection.copy_records_to_table(
            "roles", records=self.roles,
            columns=["id", "person_id", "role", "scope", "scope_id", "tier"])
        await connection.copy_records_to_table(
            "departments", records=self.departments,
            columns=["id", "street_id", "name", "person_id", "webhook_key", "respond_seconds"])
        await connection.execute(
            "INSERT INTO settings (key, value) VALUES ('org_version', '{\"version\": 1}')")


# ---------------------------------------------------------------- two years of tickets

NEVER = np.int64(2**62)
EVENT_KINDS = ("created", "cancelled", "claimed", "handed_over", "accepted", "escalated",
               "whistled", "respond_overdue", "reported", "progress", "resolved", "rated",
               "closed", "reopened", "followed")
KIND = {kind: code for code, kind in enumerate(EVENT_KINDS)}
RESIDENT_NAMES = [s + t for s in SURNAMES for t in RESIDENT_TITLES]
#: Escalation titles, by rung above the first holder, and for a dispute by its new tier.
RUNG_TITLES = ("", "网格长", "居委会", "街道")
TIER_TITLES = ("楼组长", "居委会调解员", "第三方调解员", "社区解纷员")


class Words:
    """The texts of tickets and events, and the JSON of events, as vocabularies."""

    def __init__(self, city: City, rng: np.random.Generator) -> None:
        ticket_texts, self.text_start, self.text_count = [], [], []
        for category in CATEGORIES:
            self.text_start.append(len(ticket_texts))
            for template in TEXTS[category]:
                for _ in range(64):
                    ticket_texts.append(template.format(b=int(rng.integers(1, 451)),
                                                        f=int(rng.integers(2, 19))))
            self.text_count.append(len(ticket_texts) - self.text_start[-1])
        self.ticket_texts = Vocabulary(ticket_texts)
        self.text_category = np.repeat(np.arange(4), self.text_count)

        events: list[str] = []
        data: list[str] = ["null"]

        def text(value: str) -> int:
            events.append(value)
            return len(events) - 1

        def datum(value: dict[str, Any]) -> int:
            data.append(json.dumps(value, ensure_ascii=False))
            return len(data) - 1

        self.created_text = len(events)
        events += [f"{CATEGORY_NAMES[int(c)]}：{t}"
                   for c, t in zip(self.text_category, ticket_texts, strict=True)]
        self.fixed_text = {kind: text(words) for kind, words in (
            ("cancelled", "居民撤销了工单"), ("claimed", "志愿者认领"),
            ("handed_over", "两天无人认领，交网格员跟进"), ("accepted", "接单"),
            ("resolved", "已办结"), ("closed", "居民未评价，到期自动关闭"),
            ("reopened", "居民反馈没有解决"), ("followed", "同一问题再次反映"))}
        self.rated_text = [text(f"评价 {stars} 星") for stars in range(1, 6)]
        self.progress_text = [text(note) for note in PROGRESS_NOTES]
        self.whistled_text = [text(f"吹哨：{name}，限时报到") for name, _, _ in DEPARTMENTS]
        self.reported_text = [text(f"{name}报到") for name, _, _ in DEPARTMENTS]
        self.overdue_text = [text(f"{name}超过报到时限仍未报到，已告知街道管理员")
                             for name, _, _ in DEPARTMENTS]
        # Escalations by (overdue: 0 accept, 1 resolve) × level 1..3 × title.
        titles = RUNG_TITLES[1:] + TIER_TITLES[1:]
        self.escalated_text = np.zeros((2, 4, len(titles)), np.int64)
        self.escalated_data = np.zeros((2, 4, len(titles)), np.int64)
        for o, overdue in enumerate(("accept", "resolve")):
            why = "超过接单时限仍未接单" if o == 0 else "超过办结时限仍未办结"
            for level in range(1, 4):
                for t, title in enumerate(titles):
                    self.escalated_text[o, level, t] = text(f"{why}，第{level}次升级，由{title}督办")
                    self.escalated_data[o, level, t] = datum(
                        {"level": level, "title": title, "overdue": overdue})
        self.status_data = {status: datum({"status": status}) for status in (
            "accepted", "in_progress", "resolved", "closed", "reopened", "cancelled")}
        self.rated_data = [datum({"status": "closed", "rating": stars}) for stars in range(1, 6)]
        self.whistled_data = [datum({"department": name}) for name, _, _ in DEPARTMENTS]
        self.overdue_data = [datum({"department": name, "told": []}) for name, _, _ in DEPARTMENTS]
        self.reported_data = [datum({"department": name}) for name, _, _ in DEPARTMENTS]
        self.event_texts = Vocabulary(events)
        self.event_data = Vocabulary(data)
        # Actors: gridbot, residents, then staff by person id, then departments.
        self.resident_start = 1
        self.person_start = 1 + len(RESIDENT_NAMES)
        self.department_start = self.person_start + len(city.people)
        self.actors = Vocabulary(["gridbot", *RESIDENT_NAMES, *(p[1] for p in city.people),
                                  *(name for name, _, _ in DEPARTMENTS)])
        self.residents = Vocabulary(RESIDENT_NAMES)
        self.categories = Vocabulary(CATEGORIES)
        self.statuses = Vocabulary(STATUSES)
        self.urgencies = Vocabulary(("normal", "emergency"))
        self.tiers = Vocabulary(TIERS)
        self.channel = Vocabulary(("bridge",))


def hours(rng: np.random.Generator, median: Any, spread: float, n: int) -> np.ndarray:
    """Lognormal durations around `median` hours, in microseconds."""
    return (np.asarray(median) * HOUR * rng.lognormal(0.0, spread, n)).astype(np.int64)


@dataclass
class EventRows:
    """Events as parallel arrays, in the order they happened once `sort`ed."""

    ticket: np.ndarray
    at: np.ndarray
    kind: np.ndarray
    actor: np.ndarray
    person: np.ndarray  # 0: nobody
    text: np.ndarray
    data: np.ndarray

    def __len__(self) -> int:
        return len(self.ticket)


class EventLog:
    def __init__(self, now: int) -> None:
        self.now = now
        self.parts: list[tuple[np.ndarray, ...]] = []

    def add(self, tickets: np.ndarray, at: np.ndarray, kind: str, actor: Any, person: Any,
            text: Any, data: Any) -> None:
        """Events of these tickets at these times, those that have happened by now."""
        tickets, at = np.asarray(tickets), np.asarray(at)
        happened = at <= self.now
        n = int(happened.sum())
        if not n:
            return

        def column(value: Any, dtype: Any) -> np.ndarray:
            value = np.asarray(value)
            return (np.full(n, value, dtype) if value.ndim == 0
                    else value[happened].astype(dtype))

        self.parts.append((tickets[happened].astype(np.int32), at[happened],
                           np.full(n, KIND[kind], np.int8), column(actor, np.int32),
                           column(person, np.int32), column(text, np.int32),
                           column(data, np.int32)))

    def sorted(self) -> EventRows:
        columns = [np.concatenate([part[i] for part in self.parts]) for i in range(7)]
        self.parts = []
        order = np.lexsort((columns[2], columns[0], columns[1]))
        return EventRows(*(column[order] for column in columns))


class History:
    """Two years of the city's tickets up to `now` (Unix microseconds): ticket columns as
    arrays indexed by ticket id - 1, their events, followers and points."""

    def __init__(self, city: City, tickets: int, now: int, seed: int = 20261129) -> None:
        rng = np.random.default_rng(seed)
        self.city, self.now, self.n = city, now, tickets
        self.words = words = Words(city, rng)
        n = tickets
        log_ = EventLog(now)

        # When, where and what.
        created = self._arrivals(rng, n)
        self.created = created
        b = (rng.choice(city.buildings, n, p=_weights(rng, city.buildings)) + 1).astype(np.int64)
        grid, district, street = city.grid_of[b], city.district_of[b], city.street_of[b]
        self.building, self.grid = b, grid
        cat = rng.choice(4, n, p=CATEGORY_WEIGHTS)
        emergency = (cat == 0) & (rng.random(n) < 0.05)
        tier = np.where(cat == 3, rng.choice(4, n, p=TIER_WEIGHTS), -1)
        self.category, self.emergency = cat, emergency
        self.text = (np.asarray(words.text_start)[cat]
                     + (rng.random(n) * np.asarray(words.text_count)[cat]).astype(np.int64))
        self.reporter = rng.integers(0, 10**9, n)
        self.reporter_name = rng.integers(0, len(RESIDENT_NAMES), n)
        sla = city.sla_class[street]
        accept_s = np.where(emergency, ACCEPT_SECONDS["emergency"], ACCEPT_SECONDS["normal"]) * US
        resolve_table = np.array([[t[c] for c in CATEGORIES] + [t["emergency"]]
                                  for t in RESOLVE_SECONDS], np.int64) * US
        resolve_s = resolve_table[sla, np.where(emergency, 4, cat)]
        accept_due = created + accept_s
        resolve_due = created + resolve_s
        ids = np.arange(1, n + 1)
        resident = words.resident_start + self.reporter_name
        log_.add(ids, created, "created", resident, 0, words.created_text + self.text, 0)

        # Who holds it after each rung of escalation (0: the first holder).
        wish, dispute = cat == 2, cat == 3
        holders = np.zeros((n, 4), np.int64)
        titles = np.zeros((n, 4), np.int64)
        volunteer = city.volunteers[grid, rng.integers(0, VOLUNTEERS_PER_GRID, n)]
        holders[:, 0] = np.where(dispute, np.where(tier == 0, city.captain[b],
                                                   city.mediator[district, np.maximum(tier, 0)]),
                                 city.grid_worker[grid])
        start_tier = np.maximum(tier, 0)
        for level in range(1, 4):
            climbed = np.minimum(start_tier + level, 3)
            beyond = start_tier + level - 3  # rungs past the big tier
            rung = (city.grid_leader[grid], city.district_admin[district],
                    city.street_admin[street])[level - 1]
            past = np.where(beyond == 1, city.district_admin[district], city.street_admin[street])
            holders[:, level] = np.where(
                dispute, np.where(beyond <= 0, city.mediator[district, climbed], past), rung)
            # Titles: 网格长, 居委会, 街道 (0-2), then the mediators of small … big (3-5).
            titles[:, level] = np.where(
                dispute, np.where(beyond <= 0, 2 + climbed, np.where(beyond == 1, 1, 2)),
                level - 1)
        self.tier_after = np.stack([np.where(dispute, np.minimum(np.maximum(tier, 0) + lv, 3), -1)
                                    for lv in range(4)], axis=1)
        self.tier_after[:, 0] = tier

        # Cancelled by the reporter early on: nothing else happens to those.
        cancelled = rng.random(n) < 0.03
        cancel_at = np.where(cancelled, created + hours(rng, 1.5, 0.8, n), NEVER)
        log_.add(ids[cancelled], cancel_at[cancelled], "cancelled", resident[cancelled], 0,
                 words.fixed_text["cancelled"], words.status_data["cancelled"])
        live = ~cancelled

        # Accepted: a wish claimed by a volunteer (or handed to the grid worker after two
        # days); the others by their holder, one in eight after the accept deadline.
        claim_at = created + hours(rng, 5, 1.0, n)
        claimed = wish & live & (claim_at < created + 2 * DAY)
        handed = wish & live & ~claimed
        handed_at = created + 2 * DAY
        late = rng.random(n) < 0.12
        delay = np.where(late, accept_s + 1800 * US,
                         hours(rng, np.where(emergency, 0.1, 0.6), 0.6, n))
        accepted_at = np.where(claimed, claim_at,
                               np.where(handed, handed_at + hours(rng, 1, 0.8, n),
                                        created + delay))
        accepted_at = np.where(live, accepted_at, NEVER)
        holders[:, 0] = np.where(claimed, volunteer, holders[:, 0])
        log_.add(ids[claimed], claim_at[claimed], "claimed",
                 words.person_start + volunteer[claimed] - 1, volunteer[claimed],
                 words.fixed_text["claimed"], words.status_data["accepted"])
        log_.add(ids[handed], handed_at[handed], "handed_over",
                 0, 0, words.fixed_text["handed_over"], 0)

        # Escalations: by the accept deadline, then by the resolve deadline (up to two in
        # all; a case that stays open climbs to three, its deadline pushed a week each time).
        escalations = np.full((n, 3), NEVER)
        overdue = np.zeros((n, 3), np.int64)
        accept_due_after = np.zeros((n, 3), np.int64)
        resolve_due_after = np.zeros((n, 3), np.int64)
        count = np.zeros(n, np.int64)
        late_accept = live & ~wish & (accepted_at > accept_due)
        escalations[late_accept, 0] = accept_due[late_accept]
        accept_due_after[:, 0] = np.where(late_accept, accept_due + accept_s, accept_due)
        resolve_due = np.where(late_accept, np.maximum(resolve_due, accept_due + accept_s),
                               resolve_due)
        resolve_due_after[:, 0] = resolve_due
        count += late_accept

        stuck = live & (rng.random(n) < 0.006)
        median = np.where(emergency, 2.0, np.asarray(RESOLVE_MEDIAN)[cat])
        resolved_at = np.where(stuck, NEVER, accepted_at + hours(rng, median, 0.7, n))
        resolved_at = np.where(live, resolved_at, NEVER)
        top = np.where(stuck, 3, 2)
        for _ in range(3):
            due = resolve_due
            climbs = live & (resolved_at > due) & (count < top)
            rows = np.nonzero(climbs)[0]
            escalations[rows, count[rows]] = due[rows]
            overdue[rows, count[rows]] = 1
            resolve_due = np.where(climbs, np.where(stuck, due + 7 * DAY, due + accept_s), due)
            accept_due_after[rows, count[rows]] = accept_due_after[rows, 0]
            resolve_due_after[rows, count[rows]] = resolve_due[rows]
            count += climbs
        happened = escalations <= now
        level = happened.sum(axis=1)
        for j in range(3):
            rows = np.nonzero(happened[:, j])[0]
            lv = j + 1
            log_.add(ids[rows], escalations[rows, j], "escalated", 0, 0,
                     words.escalated_text[overdue[rows, j], lv, titles[rows, lv]],
                     words.escalated_data[overdue[rows, j], lv, titles[rows, lv]])

        def level_at(moment: np.ndarray, rows: np.ndarray) -> np.ndarray:
            return (escalations[rows] <= moment[:, None]).sum(axis=1)

        def holder_at(moment: np.ndarray, rows: np.ndarray) -> np.ndarray:
            return holders[rows, level_at(moment, rows)]

        took = np.nonzero(live & ~claimed)[0]
        took_by = holder_at(accepted_at[took], took)
        log_.add(ids[took], accepted_at[took], "accepted", words.person_start + took_by - 1,
                 took_by, words.fixed_text["accepted"], words.status_data["accepted"])

        # Whistled to one of the street's departments now and then.
        whistled = live & (cat <= 1) & (rng.random(n) < 0.07)
        rows = np.nonzero(whistled)[0]
        kind = rng.integers(0, len(DEPARTMENTS), len(rows))
        department = city.street_departments[street[rows], kind]
        whistle_at = accepted_at[rows] + hours(rng, 1, 0.5, len(rows))
        respond = city.department_seconds[department] * US
        respond_due = whistle_at + respond
        reported_at = whistle_at + (respond * rng.uniform(0.2, 1.6, len(rows))).astype(np.int64)
        leader = city.grid_leader[grid[rows]]
        log_.add(ids[rows], whistle_at, "whistled", words.person_start + leader - 1, leader,
                 np.asarray(words.whistled_text)[kind], np.asarray(words.whistled_data)[kind])
        missed = reported_at > respond_due
        log_.add(ids[rows][missed], respond_due[missed], "respond_overdue", 0, 0,
                 np.asarray(words.overdue_text)[kind][missed],
                 np.asarray(words.overdue_data)[kind][missed])
        person = city.department_person[department]
        log_.add(ids[rows], reported_at, "reported", words.department_start + kind, person,
                 np.asarray(words.reported_text)[kind], np.asarray(words.reported_data)[kind])
        self.department = np.zeros(n, np.int64)
        self.respond_due = np.full(n, NEVER)
        self.reported_at = np.full(n, NEVER)
        seen = whistle_at <= now
        self.department[rows[seen]] = department[seen]
        self.respond_due[rows[seen]] = respond_due[seen]
        self.reported_at[rows] = np.where(reported_at <= now, reported_at, NEVER)

        # Progress notes between acceptance and resolution (the first one: in progress).
        notes = np.where(live, rng.poisson(0.55, n) + stuck, 0)
        rows = np.repeat(np.arange(n), notes)
        span = np.minimum(resolved_at[rows], accepted_at[rows] + 10 * DAY) - accepted_at[rows]
        note_at = accepted_at[rows] + (span * rng.uniform(0.05, 0.95, len(rows))).astype(np.int64)
        by = holder_at(note_at, rows)
        log_.add(ids[rows], note_at, "progress", words.person_start + by - 1, by,
                 np.asarray(words.progress_text)[rng.integers(0, 4, len(rows))],
                 words.status_data["in_progress"])
        progress_at = np.full(n, NEVER)
        np.minimum.at(progress_at, rows, np.where(note_at <= now, note_at, NEVER))

        # Resolved; rated by most residents, else closed unrated after the confirm time.
        done = np.nonzero(resolved_at <= now)[0]
        by = holder_at(resolved_at[done], done)
        log_.add(ids[done], resolved_at[done], "resolved", words.person_start + by - 1, by,
                 words.fixed_text["resolved"], words.status_data["resolved"])
        confirm_due = resolved_at + CONFIRM_SECONDS * US
        rated_at = resolved_at + hours(rng, 8, 1.0, n)
        rates = live & (rng.random(n) < 0.72) & (rated_at < confirm_due)
        stars = rng.choice(5, n, p=RATING_WEIGHTS) + 1
        closed_at = np.where(rates, rated_at, confirm_due)
        closed_at = np.where(resolved_at <= now, closed_at, NEVER)
        rows = np.nonzero(rates & (closed_at <= now))[0]
        log_.add(ids[rows], closed_at[rows], "rated", resident[rows], 0,
                 np.asarray(words.rated_text)[stars[rows] - 1],
                 np.asarray(words.rated_data)[stars[rows] - 1])
        rows = np.nonzero(~rates & (closed_at <= now))[0]
        log_.add(ids[rows], closed_at[rows], "closed", 0, 0, words.fixed_text["closed"],
                 words.status_data["closed"])
        rating = np.where(rates & (closed_at <= now), stars, 0)

        # Now and then 没修好: reopened within the week, accepted and resolved again,
        # closed unrated.
        reopens = (closed_at <= now) & (rng.random(n) < 0.02)
        reopen_at = np.where(reopens, closed_at + np.minimum(hours(rng, 12, 0.8, n), 6 * DAY),
                             NEVER)
        rows = np.nonzero(reopen_at <= now)[0]
        log_.add(ids[rows], reopen_at[rows], "reopened", resident[rows], 0,
                 words.fixed_text["reopened"], words.status_data["reopened"])
        again = reopen_at[rows] + hours(rng, 0.6, 0.6, len(rows))
        by = holders[rows, level[rows]]
        log_.add(ids[rows], again, "accepted", words.person_start + by - 1, by,
                 words.fixed_text["accepted"], words.status_data["accepted"])
        fixed = again + hours(rng, median[rows] / 2, 0.7, len(rows))
        log_.add(ids[rows], fixed, "resolved", words.person_start + by - 1, by,
                 words.fixed_text["resolved"], words.status_data["resolved"])
        shut = fixed + CONFIRM_SECONDS * US
        log_.add(ids[rows], shut, "closed", 0, 0, words.fixed_text["closed"],
                 words.status_data["closed"])
        rating[rows] = 0
        accept_now = accept_due_after[np.arange(n), np.maximum(level - 1, 0)]
        accept_now = np.where(level > 0, accept_now, accept_due)
        resolve_now = np.where(level > 0, resolve_due_after[np.arange(n), np.maximum(level - 1, 0)],
                               created + resolve_s)
        accept_now[rows] = reopen_at[rows] + accept_s[rows]
        resolve_now[rows] = reopen_at[rows] + resolve_s[rows]
        accepted_at[rows] = np.where(again <= now, again, NEVER)
        resolved_at[rows] = np.where(fixed <= now, fixed, NEVER)
        confirm_due[rows] = fixed + CONFIRM_SECONDS * US
        closed_at[rows] = np.where(shut <= now, shut, NEVER)
        progress_at[rows] = NEVER

        # Followers: residents who report the same matter again.
        followers = np.where(live & (rng.random(n) < 0.08), rng.integers(1, 4, n), 0)
        rows = np.repeat(np.arange(n), followers)
        nth = np.arange(len(rows)) - np.repeat(np.cumsum(followers) - followers, followers)
        follow_at = created[rows] + hours(rng, 6 * (nth + 1), 0.6, len(rows))
        name = rng.integers(0, len(RESIDENT_NAMES), len(rows))
        log_.add(ids[rows], follow_at, "followed", words.resident_start + name, 0,
                 words.fixed_text["followed"], 0)
        keep = follow_at <= now
        self.followers = (ids[rows][keep], follow_at[keep], name[keep], nth[keep])

        # The ticket as it stands now.
        status = np.full(n, NEW)
        status[accepted_at <= now] = ACCEPTED
        status[progress_at <= now] = IN_PROGRESS
        status[resolved_at <= now] = RESOLVED
        status[closed_at <= now] = CLOSED
        reopened_open = (reopen_at <= now) & (accepted_at > now)
        status[reopened_open] = REOPENED
        status[cancel_at <= now] = CANCELLED
        self.status = status
        wish_waiting = wish & (accepted_at > now) & ~(reopen_at <= now)
        self.assignee = np.where(wish_waiting & ~handed, 0, holders[np.arange(n), level])
        self.assignee = np.where(handed & (handed_at > now), 0, self.assignee)
        self.level = level
        self.tier = np.where(dispute, self.tier_after[np.arange(n), level], -1)
        self.accept_due, self.resolve_due = accept_now, resolve_now
        self.accepted_at = np.where(accepted_at <= now, accepted_at, NEVER)
        self.resolved_at = np.where(resolved_at <= now, resolved_at, NEVER)
        self.closed_at = np.where(closed_at <= now, closed_at, NEVER)
        self.confirm_due = np.where(resolved_at <= now, confirm_due, NEVER)
        self.rating = rating
        self.events = log_.sorted()
        last = np.zeros(n, np.int64)
        np.maximum.at(last, self.events.ticket - 1, self.events.at)
        self.updated_at = last

        # Points for confirmed wishes done by volunteers.
        rows = np.nonzero(claimed & (rating > 0))[0]
        self.points = (ids[rows], volunteer[rows], self.closed_at[rows])

    def _arrivals(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """When each report came: two years up to half an hour ago, more on weekdays and in
        the afternoon, and more in the second year than the first; sorted."""
        today = beijing_midnight(self.now)
        first = today - DAYS * DAY
        day = np.arange(DAYS + 1)
        weekday = ((first + BEIJING) // DAY + day + 3) % 7  # Monday 0
        weight = (0.6 + 0.8 * day / DAYS) * np.where(weekday >= 5, 0.75, 1.0)
        found: list[np.ndarray] = []
        have = 0
        while have < n:
            draw = int((n - have) * 1.05) + 16
            days = rng.choice(DAYS + 1, draw, p=weight / weight.sum())
            clock = np.clip(rng.normal(13.5, 4.0, draw), 6.5, 23.49) * HOUR
            moment = first + days * DAY + clock.astype(np.int64) + rng.integers(0, HOUR, draw)
            moment = moment[moment <= self.now - 1800 * US]
            found.append(moment)
            have += len(moment)
        return np.sort(np.concatenate(found)[:n])


def _weights(rng: np.random.Generator, count: int) -> np.ndarray:
    """Some buildings report much more than others."""
    weight = rng.lognormal(0.0, 0.7, count)
    return weight / weight.sum()


# ---------------------------------------------------------------- writing it


def ticket_columns(h: History) -> tuple[list[str], Callable[[np.ndarray], list[Column]]]:
    w = h.words

    def make(i: np.ndarray) -> list[Column]:
        none = np.ones(len(i), bool)

        def when(values: np.ndarray) -> Column:
            return timestamps(np.where(values[i] >= NEVER, 0, values[i]), values[i] >= NEVER)

        return [
            integers(i + 1, 8), texts(h.category[i], w.categories),
            texts(h.status[i], w.statuses), texts(h.emergency[i].astype(np.int64), w.urgencies),
            texts(np.maximum(h.tier[i], 0), w.tiers, h.tier[i] < 0),
            texts(np.zeros(len(i), np.int64), w.channel, none),
            integers(h.building[i], 4), integers(h.grid[i], 4), integers(h.building[i], 4),
            integers(h.assignee[i], 4, h.assignee[i] == 0),
            texts(np.zeros(len(i), np.int64), w.channel), ascii_numbers("wxid_", h.reporter[i], 10),
            texts(h.reporter_name[i], w.residents), integers(np.zeros(len(i)), 8, none),
            texts(h.text[i], w.ticket_texts), texts(np.zeros(len(i), np.int64), w.channel, none),
            integers(h.level[i], 4), when(h.accept_due), when(h.resolve_due),
            integers(h.department[i], 4, h.department[i] == 0), when(h.respond_due),
            when(h.reported_at), when(h.confirm_due), when(h.accepted_at), when(h.resolved_at),
            when(h.closed_at), integers(h.rating[i], 4, h.rating[i] == 0),
            timestamps(h.created[i]), timestamps(h.updated_at[i]),
        ]

    names = ["id", "category", "status", "urgency", "tier", "facility", "building_id", "grid_id",
             "group_id", "assignee_id", "reporter_channel", "reporter_id", "reporter_name",
             "source_message_id", "text", "location", "escalation_level", "accept_due_at",
             "resolve_due_at", "department_id", "respond_due_at", "reported_at",
             "confirm_due_at", "accepted_at", "resolved_at", "closed_at", "rating",
             "created_at", "updated_at"]
    return names, make


def event_columns(h: History) -> tuple[list[str], Callable[[np.ndarray], list[Column]]]:
    e, w = h.events, h.words
    kinds = Vocabulary(EVENT_KINDS)

    def make(i: np.ndarray) -> list[Column]:
        return [integers(i + 1, 8), integers(e.ticket[i], 8),
                integers(h.building[e.ticket[i] - 1], 4), timestamps(e.at[i]),
                texts(e.actor[i], w.actors), integers(e.person[i], 4, e.person[i] == 0),
                texts(e.kind[i].astype(np.int64), kinds), texts(e.text[i], w.event_texts),
                texts(e.data[i], w.event_data)]

    return ["id", "ticket_id", "building_id", "at", "actor", "actor_person_id", "kind", "text",
            "data"], make


def follower_columns(h: History) -> tuple[list[str], Callable[[np.ndarray], list[Column]]]:
    ticket, at, name, nth = h.followers
    w = h.words

    def make(i: np.ndarray) -> list[Column]:
        return [integers(i + 1, 8), integers(ticket[i], 8),
                texts(np.zeros(len(i), np.int64), w.channel),
                ascii_numbers("wxid_f", ticket[i] * 10 + nth[i], 11),
                texts(name[i], w.residents), integers(h.building[ticket[i] - 1], 4),
                timestamps(at[i])]

    return ["id", "ticket_id", "channel", "sender_id", "sender_name", "group_id",
            "created_at"], make


#: Secondary indexes of the tables written here: dropped for the load, built afterwards.
LOADED = ("tickets", "ticket_events", "ticket_followers", "points_entries")


async def secondary_indexes(connection: asyncpg.Connection) -> list[tuple[str, str]]:
    """(name, definition) of the indexes of the loaded tables that no constraint owns."""
    rows = await connection.fetch(
        "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.schemaname = 'public'"
        " AND i.tablename = ANY($1::text[]) AND NOT EXISTS (SELECT 1 FROM pg_constraint c"
        " WHERE c.conname = i.indexname)", list(LOADED))
    return [(row["indexname"], row["indexdef"]) for row in rows]


@dataclass
class Timings:
    steps: list[tuple[str, float]]

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        began = time.perf_counter()
        log(f"  {name} …")
        yield
        took = time.perf_counter() - began
        self.steps.append((name, took))
        log(f"  {name}: {took:.1f} s")


async def migrate(server: str, database: str) -> None:
    """Bring a kept database to this code's schema (what `gridbot migrate` does)."""
    from storage.db import create_engine
    from storage.migrate import upgrade

    engine = create_engine(sqlalchemy_url(server, database))
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


async def generate(server: str, database: str, scale: float) -> dict[str, Any]:
    """A fresh database `database` of the city at `scale`, migrated and filled."""
    timings = Timings([])
    began = time.perf_counter()
    admin = await asyncpg.connect(f"{server}/postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{database}"')
    finally:
        await admin.close()
    with timings.step("migrate"):
        from storage.db import create_engine
        from storage.migrate import upgrade

        engine = create_engine(sqlalchemy_url(server, database))
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()
    streets = max(1, round(CITY_STREETS * scale))
    tickets = max(1, round(CITY_TICKETS * scale))
    now = int(datetime.now(UTC).timestamp() * US)
    with timings.step(f"plan the org ({streets} streets)"):
        city = City(streets)
    with timings.step(f"plan {tickets:,} tickets"):
        history = History(city, tickets, now)
    log(f"  {len(history.events):,} events, {len(history.followers[0]):,} followers, "
        f"{len(history.points[0]):,} points entries")

    url = f"{server}/{database}"
    first, second = await asyncpg.connect(url), await asyncpg.connect(url)
    try:
        for connection in (first, second):
            await connection.execute("SET session_replication_role = replica")
        dropped = await secondary_indexes(first)
        for name, _ in dropped:
            await first.execute(f'DROP INDEX "{name}"')
        with timings.step("COPY the org"):
            await city.write(first)
        with timings.step("COPY tickets, events, followers and points"):
            names, make = ticket_columns(history)
            event_names, event_make = event_columns(history)
            follower_names, follower_make = follower_columns(history)

            # Two streams: the tickets and the first part of the events on one connection,
            # the rest of the events on the other, about the same number of bytes each.
            split = int(len(history.events) * 0.35)

            async def tickets_then_more() -> None:
                await copy_columns(first, "tickets", names, make, history.n)
                await copy_columns(first, "ticket_events", event_names, event_make, split)
                await copy_columns(first, "ticket_followers", follower_names, follower_make,
                                   len(history.followers[0]))
                ticket, person, at = history.points
                await first.copy_records_to_table("points_entries", records=[
                    (n + 1, f"wish:{int(t)}", int(p), 10, f"完成微心愿 #{int(t)}", int(t),
                     int(history.building[t - 1]), datetime.fromtimestamp(int(a) / US, UTC),
                     "居民")
                    for n, (t, p, a) in enumerate(zip(ticket, person, at, strict=True))],
                    columns=["id", "key", "person_id", "points", "reason", "ticket_id",
                             "building_id", "at", "by"])

            await asyncio.gather(
                tickets_then_more(),
                copy_columns(second, "ticket_events", event_names, event_make,
                             len(history.events), start=split))
        with timings.step("sequences and indexes"):
            for table in ("streets", "districts", "grids", "buildings", "chat_groups", "people",
                          "roles", "departments", *LOADED):
                await first.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                    f" (SELECT max(id) FROM {table}))")
            queue = list(dropped)

            async def build(connection: asyncpg.Connection) -> None:
                await connection.execute("SET maintenance_work_mem = '1GB'")
                while queue:
                    _, definition = queue.pop(0)
                    await connection.execute(definition)

            await asyncio.gather(build(first), build(second))
        with timings.step("tickets counted per day"):
            # COPY as a replica fires no trigger: ticket_counts is filled from the tickets.
            from storage.ticket_counts import rebuild_piece_statements, rebuild_statements

            for statement in rebuild_statements("postgresql"):
                await first.execute(statement)
        with timings.step("tickets counted per piece"):
            for statement in rebuild_piece_statements():
                await first.execute(statement)
        with timings.step("VACUUM ANALYZE"):
            for table in LOADED:
                await (first if table != "ticket_events" else second).execute(
                    f"VACUUM ANALYZE {table}")
            await first.execute("ANALYZE")
        size = await first.fetchval("SELECT pg_database_size(current_database())")
        tables = {row["relname"]: (row["rows"], row["total"]) for row in await first.fetch(
            "SELECT relname, n_live_tup AS rows, pg_total_relation_size(relid) AS total"
            " FROM pg_stat_user_tables WHERE relname = ANY($1::text[])", list(LOADED))}
    finally:
        await first.close()
        await second.close()
    elapsed = time.perf_counter() - began
    log(f"generated in {elapsed:.0f} s; database {size / 2**30:.2f} GiB")
    for table, (rows, total) in sorted(tables.items()):
        log(f"  {table}: {rows:,} rows, {total / 2**30:.2f} GiB with indexes")
    return {"scale": scale, "streets": streets, "tickets": tickets,
            "events": len(history.events), "seconds": round(elapsed, 1),
            "steps": {name: round(took, 1) for name, took in timings.steps},
            "database_bytes": size, "tables": tables}


def sqlalchemy_url(server: str, database: str) -> str:
    return f"{server.replace('postgresql://', 'postgresql+asyncpg://', 1)}/{database}"


# ---------------------------------------------------------------- measuring the figures

TARGET_MS = 200.0
TOKEN = "bench-stats-token"


@dataclass
class Query:
    group: str  # stats, dashboard, monthly, list
    name: str
    path: str
    viewer: str  # token, street, district


@dataclass
class Viewers:
    street_admin: int
    district_admin: int
    street_name: str
    district_name: str
    building: str
    grid: str
    worker: str
    ticket: int


async def pick_viewers(connection: asyncpg.Connection) -> Viewers:
    """The admin of the first street, the admin of its first district, and a building, a
    grid and a grid worker of that district to filter lists by; a ticket to search for."""
    street = await connection.fetchrow("SELECT id, name FROM streets ORDER BY id LIMIT 1")
    admin = await connection.fetchval(
        "SELECT person_id FROM roles WHERE role = 'admin' AND scope = 'street'"
        " AND scope_id = $1 ORDER BY person_id LIMIT 1", street["id"])
    district = await connection.fetchrow(
        "SELECT d.id, d.name, r.person_id FROM districts d JOIN roles r ON r.scope_id = d.id"
        " AND r.role = 'admin' AND r.scope = 'district' WHERE d.street_id = $1"
        " ORDER BY d.id, r.person_id LIMIT 1", street["id"])
    grid = await connection.fetchrow(
        "SELECT g.id, g.name FROM grids g WHERE g.district_id = $1 ORDER BY g.id LIMIT 1",
        district["id"])
    building = await connection.fetchval(
        "SELECT number FROM buildings WHERE grid_id = $1 ORDER BY id LIMIT 1", grid["id"])
    worker = await connection.fetchval(
        "SELECT p.wecom_userid FROM roles r JOIN people p ON p.id = r.person_id"
        " WHERE r.role = 'grid_worker' AND r.scope = 'grid' AND r.scope_id = $1", grid["id"])
    ticket = await connection.fetchval("SELECT max(id) / 3 FROM tickets")
    return Viewers(admin, district["person_id"], street["name"], district["name"],
                   building, grid["name"], worker, int(ticket or 1))


def queries(viewers: Viewers, now: datetime, list_params: dict[str, Any]) -> list[Query]:
    """What is measured: the figures for the city (the admin token), a street and a district
    (their admins' sessions), and the ticket list with each filter and sort order the API
    describes."""
    month_ago = (now - timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    beijing = now + timedelta(hours=8)
    last_month = (beijing.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    found = [
        Query("stats", "stats, city", "/api/v1/stats", "token"),
        Query("stats", "stats, city, last 30 days", f"/api/v1/stats?since={month_ago}", "token"),
        Query("stats", "stats, a street", "/api/v1/stats", "street"),
        Query("stats", "stats, a street, last 30 days", f"/api/v1/stats?since={month_ago}",
              "street"),
        Query("stats", "stats, a district", "/api/v1/stats", "district"),
        Query("dashboard", "dashboard 30 days, city", "/api/v1/stats/dashboard?days=30", "token"),
        Query("dashboard", "dashboard 30 days, a street", "/api/v1/stats/dashboard?days=30",
              "street"),
        Query("dashboard", "dashboard 30 days, a district", "/api/v1/stats/dashboard?days=30",
              "district"),
        Query("monthly", f"monthly {last_month}, a street",
              f"/api/v1/reports/monthly?month={last_month}", "street"),
        Query("monthly", f"monthly {last_month}, a district",
              f"/api/v1/reports/monthly?month={last_month}", "district"),
        Query("monthly", f"monthly {last_month}, city",
              f"/api/v1/reports/monthly?month={last_month}", "token"),
    ]
    # The rest of the console's menus for the city (bot/simulator/static: the stats since a
    # Beijing midnight, the dashboard's spans, this month's review, a settled month's and one
    # over a year old), all made ahead, and a dashboard span of one's own, which is not.
    today = beijing.date()

    def midnight(day: Any) -> str:
        return (datetime(day.year, day.month, day.day) - timedelta(hours=8)).strftime(
            "%Y-%m-%dT%H:%M:%SZ")

    first = today.replace(day=1)
    previous_last = first - timedelta(days=1)
    for name, since in (("today", today), ("last 7 days", today - timedelta(days=6)),
                        ("last 30 days from midnight", today - timedelta(days=29)),
                        ("this month", first)):
        found.append(Query("stats", f"stats, city, {name}", f"/api/v1/stats?since={midnight(since)}",
                           "token"))
    # Stats since moments of one's own (no midnight): added up from the days made ahead.
    for days in (7, 90):
        moment = (now - timedelta(days=days, minutes=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
        found.append(Query("stats", f"stats, city, last {days} days from a moment",
                           f"/api/v1/stats?since={moment}", "token"))
    for name, query in (("7 days", "days=7"), ("90 days", "days=90"),
                        ("this month", f"from={first}&to={today}"),
                        ("last month", f"from={previous_last.replace(day=1)}&to={previous_last}"),
                        ("14 days (no menu's)", "days=14")):
        found.append(Query("dashboard", f"dashboard {name}, city",
                           f"/api/v1/stats/dashboard?{query}", "token"))
    settled = (previous_last.replace(day=1) - timedelta(days=1)).replace(day=1)
    settled = (settled - timedelta(days=1)).replace(day=1)  # three months back
    year_and_more = settled.replace(year=settled.year - 1)  # fifteen months back
    for month in (first, settled, year_and_more):
        found.append(Query("monthly", f"monthly {month:%Y-%m}, city",
                           f"/api/v1/reports/monthly?month={month:%Y-%m}", "token"))
    tickets = "/api/v1/tickets?limit=100"
    filters = {
        "status": "status=new,accepted,in_progress,reopened",
        "category": "category=dispute",
        "building": f"building={viewers.building}",
        "grid": f"grid={viewers.grid}",
        "since": f"since={month_ago}",
        "q": "q=电梯",
        "assignee": f"assignee={viewers.worker}",
    }
    for viewer, who in (("token", "city"), ("street", "a street")):
        found.append(Query("list", f"list, {who}, first page", tickets, viewer))
        for name, value in filters.items():
            if name in list_params:
                found.append(Query("list", f"list, {who}, {name}", f"{tickets}&{value}", viewer))
        for key in list_params.get("sort", ()):
            if key and key != "-id":
                found.append(Query("list", f"list, {who}, sort {key}", f"{tickets}&sort={key}",
                                   viewer))
        found.append(Query("list", f"list, {who}, page 100", f"{tickets}&offset=9900", viewer))
        found.append(Query("list", f"list, {who}, open in a grid, oldest first",
                           f"{tickets}&grid={viewers.grid}&status=new,accepted,in_progress,"
                           "reopened&sort=id", viewer))
    # A search sorted otherwise than by id (a person's matches are paged from their ids),
    # for a common word and a word in most of a street's tickets.
    for words in ("电梯", "楼"):
        for key in ("-status", "category", "deadline", "building", "-updated"):
            found.append(Query("list", f"list, a street, q={words}, sort {key}",
                               f"{tickets}&q={words}&sort={key}", "street"))
    # What a city's admin searches for most: a ticket's number, a resident's name with the
    # building, a phrase in many tickets, a word in no ticket (every ticket is looked at to
    # say so).
    for words in (f"#{viewers.ticket}", "王先生 3号楼", "路灯坏了", "没有这样的话"):
        found.append(Query("list", f"list, city, q={words}", f"{tickets}&q={quote(words)}",
                           "token"))
    # A common word with another filter or word, over the whole city.
    lift = f"{tickets}&q={quote('电梯')}"
    for name, query in (("status", f"{lift}&{filters['status']}"),
                        ("category", f"{lift}&category=repair"),
                        ("status and category", f"{lift}&{filters['status']}&category=repair"),
                        ("since", f"{lift}&{filters['since']}"),
                        ("since and status", f"{lift}&{filters['since']}&{filters['status']}"),
                        ("since and category", f"{lift}&{filters['since']}&category=repair"),
                        ("a second word", f"{tickets}&q={quote('电梯 坏了')}")):
        found.append(Query("list", f"list, city, q=电梯 and {name}", query, "token"))
    # Two common words with another filter.
    both = f"{tickets}&q={quote('电梯 坏了')}"
    for name, query in (("status", f"{both}&{filters['status']}"),
                        ("category", f"{both}&category=repair"),
                        ("since", f"{both}&{filters['since']}"),
                        ("since and status", f"{both}&{filters['since']}&{filters['status']}")):
        found.append(Query("list", f"list, city, q=电梯 坏了 and {name}", query, "token"))
    # A phrase in many tickets (kept as bits from its first search): its next page, and
    # with a filter.
    phrase = f"{tickets}&q={quote('路灯坏了')}"
    for name, query in (("the second page", f"{phrase}&offset=20"),
                        ("status", f"{phrase}&{filters['status']}"),
                        ("since", f"{phrase}&{filters['since']}")):
        found.append(Query("list", f"list, city, q=路灯坏了, {name}", query, "token"))
    return found


def list_parameters(description: dict[str, Any]) -> dict[str, Any]:
    """The ticket list's query parameters, from the API's own OpenAPI description: name →
    the values its schema lists (the sort orders), or True."""
    operation = description["paths"]["/api/v1/tickets"]["get"]
    found: dict[str, Any] = {}
    for parameter in operation.get("parameters", []):
        schema = parameter.get("schema", {})
        found[parameter["name"]] = schema.get("enum", True)
    return found


class Statements:
    """The SQL statements an engine runs while `recording`."""

    def __init__(self, engine: Any) -> None:
        from sqlalchemy import event

        self.recording = False
        self.seen: list[tuple[str, Any]] = []

        def before(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
                   executemany: bool) -> None:
            if self.recording:
                self.seen.append((statement, parameters))

        event.listen(engine.sync_engine, "before_cursor_execute", before)


async def explain(engine: Any, statements: list[tuple[str, Any]]) -> list[str]:
    """EXPLAIN (ANALYZE, BUFFERS) of each statement, as the engine ran it (after the
    settings it made, `SET LOCAL`, which last as long as the one transaction here)."""
    plans = []
    async with engine.connect() as connection:
        for statement, parameters in statements:
            if statement.lstrip().upper().startswith("SET LOCAL"):
                await connection.exec_driver_sql(statement, parameters)
                continue
            if not statement.lstrip().upper().startswith(("SELECT", "WITH")):
                continue
            rows = await connection.exec_driver_sql(
                f"EXPLAIN (ANALYZE, BUFFERS) {statement}", parameters)
            plans.append(statement.strip() + "\n" + "\n".join(row[0] for row in rows))
    return plans


async def measure(server: str, database: str, repeat: int, show_plans: bool,
                  only: Sequence[str], skip: Sequence[str] = (),
                  match: str = "") -> list[dict[str, Any]]:
    import tempfile

    from aiohttp.test_utils import TestClient, TestServer
    from sqlalchemy import delete, select

    from bot.app import create_app
    from bot.auth.sessions import COOKIE, SIGNER
    from bot.config import Settings
    from bot.reports import city
    from bot.runtime import Runtime
    from storage.models import FigureSnapshot, TicketKeptPhrase, TicketPhraseBits
    from storage.ticket_search import counted_words

    connection = await asyncpg.connect(f"{server}/{database}")
    try:
        viewers = await pick_viewers(connection)
        counts = await connection.fetchrow(
            "SELECT (SELECT count(*) FROM tickets) AS tickets,"
            " (SELECT count(*) FROM ticket_events) AS events")
    finally:
        await connection.close()
    log(f"measuring over {counts['tickets']:,} tickets and {counts['events']:,} events; "
        f"street {viewers.street_name}, district {viewers.district_name}")
    with tempfile.TemporaryDirectory() as var:
        settings = Settings(database_url=sqlalchemy_url(server, database), var_dir=var,
                            simulator=False)
        runtime = Runtime(settings, nlu_loader=lambda: None)
        app = create_app(runtime, workers=False, token=TOKEN)
        statements = Statements(runtime.engine)
        async with TestClient(TestServer(app)) as client:
            began = time.perf_counter()
            await runtime.org.get()
            log(f"org map loaded in {time.perf_counter() - began:.1f} s")
            now = datetime.now(UTC)
            headers = {"token": {"Authorization": f"Bearer {TOKEN}"}}
            for role, person in (("street", viewers.street_admin),
                                 ("district", viewers.district_admin)):
                cookie, _ = app[SIGNER].issue(person, "password", int(time.time()))
                headers[role] = {"Cookie": f"{COOKIE}={cookie}"}
            description = await (await client.get("/api/v1/openapi.json",
                                                   headers=headers["token"])).json()

            async def forget_city_figures() -> None:
                async with runtime.sessions() as session, session.begin():
                    await session.execute(delete(FigureSnapshot))

            async def forget_kept_phrases() -> None:
                async with runtime.sessions() as session, session.begin():
                    await session.execute(delete(TicketPhraseBits))
                    await session.execute(delete(TicketKeptPhrase))

            async def timed(query: Query, name: str,
                            forget: Callable[[], Awaitable[None]] | None = None,
                            ) -> dict[str, Any]:
                """The query's times; with `forget`, each a first ask: what the first ask
                keeps for the next (a city's figure read as asked, the words of a city's
                search) forgotten before it."""
                times, size = [], 0
                for _ in range(repeat):
                    if forget is not None:
                        await forget()
                    began = time.perf_counter()
                    response = await client.get(query.path, headers=headers[query.viewer])
                    body = await response.read()
                    times.append((time.perf_counter() - began) * 1000)
                    if response.status != 200:
                        raise RuntimeError(f"{query.path}: {response.status} {body[:300]!r}")
                    size = len(body)
                    if times[-1] > 60_000:
                        break  # one is enough to know
                p50, worst = statistics.median(times), max(times)
                mark = "ok " if p50 <= TARGET_MS else "SLOW"
                log(f"{mark} {name:<46} p50 {p50:9.1f} ms  max {worst:9.1f} ms  "
                    f"{size / 1024:8.1f} KB")
                return {"group": query.group, "name": name, "path": query.path,
                        "viewer": query.viewer, "p50_ms": round(p50, 1),
                        "max_ms": round(worst, 1), "runs": len(times), "bytes": size}

            # The city's figures as asked first: none made ahead or kept (bot.reports.city).
            results = []
            chosen = [query for query in queries(viewers, now, list_parameters(description))
                      if not (only and query.group not in only) and query.name not in skip
                      and match in query.name]
            for query in chosen:
                city_figure = query.viewer == "token" and query.group != "list"
                words = parse_qs(urlsplit(query.path).query).get("q", [""])[0]
                if query.viewer == "token" and counted_words(words)[1]:
                    # A search for a longer word, as first asked, then as asked again.
                    results.append(await timed(query, f"{query.name}, first asks",
                                               forget_kept_phrases))
                result = await timed(query, query.name,
                                     forget_city_figures if city_figure else None)
                if show_plans and result["p50_ms"] > TARGET_MS:
                    if city_figure:
                        await forget_city_figures()
                    statements.seen, statements.recording = [], True
                    await client.get(query.path, headers=headers[query.viewer])
                    statements.recording = False
                    result["plans"] = await explain(runtime.engine, statements.seen)
                    for plan in result["plans"]:
                        log(plan + "\n")
                results.append(result)
            # Then made ahead, as a worker makes them, and served.
            org = await runtime.org.get()
            ahead = [q for q in chosen if q.viewer == "token" and q.group != "list"]
            if ahead and city.made_ahead(org):
                await forget_city_figures()  # kept by the first asks above
                began = time.perf_counter()
                made = await city.refresh(runtime.sessions, org, lambda: datetime.now(UTC))
                log(f"made {made} city figures ahead in {time.perf_counter() - began:.1f} s")
                async with runtime.sessions() as session:
                    made_keys = set()
                    for key, took in await session.execute(
                            select(FigureSnapshot.key, FigureSnapshot.took_ms)
                            .order_by(FigureSnapshot.took_ms.desc())):
                        log(f"  {key:<36} made in {took / 1000:6.1f} s")
                        made_keys.add(key)
                for query in ahead:
                    # A snapshot says it was made before it was asked for; the stats since a
                    # moment of one's own are added up from the days made ahead (and say
                    # when those were made); a span neither made ahead nor added up (a
                    # dashboard span of one's own) is read at its first ask (here) and kept:
                    # the asks timed after it are served what it kept.
                    asked = datetime.now(UTC)
                    answer = await (await client.get(query.path,
                                                     headers=headers[query.viewer])).json()
                    served = datetime.fromisoformat(answer["generated_at"]) < asked
                    since = parse_qs(urlsplit(query.path).query).get("since")
                    added = query.group == "stats" and since is not None and \
                        city.stats_key(datetime.fromisoformat(since[0])) not in made_keys
                    how = ("added up from the days made ahead" if served and added
                           else "made ahead" if served else "asked again, kept from its first ask")
                    results.append(await timed(query, f"{query.name}, {how}"))
        await runtime.engine.dispose()
    return results


def summary(results: list[dict[str, Any]]) -> str:
    """The results as a Markdown table."""
    lines = ["| query | viewer | p50 ms | max ms | answer |", "| --- | --- | --- | --- | --- |"]
    for r in results:
        flag = "" if r["p50_ms"] <= TARGET_MS else " ✗"
        lines.append(f"| {r['name']} | {r['viewer']} | {r['p50_ms']:.1f}{flag} | "
                     f"{r['max_ms']:.1f} | {r['bytes'] / 1024:.0f} KB |")
    return "\n".join(lines)


async def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0,
                        help="1: the city (10 million tickets); 0.01: the same shape at 1/100")
    parser.add_argument("--server", default=os.environ.get("GRIDBOT_BENCH_POSTGRES", SERVER))
    parser.add_argument("--database", default=DATABASE)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--reuse", action="store_true",
                        help="measure the database as it is, without generating it")
    parser.add_argument("--generate-only", action="store_true")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--explain", action="store_true",
                        help="EXPLAIN (ANALYZE, BUFFERS) the statements of slow queries")
    parser.add_argument("--only", default="",
                        help="comma-separated groups: stats, dashboard, monthly, list")
    parser.add_argument("--skip", default="",
                        help="names of queries to leave out, separated by ';'")
    parser.add_argument("--match", default="",
                        help="only the queries whose name holds this text")
    parser.add_argument("--json", help="write the results to this file")
    args = parser.parse_args(argv)
    only = [g for g in args.only.split(",") if g]
    report: dict[str, Any] = {"database": args.database}
    try:
        if not args.reuse:
            report["generated"] = await generate(args.server, args.database, args.scale)
        else:
            await migrate(args.server, args.database)
        if not args.generate_only:
            skip = [name.strip() for name in args.skip.split(";") if name.strip()]
            report["results"] = await measure(args.server, args.database, args.repeat,
                                              args.explain, only, skip, args.match)
            print(summary(report["results"]))
    finally:
        if not args.keep:
            admin = await asyncpg.connect(f"{args.server}/postgres")
            try:
                await admin.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
                log(f"dropped {args.database}")
            finally:
                await admin.close()
    if args.json:
        await asyncio.to_thread(_write_json, args.json, report)
    return 0


def _write_json(path: str, report: dict[str, Any]) -> None:
    with open(path, "w", encoding="utf-8") as out:
        json.dump(report, out, ensure_ascii=False, indent=1, default=str)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
