"""Pipeline benchmark: how fast gridbot *handles* group messages end to end, next to how
fast it takes them in, on 1, 2 and 4 `gridbot serve` processes, SQLite and PostgreSQL+Redis.

    .venv/bin/python bench/pipeline.py [--database sqlite,postgresql] [--processes 1,2,4]
        [--shape steady,burst] [--rate 200] [--seconds 10] [--burst 3000] [--clients 16]
        [--json FILE] [--seed N] [--no-history] [--keep] [--split]

    # one configuration:
    .venv/bin/python bench/pipeline.py --database postgresql --processes 4 --shape burst

It prints figures and ratios; it asserts nothing.

What runs, per configuration (a fresh database, fresh fakes, fresh processes each time):

- gridbot as production runs it: `gridbot serve` subprocesses started by the fault harness
  (`tests/faults/services.GridbotProcess`) on a database loaded with `gridbot migrate` and
  `gridbot demo` (the estate and, unless --no-history, last month's history). SQLite is one
  file and one process; PostgreSQL is a private cluster (`PrivatePostgres`: initdb on a free
  port, fsync off — like SQLite's WAL with synchronous=NORMAL, it survives a process crash,
  not an OS crash) with a private Redis (`PrivateRedis`) per run, so nothing else on the
  machine's shared servers takes part. Messages go to the processes in turn, as a load
  balancer would send them. With --split, PostgreSQL runs N `--role web` processes, which
  take the posts, and N `--role worker` processes, which handle and send, as
  `deploy/compose.yaml` scales them apart; each role's CPU is printed.
- The fake WeCom / Official Account API and the fake bridge of `tests/fakes`, in a process
  of their own, so that the time each reply or push arrives is taken by a process that does
  nothing else (they index repeated deliveries instead of scanning for them).
- The load, signed and encrypted as the channels do it (`bot/channels/wechat_side.py`):
  residents write in their building's bridge group (`POST /bridge`, `b{n}@chatroom`) or, a
  tenth of them, to the Official Account (`POST /wechat`, safe mode). About a third of
  what they write matters — repairs (half of them more reports of something already reported
  broken in that building, which gridbot adds to the open ticket as a follow), complaints,
  micro-wishes and disputes, over all 96 buildings — and the rest is chatter. Staff answer
  the tickets made: when a task card reaches someone on the fake WeCom, they send, from
  `POST /wecom/app` as that person, `接单 N` (7 in 10), then perhaps `进展 N …` and
  `完成 N …`, each a moment after gridbot acknowledged the one before; and 3 in 10 tickets
  are asked about (`查询 N`) by a neighbour in the building's group. Every message has a
  sender of its own, except staff, whose commands are told apart by person and ticket.
- Two shapes: `steady` releases residents' messages at --rate a second for --seconds;
  `burst` hands --burst messages to --clients clients at once. Staff commands and queries
  come from four more clients (--staff-clients), whenever they are due.

What is printed, per run:

- messages in (residents', staff's, queries), answered (by HTTP status), stored
  (`inbound_messages`), handled (`processed_at` set: the decision committed), failed, and
  what gridbot decided (tickets, follows, answers, ignored chatter);
- intake/s: messages answered from the first post until the residents' last answer;
  handled/s: messages handled from the first post until the residents' last message was
  handled; their ratio (handled/s ÷ intake/s). On a steady run that keeps up the ratio is
  about 1 whatever gridbot could do; a burst shows how fast it listens and how fast it
  handles. Also how many were handled by the residents' last answer (the backlog then) and
  the rate at which the rest were handled afterwards;
- message → reply latency p50/p99/max: from the moment the channel answered the message to
  the moment the fake received gridbot's reply to its sender (the group post @-mentioning
  the sender, or naming the ticket for a dispute, whose parties are never mentioned; the
  Official Account message; a staff member's `好的，工单 #N …` or refusal), for every
  message gridbot decided to answer; chatter in a group gets no reply and is not counted.
  Split by sender (residents' reports, staff commands, 查询), and the same for the task
  card pushed to staff for a new ticket (message → task card);
- for a burst: the reply latency of the last resident's message answered among those that
  get a reply, and when the last reply to a resident's message arrived after the burst's
  last answer;
- lost and doubled, with the fault ledger's ideas (`tests/faults/ledger.py`): answered but
  not stored, stored but not handled, failed, expected reply never received, a ticket
  without its task card, an outbox row not sent or sent but never received; stored or
  handled twice, a delivery repeated, a task card or a staff answer more than once;
- the CPU the gridbot processes and this process used (cores; and messages handled per
  second of gridbot's CPU, a figure less at the mercy of a shared machine), the load
  average, the server logs' errors.

--json FILE saves the machine, the code (commit and modified files), the settings and
every run's figures. The defaults (SQLite: 1 process; PostgreSQL: 1, 2 and 4; each steady
and burst: eight runs) took 11 to 14 minutes on a 2-core machine shared with other work;
one configuration takes one to three. Whatever else runs on the machine shows in the load
average printed with each run.

Every process and server started here is stopped at the end, also on an error or Ctrl-C;
every wait is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

THIS = Path(__file__).resolve()
ROOT = THIS.parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402

from bot.channels import wechat_side  # noqa: E402

# Credentials of the channels and of the fakes (tests/fakes/wecom_server.py's defaults).
BRIDGE_SECRET = "pipeline-bridge-secret"
CORP_ID = "wwgridbotcorp"
CORP_SECRET = "wecom-app-secret"
AGENT_ID = 1000002
WECOM_TOKEN = "pipeline-app-token"
WECOM_AES = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
OA_APPID = "wxgridbotoa"
OA_SECRET = "oa-app-secret"
OA_TOKEN = "pipeline-oa-token"
OA_AES = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"
OA_ACCOUNT = "gh_pipeline"
ADMIN_TOKEN = "pipeline-admin-token"

MESSAGE_SEND = "/cgi-bin/message/send"
OA_CUSTOM_SEND = "/cgi-bin/message/custom/send"

BUILDINGS = 96
REQUEST_TIMEOUT = 30.0
RETRIES = 2  # a message answered 5xx or not at all is posted again, as the channels do
START_TIMEOUT = 180.0
QUIET = 1.5  # seconds without a new reply before a run counts as settled
POLL = 0.2
MAX_LIFETIME_S = 4 * 3600.0

# Staff: how likely each step is, and how long they take to react (seconds).
P_ACCEPT, P_PROGRESS, P_DONE, P_QUERY = 0.7, 0.4, 0.6, 0.3
REACT = (0.2, 1.5)
QUERY_AFTER = (0.5, 3.0)

# ---------------------------------------------------------------- what residents write

# Per facility, several ways to report it: later reports of one breakage use other words.
REPAIRS: dict[str, tuple[str, ...]] = {
    "lift": ("{n}号楼电梯又坏了，停在{f}楼不动，老人上不去", "{n}号楼的电梯今天又不动了",
             "{n}号楼电梯门关不上，一直报警", "{n}号楼电梯按钮失灵了", "{n}号楼电梯坏了，困了人"),
    "light": ("{n}栋{u}单元的楼道灯坏了好几天了，晚上黑漆漆的", "{n}号楼楼道灯不亮了",
              "{n}号楼{u}单元楼道里的灯又灭了", "{n}号楼{u}单元{f}楼的灯坏了"),
    "water_pipe": ("{n}号楼{u}单元的水管裂了，一直在滴水", "{n}号楼地下室水管漏水，地上全是水",
                   "{n}号楼水管爆了在漏水"),
    "door": ("{n}号楼门禁刷不开", "{n}号楼大门的门禁又坏了", "{n}号楼的门禁坏了，陌生人随便进出"),
    "drain": ("我家厨房下水道堵了，{n}号楼{u}单元{f}0{u}，物业能来通一下吗", "{n}号楼下水道堵了"),
    "roof": ("{n}号楼楼顶漏水了", "{n}号楼{f}楼水管漏水，楼下天花板都湿了，麻烦尽快派人来看看"),
    "intercom": ("{n}号楼单元门的对讲机坏了，按了没声音", "{n}号楼的对讲机坏了没人修"),
    "power": ("{n}号楼{u}单元整个单元都停电了", "{n}号楼停电了"),
    "manhole": ("{n}号楼楼下的井盖松了，踩上去咣当响，小孩跑来跑去很危险",),
    "fire_equipment": ("{n}号楼{u}单元消防栓的玻璃碎了，也没人管",),
}
COMPLAINTS = (
    "{n}号楼楼下烧烤摊晚上十二点还在营业，油烟大又吵，睡不着觉",
    "{n}号楼{f}楼有人天天半夜装修，电钻声吵死了",
    "小区里遛狗不牵绳，{n}号楼门口全是狗屎，没人管吗",
    "{n}栋楼道里堆满了杂物和纸箱，消防通道都堵了",
    "{n}号楼旁边垃圾桶好几天没清了，臭得不行，苍蝇乱飞",
    "{n}号楼楼下有人占用消防通道停车",
    "{n}号楼楼上每天晚上往下扔垃圾，太不像话了",
)
WISHES = (
    "{n}号楼有位独居的老人腿脚不便，想请志愿者帮忙每周买一次菜",
    "想请志愿者帮{n}号楼的王爷爷修一下收音机",
    "{n}号楼的张阿姨行动不便，想请人帮忙去医院配药",
    "希望有志愿者周末陪{n}号楼独居的老人聊聊天",
)
DISPUTES = (
    "我家楼上漏水，找他他不管，还骂人",
    "楼上的空调外机滴水滴在我家，去找他理论他还骂人",
    "对门邻居总把垃圾放在门口，说了几次还是不改，吵了一架",
    "楼下说我家漏水要我赔钱，可我家根本没漏，{n}号楼{f}楼，能不能来评评理",
    "邻居家狗天天叫，找他沟通反而和我吵起来了",
    "隔壁把鞋柜放在楼道里，和他家吵了几句",
)
CHATTER = (
    "你好，请问物业办公室几点上班？", "谢谢你们昨天这么快就修好了！", "请问这个月的物业费在哪里交",
    "小区的快递柜放在哪里了", "收到，辛苦了", "在吗", "今天天气真好", "晚上一起去跳广场舞吗",
    "谁家的猫跑出来了，橘色的", "明天几点开始打疫苗", "大家早上好", "楼下超市今天打折，鸡蛋便宜",
    "哈哈哈哈", "有人拼车去虹桥吗", "[捂脸]", "好的", "有人知道附近哪里有修自行车的吗",
    "周末小区有活动吗", "今天菜场的青菜真新鲜", "感谢物业的师傅", "这个群真热闹",
    "我家孩子考上大学了，谢谢大家关心",
)
PROGRESS_NOTES = ("已联系物业，明天上午来修", "师傅已经在路上了", "已上报房管所，等配件")
DONE_NOTES = ("已修好", "已处理完毕", "已和住户沟通好，问题解决")
# Of what matters: repairs (half of them reports of something already reported), complaints,
# wishes, disputes.
MATTER_WEIGHTS = (("repair", 50), ("complaint", 22), ("wish", 12), ("dispute", 16))
MATTER_SHARE = 1 / 3
CATEGORY_OF_TITLE = {"报修": "repair", "投诉": "complaint", "微心愿": "wish", "矛盾纠纷": "dispute"}
TASK_TITLE = re.compile(r"^【(报修|投诉|微心愿|矛盾纠纷)[·】].*?(\d+)号楼.*#(\d+)\s*$")
NUMBER = re.compile(r"#(\d+)")


# ---------------------------------------------------------------- messages


@dataclass
class Post:
    """One message posted to gridbot, and what became of it."""

    kind: str  # repair, complaint, wish, dispute, chatter; 接单, 进展, 完成 (staff); 查询
    channel: str  # bridge, wechat, wecom_app
    sender: str
    name: str | None
    chat: str | None
    text: str
    msg_id: str
    building: int | None = None
    ticket: int | None = None  # the ticket a command names
    planned: bool = True  # part of the residents' load (False: staff and queries reacting)
    target: int = 0
    sent_at: float | None = None
    answered_at: float | None = None
    status: int | None = None
    attempts: int = 0

    @property
    def accepted(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def request(self, base: str) -> tuple[str, dict[str, str], dict[str, str], bytes]:
        """URL, query, headers and body of the POST, signed and stamped now."""
        if self.channel == "bridge":
            payload = {"msg_id": self.msg_id, "chat_id": self.chat, "chat_name": None,
                       "sender_id": self.sender, "sender_name": self.name, "text": self.text,
                       "sent_at": int(time.time()), "mentions_bot": False}
            headers, body = wechat_side.bridge_request(BRIDGE_SECRET, payload)
            return base + "/bridge", {}, headers, body
        xml = {"Content-Type": "text/xml; charset=utf-8"}
        if self.channel == "wechat":
            fields = wechat_side.oa_text_fields(self.sender, self.text, msg_id=int(self.msg_id),
                                                to_user=OA_ACCOUNT)
            query, body = wechat_side.official_account_request(OA_TOKEN, OA_AES, OA_APPID,
                                                               fields)
            return base + "/wechat", query, xml, body
        fields = wechat_side.wecom_text_fields(self.sender, self.text, CORP_ID, AGENT_ID,
                                               msg_id=int(self.msg_id))
        query, body = wechat_side.wecom_app_request(CORP_ID, WECOM_TOKEN, WECOM_AES, fields)
        return base + "/wecom/app", query, xml, body


class Ids:
    """Message ids and sender names unique to one run."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.count = 0
        self._numeric = (int(time.time()) << 20) + random.randrange(1 << 16)

    def next(self) -> int:
        self.count += 1
        return self.count

    def numeric(self) -> str:
        self._numeric += 1
        return str(self._numeric)


def resident_posts(count: int, rng: random.Random, ids: Ids, oa_share: float) -> list[Post]:
    """`count` messages of residents: a third that matters, the rest chatter."""
    broken: list[tuple[int, str]] = []  # (building, facility) reported so far
    kinds = [k for k, _ in MATTER_WEIGHTS]
    weights = [w for _, w in MATTER_WEIGHTS]
    posts = []
    for _ in range(count):
        i = ids.next()
        n = rng.randint(1, BUILDINGS)
        kind = rng.choices(kinds, weights)[0] if rng.random() < MATTER_SHARE else "chatter"
        if kind == "repair":
            if broken and rng.random() < 0.5:  # someone else reports the same breakage
                n, facility = rng.choice(broken[-300:])
            else:
                facility = rng.choice(list(REPAIRS))
                broken.append((n, facility))
            template = rng.choice(REPAIRS[facility])
        else:
            template = rng.choice({"complaint": COMPLAINTS, "wish": WISHES,
                                   "dispute": DISPUTES, "chatter": CHATTER}[kind])
        text = template.format(n=n, u=rng.randint(1, 4), f=rng.randint(2, 18))
        # The Official Account has no group: only messages that name their building go there.
        if "{n}" in template and rng.random() < oa_share:
            posts.append(Post(kind, "wechat", f"oPipe{ids.tag}x{i:06d}", None, None, text,
                              ids.numeric(), n))
        else:
            posts.append(Post(kind, "bridge", f"wxid_{ids.tag}_{i}", f"居民{ids.tag}{i}",
                              f"b{n}@chatroom", text, f"{ids.tag}-{i}", n))
    return posts


# ---------------------------------------------------------------- the fakes' process


def serve_fakes(port_file: Path) -> int:
    """Serve tests/fakes' WeCom/Official Account API and bridge until the parent goes away;
    GET /_bench/records on the API gives what both received, from given positions."""
    from aiohttp import web

    from tests.fakes.bridge_receiver import FakeBridge, expected_signature
    from tests.fakes.wecom_server import FakeWeCom

    class Bridge(FakeBridge):
        """FakeBridge's checks, with an index of delivery ids instead of a scan."""

        def __init__(self) -> None:
            super().__init__(secret=BRIDGE_SECRET)
            self.log: list[list[Any]] = []
            self.seen: set[str] = set()

        async def _receive(self, request: web.Request) -> web.Response:
            body = await request.read()
            headers = dict(request.headers)
            timestamp = request.headers.get("X-Gridbot-Timestamp", "")
            signature = request.headers.get("X-Gridbot-Signature", "")
            delivery = request.headers.get("X-Gridbot-Delivery")
            if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > self.max_skew:
                return self._reject(401, "missing, malformed or stale timestamp", headers)
            if signature != expected_signature(self.secret, timestamp, body):
                return self._reject(401, "bad signature", headers)
            try:
                data = json.loads(body)
            except ValueError:
                return self._reject(400, "body is not JSON", headers)
            if not isinstance(data, dict) or not isinstance(data.get("chat_id"), str):
                return self._reject(400, "chat_id missing", headers)
            now = time.time()
            duplicate = delivery is not None and delivery in self.seen
            entry = {"json": data, "delivery": delivery, "at": now}
            (self.duplicates if duplicate else self.received).append(entry)
            if delivery is not None:
                self.seen.add(delivery)
            self.log.append([now, delivery, data.get("chat_id"), data.get("mention_ids") or [],
                             data.get("text", ""), duplicate])
            return web.json_response({"accepted": True, "duplicate": duplicate})

    class WeCom(FakeWeCom):
        """FakeWeCom with its duplicate check kept in an index instead of a scan."""

        def __init__(self, bridge: Bridge) -> None:
            super().__init__(corp_id=CORP_ID, corp_secret=CORP_SECRET, agent_id=AGENT_ID,
                             appid=OA_APPID, app_secret=OA_SECRET)
            self.bridge = bridge
            self.last_at: dict[tuple[str, str], float] = {}

        def routes(self) -> list[web.RouteDef]:
            return [*super().routes(), web.get("/_bench/records", self._records)]

        def _record(self, request: web.Request, data: dict[str, Any]) -> dict[str, Any]:
            now = time.time()
            key = (request.path, json.dumps(data, sort_keys=True, ensure_ascii=False))
            duplicate = False
            if data.get("enable_duplicate_check") == 1:
                interval = data.get("duplicate_check_interval", 1800)
                last = self.last_at.get(key)
                duplicate = last is not None and now - last < interval
            self.last_at[key] = now
            entry = {"path": request.path, "query": dict(request.query), "json": data,
                     "at": now, "duplicate": duplicate}
            self.messages.append(entry)
            return entry

        async def _records(self, request: web.Request) -> web.Response:
            b = int(request.query.get("b", "0"))
            w = int(request.query.get("w", "0"))
            out = []
            for m in self.messages[w:]:
                data = m["json"]
                msgtype = data.get("msgtype", "")
                section = data.get(msgtype) or {}
                text = section.get("title") or section.get("content") or ""
                out.append([m["at"], m["path"], str(data.get("touser", "")), msgtype, text,
                            m["duplicate"]])
            return web.json_response({"bridge": self.bridge.log[b:], "wecom": out,
                                      "requests": len(self.requests)})

    async def run() -> None:
        parent = os.getppid()
        bridge = Bridge()
        wecom = WeCom(bridge)
        await bridge.start()
        await wecom.start()
        await asyncio.to_thread(port_file.write_text, f"{wecom.port} {bridge.port}")
        try:
            for _ in range(int(MAX_LIFETIME_S)):
                if os.getppid() != parent:
                    break
                await asyncio.sleep(1.0)
        finally:
            await wecom.close()
            await bridge.close()

    signal.signal(signal.SIGTERM, _terminate)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())
    return 0


@dataclass
class Record:
    at: float
    kind: str  # bridge, text (WeCom app text), card (WeCom app textcard), oa
    to: tuple[str, ...]  # mentioned ids (bridge) or recipients
    chat: str | None
    text: str
    duplicate: bool
    delivery: str | None = None


class Fakes:
    """The fakes' process and what it has told us so far."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None
        self.api = ""
        self.bridge_url = ""
        self.records: list[Record] = []
        self._b = 0
        self._w = 0
        self.requests = 0

    def spawn(self) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        port_file = self.directory / "fakes.port"
        with open(self.directory / "fakes.log", "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, str(THIS), "--serve-fakes", str(port_file)], cwd=ROOT,
                env=_environ(), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        return port_file

    async def start(self) -> None:
        port_file = self.spawn()
        assert self.process is not None
        deadline = time.monotonic() + 60
        while not (port_file.is_file() and port_file.read_text().strip()):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the fakes did not start:\n" + _tail(
                    self.directory / "fakes.log"))
            await asyncio.sleep(0.05)
        wecom_port, bridge_port = port_file.read_text().split()
        self.api = f"http://127.0.0.1:{wecom_port}"
        self.bridge_url = f"http://127.0.0.1:{bridge_port}/outbound"

    async def fetch(self, session: aiohttp.ClientSession) -> list[Record]:
        """What the fakes received since the last fetch."""
        async with session.get(f"{self.api}/_bench/records", params={"b": self._b, "w": self._w},
                               timeout=aiohttp.ClientTimeout(total=30)) as answer:
            data = await answer.json()
        new: list[Record] = []
        for at, delivery, chat, mentions, text, dup in data["bridge"]:
            new.append(Record(at, "bridge", tuple(mentions), chat, text, dup, delivery))
        for at, path, touser, msgtype, text, dup in data["wecom"]:
            if path == OA_CUSTOM_SEND:
                kind = "oa"
            elif path == MESSAGE_SEND:
                kind = "card" if msgtype == "textcard" else "text"
            else:
                kind = path
            new.append(Record(at, kind, tuple(u for u in touser.split("|") if u), None, text,
                              dup))
        self._b += len(data["bridge"])
        self._w += len(data["wecom"])
        self.requests = int(data.get("requests", 0))
        self.records.extend(new)
        return new

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None


# ---------------------------------------------------------------- services


def _environ() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDBOT_")}
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))])
    return env


def _tail(path: Path, lines: int = 25) -> str:
    if not path.is_file():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def gridbot_env(db_url: str, fakes: Fakes, var_dir: Path, port: int,
                redis_url: str | None) -> dict[str, str]:
    env = {
        "GRIDBOT_DATABASE_URL": db_url,
        "GRIDBOT_HOST": "127.0.0.1",
        "GRIDBOT_PORT": str(port),
        "GRIDBOT_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "GRIDBOT_ADMIN_TOKEN": ADMIN_TOKEN,
        "GRIDBOT_VAR_DIR": str(var_dir),
        "GRIDBOT_SIMULATOR": "0",
        "GRIDBOT_BRIDGE_SECRET": BRIDGE_SECRET,
        "GRIDBOT_BRIDGE_OUTBOUND_URL": fakes.bridge_url,
        "GRIDBOT_WECOM_CORP_ID": CORP_ID,
        "GRIDBOT_WECOM_AGENT_ID": str(AGENT_ID),
        "GRIDBOT_WECOM_SECRET": CORP_SECRET,
        "GRIDBOT_WECOM_TOKEN": WECOM_TOKEN,
        "GRIDBOT_WECOM_AES_KEY": WECOM_AES,
        "GRIDBOT_WECHAT_TOKEN": OA_TOKEN,
        "GRIDBOT_WECHAT_AES_KEY": OA_AES,
        "GRIDBOT_WECHAT_APPID": OA_APPID,
        "GRIDBOT_WECHAT_SECRET": OA_SECRET,
        "GRIDBOT_WECOM_API_BASE": fakes.api,
        "GRIDBOT_WECHAT_API_BASE": fakes.api,
    }
    if redis_url:
        env["GRIDBOT_REDIS_URL"] = redis_url
    return env


class Estate:
    """The databases every run starts from: a SQLite file and, when PostgreSQL runs, a
    template database on a private cluster, both migrated and loaded with the demo."""

    def __init__(self, workdir: Path, history: bool) -> None:
        self.workdir = workdir
        self.history = history
        self.sqlite_template: Path | None = None
        self.pg: Any = None
        self._runs = 0

    def _load(self, url: str) -> None:
        from tests.faults.services import run_cli

        env = {"GRIDBOT_DATABASE_URL": url, "GRIDBOT_VAR_DIR": str(self.workdir / "var")}
        run_cli(env, "migrate", cwd=self.workdir)
        run_cli(env, "demo", *(() if self.history else ("--no-history",)), cwd=self.workdir)

    def sqlite(self, directory: Path) -> str:
        if self.sqlite_template is None:
            path = self.workdir / "template.db"
            self._load(f"sqlite+aiosqlite:///{path}")
            self.sqlite_template = path
        self._runs += 1
        path = directory / "gridbot.db"
        shutil.copyfile(self.sqlite_template, path)
        return f"sqlite+aiosqlite:///{path}"

    async def postgres(self) -> str:
        from tests.faults.services import PrivatePostgres

        if self.pg is None:
            pg = PrivatePostgres()
            self.pg = pg
            pg.init()
            pg.start()
            await pg.execute('CREATE DATABASE "pipeline_template"')
            await asyncio.to_thread(self._load, pg.url("pipeline_template"))
        self._runs += 1
        name = f"pipeline_{self._runs}"
        await self.pg.execute(f'CREATE DATABASE "{name}" TEMPLATE "pipeline_template"')
        return self.pg.url(name)

    async def drop(self, url: str) -> None:
        if self.pg is not None and self.pg.running and "/pipeline_" in url:
            name = url.rsplit("/", 1)[1]
            with contextlib.suppress(Exception):
                await self.pg.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def close(self) -> None:
        if self.pg is not None:
            self.pg.cleanup()
            self.pg = None


def cpu_seconds(pid: int | None) -> float:
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- the database's side


async def db_marks(db_url: str) -> dict[str, int]:
    """The highest ids before a run: what comes after is the run's."""
    from sqlalchemy import func, select

    from storage.models import InboundRecord, OutboxMessage, Ticket, TicketEvent
    from tests.faults.ledger import reader

    engine = reader(db_url)
    try:
        async with engine.connect() as c:
            marks = {}
            for name, column in (("inbound", InboundRecord.id), ("ticket", Ticket.id),
                                 ("event", TicketEvent.id), ("outbox", OutboxMessage.id)):
                marks[name] = int((await c.execute(select(func.max(column)))).scalar() or 0)
            return marks
    finally:
        await engine.dispose()


@dataclass
class Stored:
    inbound: list[Any]
    tickets: list[Any]
    follows: list[Any]
    outbox: list[Any]


async def collect(db_url: str, marks: dict[str, int]) -> Stored:
    from sqlalchemy import select

    from storage.models import InboundRecord, OutboxMessage, Ticket, TicketEvent
    from tests.faults.ledger import reader

    engine = reader(db_url)
    try:
        async with engine.connect() as c:
            inbound = (await c.execute(select(
                InboundRecord.id, InboundRecord.channel, InboundRecord.msg_id,
                InboundRecord.sender_id, InboundRecord.status, InboundRecord.processed_at,
                InboundRecord.decision["outcome"].as_string().label("outcome"),
            ).where(InboundRecord.id > marks["inbound"]))).all()
            tickets = (await c.execute(select(
                Ticket.id, Ticket.source_message_id, Ticket.category,
            ).where(Ticket.id > marks["ticket"]))).all()
            follows = (await c.execute(select(TicketEvent.ticket_id, TicketEvent.actor).where(
                TicketEvent.id > marks["event"], TicketEvent.kind == "followed"))).all()
            outbox = (await c.execute(select(
                OutboxMessage.id, OutboxMessage.transport, OutboxMessage.status,
                OutboxMessage.attempts,
            ).where(OutboxMessage.id > marks["outbox"]))).all()
    finally:
        await engine.dispose()
    return Stored(list(inbound), list(tickets), list(follows), list(outbox))


# ---------------------------------------------------------------- staff


@dataclass
class Chain:
    """What staff do about one ticket: the steps still to send, one after the other."""

    ticket: int
    user: str
    steps: list[str]
    sent: int = 0  # steps posted
    due: float | None = None  # when the next step goes out (None: waiting for an answer)


class StaffAnswers:
    """Which command a WeCom text to a staff member answers: the unanswered command of that
    person naming the same ticket, or, for an answer that names no ticket (a refusal), the
    person's oldest unanswered command. A text naming a ticket the person has no unanswered
    command about is not an answer (a notice), or an answer given twice."""

    def __init__(self) -> None:
        self.open: dict[str, list[tuple[int, Any]]] = defaultdict(list)
        self.commanded: set[tuple[str, int]] = set()
        self.twice = 0

    def sent(self, user: str, ticket: int, command: Any) -> None:
        self.open[user].append((ticket, command))
        self.commanded.add((user, ticket))

    def answer(self, user: str, text: str) -> Any | None:
        waiting = self.open.get(user, [])
        numbers = NUMBER.findall(text)
        if not numbers:
            return waiting.pop(0)[1] if waiting else None
        number = int(numbers[0])
        for i, (ticket, command) in enumerate(waiting):
            if ticket == number:
                del waiting[i]
                return command
        if (user, number) in self.commanded:
            self.twice += 1
        return None


def staff_steps(rng: random.Random, number: int, user: str | None) -> list[str]:
    """The commands the staff member `user` sends about ticket `number`, in order: 接单 (7 in
    10), then perhaps 进展 and 完成; none without a WeCom user."""
    steps: list[str] = []
    if user and rng.random() < P_ACCEPT:
        steps.append(f"接单 {number}")
        if rng.random() < P_PROGRESS:
            steps.append(f"进展 {number} {rng.choice(PROGRESS_NOTES)}")
        if rng.random() < P_DONE:
            steps.append(f"完成 {number} {rng.choice(DONE_NOTES)}")
    return steps


class Staff:
    """Reacts to what the fakes receive: a task card starts a chain of commands from its
    recipient, each sent a moment after gridbot answered the one before, and perhaps a
    neighbour's 查询 in the building's group."""

    def __init__(self, rng: random.Random, ids: Ids, first_ticket: int) -> None:
        self.rng = rng
        self.ids = ids
        self.first_ticket = first_ticket
        self.chains: dict[tuple[str, int], Chain] = {}
        self.answers = StaffAnswers()
        self.queries: list[tuple[float, Post]] = []
        self.cards: set[int] = set()

    def observe(self, records: Sequence[Record], now: float) -> None:
        for r in records:
            if r.kind == "card" and not r.duplicate:
                found = TASK_TITLE.match(r.text)
                if found is None or int(found.group(3)) <= self.first_ticket:
                    continue
                number, building = int(found.group(3)), int(found.group(2))
                if number in self.cards:
                    continue
                self.cards.add(number)
                self._plan(number, r.to[0] if r.to else "", building, now)
            elif r.kind == "text" and not r.duplicate:
                for user in r.to:
                    chain = self.answers.answer(user, r.text)
                    if chain is not None and chain.sent < len(chain.steps):
                        chain.due = now + self.rng.uniform(*REACT)

    def _plan(self, number: int, user: str, building: int, now: float) -> None:
        rng = self.rng
        steps = staff_steps(rng, number, user)
        if steps:
            self.chains[(user, number)] = Chain(number, user, steps,
                                                due=now + rng.uniform(*REACT))
        if rng.random() < P_QUERY:
            i = self.ids.next()
            tag = self.ids.tag
            post = Post("查询", "bridge", f"wxid_{tag}_q{i}", f"邻居{tag}{i}",
                        f"b{building}@chatroom", f"查询 {number}", f"{tag}-q{i}", building,
                        ticket=number, planned=False)
            self.queries.append((now + rng.uniform(*QUERY_AFTER), post))

    def due(self, now: float) -> list[Post]:
        out = []
        for chain in self.chains.values():
            if chain.due is not None and chain.due <= now and chain.sent < len(chain.steps):
                text = chain.steps[chain.sent]
                chain.sent += 1
                chain.due = None
                self.answers.sent(chain.user, chain.ticket, chain)
                out.append(Post(text.split()[0], "wecom_app", chain.user, None, None, text,
                                self.ids.numeric(), ticket=chain.ticket, planned=False))
        ready = [p for at, p in self.queries if at <= now]
        self.queries = [(at, p) for at, p in self.queries if at > now]
        return out + ready

    def waiting(self) -> int:
        """Steps and queries still to send that something is due to trigger."""
        return len(self.queries) + sum(1 for c in self.chains.values()
                                       if c.due is not None and c.sent < len(c.steps))


# ---------------------------------------------------------------- one run


@dataclass
class Spec:
    database: str
    processes: int
    shape: str
    split: bool = False  # `processes` web processes and as many workers, instead of `all`

    @property
    def label(self) -> str:
        each = f"{self.processes} web + {self.processes} worker" if self.split \
            else f"×{self.processes}"
        return f"{self.database} {each} {self.shape}"

    @property
    def roles(self) -> list[str]:
        return ["web", "worker"] * self.processes if self.split else ["all"] * self.processes


@dataclass
class Poster:
    """Clients posting from a queue to the gridbot processes, in turn."""

    session: aiohttp.ClientSession
    urls: list[str]
    queue: asyncio.Queue[Post | None] = field(default_factory=asyncio.Queue)
    in_flight: int = 0
    turn: int = 0

    def put(self, post: Post) -> None:
        post.target = self.turn % len(self.urls)
        self.turn += 1
        self.in_flight += 1
        self.queue.put_nowait(post)

    async def client(self) -> None:
        while True:
            post = await self.queue.get()
            if post is None:
                return
            try:
                await self._send(post)
            finally:
                self.in_flight -= 1

    async def _send(self, post: Post) -> None:
        for attempt in range(RETRIES + 1):
            url, query, headers, body = post.request(self.urls[post.target])
            post.attempts += 1
            if post.sent_at is None:
                post.sent_at = time.time()
            try:
                async with self.session.post(
                        url, params=query, data=body, headers=headers,
                        timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)) as answer:
                    await answer.read()
                    post.status = answer.status
            except (aiohttp.ClientError, TimeoutError, OSError):
                post.status = 0
            post.answered_at = time.time()
            if post.status != 0 and post.status < 500:
                return
            if attempt < RETRIES:
                await asyncio.sleep(0.5)


async def progress(db_url: str) -> dict[str, int]:
    from tests.faults.ledger import progress as ledger_progress

    try:
        return await ledger_progress(db_url)
    except Exception as exc:  # the database is busy: not settled yet
        return {"error": 1, "detail": len(repr(exc))}


async def warm_up(processes: Sequence[Any], fakes: Fakes, db_url: str,
                  session: aiohttp.ClientSession, ids: Ids) -> None:
    """A few messages through every process (tokens, pools, caches), not counted."""
    poster = Poster(session, [p.url for p in processes])
    clients = [asyncio.create_task(poster.client()) for _ in range(4)]
    try:
        for k in range(len(processes)):
            n = 1 + (k * 31) % BUILDINGS
            for text, channel in ((f"{n}号楼楼道灯不亮了", "bridge"), ("大家早上好", "bridge"),
                                  (f"{n}号楼电梯按钮失灵了", "wechat")):
                i = ids.next()
                if channel == "bridge":
                    post = Post("warm", "bridge", f"wxid_{ids.tag}_w{i}", f"热身{ids.tag}{i}",
                                f"b{n}@chatroom", text, f"{ids.tag}-w{i}", n)
                else:
                    post = Post("warm", "wechat", f"oWarm{ids.tag}x{i}", None, None, text,
                                ids.numeric(), n)
                poster.turn = k
                poster.put(post)
        deadline = time.monotonic() + 120
        for _ in range(2400):  # at most 120 s
            if not poster.in_flight:
                break
            await asyncio.sleep(0.05)
        settled_since = None
        while time.monotonic() < deadline:
            state = await progress(db_url)
            await fakes.fetch(session)
            if state.get("inbound_open") == 0 and state.get("outbox_pending") == 0:
                settled_since = settled_since or time.monotonic()
                if time.monotonic() - settled_since > 0.5:
                    return
            else:
                settled_since = None
            await asyncio.sleep(0.2)
        raise RuntimeError("gridbot did not handle the warm-up messages within 120 s")
    finally:
        for _ in clients:
            poster.queue.put_nowait(None)
        await asyncio.gather(*clients, return_exceptions=True)


async def run_one(spec: Spec, args: argparse.Namespace, estate: Estate, workdir: Path,
                  index: int, keep: list[Any]) -> dict[str, Any]:
    from tests.faults.services import GridbotProcess, PrivateRedis, free_port

    directory = workdir / f"run{index}-{spec.database}-{spec.processes}-{spec.shape}"
    directory.mkdir(parents=True)
    fakes = Fakes(directory)
    keep.append(fakes)
    redis = None
    processes: list[Any] = []
    db_url = ""
    try:
        await fakes.start()
        if spec.database == "sqlite":
            db_url = await asyncio.to_thread(estate.sqlite, directory)
        else:
            db_url = await estate.postgres()
            redis = PrivateRedis(directory / "redis")
            keep.append(redis)
            redis.start()
        models = workdir / "var" / "models"
        for k, role in enumerate(spec.roles):
            var_dir = directory / f"var-{k + 1}"
            shutil.copytree(models, var_dir / "models")
            env = gridbot_env(db_url, fakes, var_dir, free_port(),
                              redis.url if redis else None)
            process = GridbotProcess(f"gridbot-{k + 1}-{role}", env, workdir, directory, role)
            processes.append(process)
            keep.append(process)
        await asyncio.gather(*(p.start(START_TIMEOUT) for p in processes))

        connector = aiohttp.TCPConnector(limit=args.clients + args.staff_clients + 8)
        async with aiohttp.ClientSession(connector=connector) as session:
            rng = random.Random(args.seed * 1000 + index)
            ids = Ids(f"r{index}{rng.randrange(36 ** 3):03x}")
            await warm_up([p for p in processes if p.role != "worker"], fakes, db_url, session,
                          ids)
            return await measure(spec, args, processes, fakes, db_url, session, rng, ids)
    finally:
        for process in processes:
            with contextlib.suppress(Exception):
                await process.stop(timeout=10)
            process.close()
        fakes.stop()
        if redis is not None:
            redis.stop()
        if db_url:
            await estate.drop(db_url)


async def measure(spec: Spec, args: argparse.Namespace, processes: Sequence[Any], fakes: Fakes,
                  db_url: str, session: aiohttp.ClientSession, rng: random.Random,
                  ids: Ids) -> dict[str, Any]:
    marks = await db_marks(db_url)
    await fakes.fetch(session)
    first_record = len(fakes.records)
    count = args.rate * args.seconds if spec.shape == "steady" else args.burst
    residents = resident_posts(int(count), rng, ids, args.oa_share)
    staff = Staff(rng, ids, marks["ticket"])
    posts: list[Post] = list(residents)
    urls = [p.url for p in processes if p.role != "worker"]  # as a load balancer sends
    main = Poster(session, urls)
    reactions = Poster(session, urls)
    clients = ([asyncio.create_task(main.client()) for _ in range(args.clients)]
               + [asyncio.create_task(reactions.client()) for _ in range(args.staff_clients)])
    cpu_before = [cpu_seconds(p.pid) for p in processes]
    own_before = time.process_time()
    load_before = os.getloadavg()
    t0 = time.time()
    # Each process's CPU as the run goes, for the CPU spent while the residents' messages
    # were being handled (the run goes on while WeCom's limits let staff messages out).
    samples: list[tuple[float, list[float]]] = [(t0, cpu_before)]

    async def feed() -> None:
        start = time.monotonic()
        for i, post in enumerate(residents):
            if spec.shape == "steady":
                await asyncio.sleep(max(0.0, start + i / args.rate - time.monotonic()))
            main.put(post)

    feeder = asyncio.create_task(feed())
    posting_time = count / args.rate if spec.shape == "steady" else 0.0
    hard_deadline = time.monotonic() + posting_time + 2 * args.settle_timeout
    settled = candidate = False
    last_change = time.monotonic()
    deadline_after_posting: float | None = None
    state: dict[str, int] = {}
    next_db_check = 0.0
    try:
        while True:
            await asyncio.sleep(POLL)
            now_wall = time.time()
            samples.append((now_wall, [cpu_seconds(p.pid) for p in processes]))
            new = await fakes.fetch(session)
            if new:
                last_change = time.monotonic()
            staff.observe(new, now_wall)
            for post in staff.due(now_wall):
                posts.append(post)
                reactions.put(post)
            if time.monotonic() > hard_deadline:
                break
            posting_done = feeder.done() and main.in_flight == 0
            if not posting_done:
                continue
            if deadline_after_posting is None:
                deadline_after_posting = time.monotonic() + args.settle_timeout
            if time.monotonic() > deadline_after_posting:
                break
            if reactions.in_flight or staff.waiting():
                continue
            if time.monotonic() >= next_db_check:
                state = await progress(db_url)
                next_db_check = time.monotonic() + 0.5
            if (state.get("inbound_open") == 0 and state.get("outbox_pending") == 0
                    and time.monotonic() - last_change >= QUIET):
                if candidate:  # and still so after one more look at the fakes
                    settled = True
                    break
                candidate = True
            else:
                candidate = False
    finally:
        feeder.cancel()
        for poster in (main, reactions):  # what was not sent by now will not be
            while not poster.queue.empty():
                poster.queue.get_nowait()
                poster.in_flight -= 1
        for _ in clients:
            main.queue.put_nowait(None)
            reactions.queue.put_nowait(None)
        _, pending = await asyncio.wait(clients, timeout=REQUEST_TIMEOUT * (RETRIES + 1))
        for task in pending:
            task.cancel()
    wall = time.time() - t0
    used = [cpu_seconds(p.pid) - b for p, b in zip(processes, cpu_before, strict=True)]
    cpu = sum(used)
    by_role: dict[str, float] = {}
    for process, seconds in zip(processes, used, strict=True):
        by_role[process.role] = by_role.get(process.role, 0.0) + seconds
    own = time.process_time() - own_before
    await fakes.fetch(session)
    stored = await collect(db_url, marks)
    from tests.faults.ledger import read_log

    logs = [read_log(p.log()) for p in processes]
    result = figures(spec, args, posts, fakes.records[first_record:], stored, t0, settled,
                     wall, cpu, own, load_before, logs)
    result["split"] = spec.split
    result["gridbot_cpu_s_by_role"] = by_role
    # Up to the moment the residents' last message was handled: what handling costs,
    # without the minutes of rate-limited staff messages (and idle polling) after it.
    until = t0 + result["handling_s"]
    handling_cpu = [b - a for a, b in zip(cpu_before, cpu_at(samples, until), strict=True)]
    result["handling_window_cpu_s_by_role"] = {
        role: sum(c for p, c in zip(processes, handling_cpu, strict=True) if p.role == role)
        for role in by_role}
    handled_window = result["handled_in_window"]
    total = sum(handling_cpu)
    result["handled_per_cpu_s_while_handling"] = handled_window / total if total > 0 else None
    return result


def cpu_at(samples: Sequence[tuple[float, list[float]]], moment: float) -> list[float]:
    """Each process's CPU seconds at `moment`, from the samples around it (linearly)."""
    after = next((i for i, (at, _) in enumerate(samples) if at >= moment), len(samples) - 1)
    if after == 0:
        return list(samples[0][1])
    (t1, c1), (t2, c2) = samples[after - 1], samples[after]
    share = 0.0 if t2 <= t1 else min(1.0, max(0.0, (moment - t1) / (t2 - t1)))
    return [a + (b - a) * share for a, b in zip(c1, c2, strict=True)]


# ---------------------------------------------------------------- the figures


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """Nearest-rank percentile (None when there are no values)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(fraction * len(ordered))))
    return ordered[rank - 1]


def spread(values: Sequence[float]) -> dict[str, Any]:
    return {"n": len(values), "p50": percentile(values, 0.5), "p99": percentile(values, 0.99),
            "max": max(values) if values else None}


def figures(spec: Spec, args: argparse.Namespace, posts: Sequence[Post],
            records: Sequence[Record], stored: Stored, t0: float, settled: bool, wall: float,
            cpu: float, own: float, load_before: Sequence[float],
            logs: Sequence[Any]) -> dict[str, Any]:
    lost: Counter[str] = Counter()
    doubled: Counter[str] = Counter()

    # Stored rows, by the message each one is (senders are unique; staff by message id).
    rows: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for r in stored.inbound:
        rows[(r.channel, r.msg_id if r.channel == "wecom_app" else r.sender_id)].append(r)
    created: dict[int, list[Any]] = defaultdict(list)
    for t in stored.tickets:
        created[t.source_message_id].append(t)
    follows: Counter[str] = Counter(f.actor for f in stored.follows)

    # What the fakes received: first reply per mentioned sender, per ticket, per recipient.
    first_mention: dict[tuple[str | None, str], float] = {}
    # Group posts that mention nobody (a dispute's), by the ticket they name first.
    naming: dict[tuple[str | None, int], list[tuple[float, str]]] = defaultdict(list)
    unnamed: dict[str | None, list[tuple[float, str]]] = defaultdict(list)  # e.g. refusals
    first_oa: dict[str, float] = {}
    cards: dict[int, list[float]] = defaultdict(list)
    staff_texts: list[tuple[float, int, str, str]] = []
    deliveries: Counter[str] = Counter()
    repeated = Counter()
    for rec in sorted(records, key=lambda r: r.at):
        if rec.duplicate:
            repeated[rec.kind] += 1
            continue
        numbers = [int(n) for n in NUMBER.findall(rec.text)]
        if rec.kind == "bridge":
            if rec.delivery:
                deliveries[rec.delivery] += 1
            for m in rec.to:
                first_mention.setdefault((rec.chat, m), rec.at)
            if not rec.to and numbers:
                naming[(rec.chat, numbers[0])].append((rec.at, rec.text))
            elif not rec.to:
                unnamed[rec.chat].append((rec.at, rec.text))
        elif rec.kind == "oa":
            for m in rec.to:
                first_oa.setdefault(m, rec.at)
        elif rec.kind == "card":
            found = TASK_TITLE.match(rec.text)
            if found:
                cards[int(found.group(3))].append(rec.at)
        elif rec.kind == "text":
            staff_texts.extend((rec.at, 1, user, rec.text) for user in rec.to)

    # Staff commands and the texts staff received, in the order they happened.
    matcher = StaffAnswers()
    staff_reply: dict[int, float] = {}
    events: list[tuple[float, int, Any, Any]] = [
        (p.sent_at, 0, p, None) for p in posts
        if p.channel == "wecom_app" and p.ticket is not None and p.sent_at is not None]
    events += [(at, order, user, text) for at, order, user, text in staff_texts]
    for at, order, who, text in sorted(events, key=lambda e: (e[0], e[1])):
        if order == 0:
            matcher.sent(who.sender, who.ticket, who)
        else:
            command = matcher.answer(who, text)
            if command is not None:
                staff_reply[id(command)] = at
    if matcher.twice:
        doubled["staff answered more than once"] += matcher.twice

    outcomes: Counter[str] = Counter()
    reply_ms: dict[str, list[float]] = defaultdict(list)
    push_ms: list[float] = []
    handled_at: list[tuple[float, Post]] = []
    stored_n = handled_n = failed_n = 0
    last_answered: Post | None = None
    last_reply_at = 0.0
    reply_of: dict[int, float] = {}
    examples: list[str] = []
    for p in posts:
        if not p.accepted:
            continue
        key = (p.channel, p.msg_id if p.channel == "wecom_app" else p.sender)
        found = rows.get(key, [])
        if not found:
            lost["answered 2xx, not stored"] += 1
            examples.append(f"not stored: {p.kind} {p.channel} {p.msg_id}")
            continue
        stored_n += 1
        if len(found) > 1:
            doubled["stored more than once"] += len(found) - 1
        row = found[0]
        if row.status not in ("done", "failed") or row.processed_at is None:
            lost["stored, not handled"] += 1
            examples.append(f"not handled: {p.kind} {p.channel} {p.msg_id} ({row.status})")
            continue
        if row.status == "failed":
            failed_n += 1
            lost["handled: failed"] += 1
        handled_n += 1
        handled_at.append((row.processed_at.timestamp(), p))
        outcome = row.outcome or "-"
        outcomes[outcome] += 1
        tickets = created.get(row.id, [])
        n_follows = follows.get(p.name or p.sender, 0) if p.planned else 0
        if len(tickets) + n_follows > 1:
            doubled["handled more than once"] += 1
        if outcome == "ignored":
            continue
        if p.planned and (last_answered is None
                          or (p.answered_at or 0) > (last_answered.answered_at or 0)):
            last_answered = p  # the last resident's message answered that gets a reply
        # The reply to the sender.
        at: float | None = None
        if p.channel == "bridge":
            at = first_mention.get((p.chat, p.sender))
            if at is None:  # about a dispute: its report's answer, or a 查询's status line
                number = tickets[0].id if tickets else p.ticket
                start = "#" if p.kind == "查询" else "已收到"
                at = next((t for t, text in naming.get((p.chat, number or -1), ())
                           if t >= (p.sent_at or 0.0) and text.startswith(start)), None)
            if at is None and p.kind == "查询":  # refused about a dispute: it names nothing
                refusals = unnamed.get(p.chat, [])
                i = next((i for i, (t, text) in enumerate(refusals)
                          if t >= (p.sent_at or 0.0) and text.startswith("抱歉")), None)
                if i is not None:
                    at = refusals.pop(i)[0]
        elif p.channel == "wechat":
            at = first_oa.get(p.sender)
        else:
            at = staff_reply.get(id(p))
        if at is None:
            lost["no reply"] += 1
            examples.append(f"no reply: {p.kind} {p.channel} {p.msg_id} {p.text[:24]!r} "
                            f"({outcome})")
        else:
            assert p.answered_at is not None
            group = ("residents" if p.planned else
                     "queries" if p.kind == "查询" else "staff")
            reply_ms[group].append((at - p.answered_at) * 1000)
            reply_of[id(p)] = at
            if p.planned:
                last_reply_at = max(last_reply_at, at)
        for t in tickets:
            if t.category != "wish":
                times = cards.get(t.id, [])
                if times and p.answered_at is not None:
                    push_ms.append((times[0] - p.answered_at) * 1000)
    for t in stored.tickets:
        n = len(cards.get(t.id, ()))
        if t.category != "wish" and n == 0:
            lost["ticket without a task card"] += 1
        elif n > 1:
            doubled["task card more than once"] += n - 1
    for o in stored.outbox:
        if o.status != "sent":
            lost[f"outbox row {o.status}"] += 1
        elif o.transport == "bridge" and deliveries.get(f"gridbot-{o.id}", 0) == 0:
            lost["bridge row sent, never received"] += 1
    for kind, n in repeated.items():
        doubled[f"{kind} delivery repeated"] += n

    accepted = [p for p in posts if p.accepted]
    planned = [p for p in posts if p.planned]
    answered_planned = [p.answered_at for p in planned if p.accepted and p.answered_at]
    t_post_end = max(answered_planned) if answered_planned else t0
    intake_n = sum(1 for p in accepted if p.answered_at and p.answered_at <= t_post_end)
    intake_s = t_post_end - t0
    handled_planned = [at for at, p in handled_at if p.planned]
    t_handled_end = max(handled_planned) if handled_planned else t0
    handled_window = sum(1 for at, _ in handled_at if at <= t_handled_end)
    handling_s = t_handled_end - t0
    intake_rate = intake_n / intake_s if intake_s > 0 else None
    handled_by_last_answer = sum(1 for at, _ in handled_at if at <= t_post_end)
    drain_s = t_handled_end - t_post_end
    handled_rate = handled_window / handling_s if handling_s > 0 else None
    all_replies = [v for values in reply_ms.values() for v in values]

    result: dict[str, Any] = {
        "database": spec.database, "processes": spec.processes, "shape": spec.shape,
        "offered": ({"rate": args.rate, "seconds": args.seconds} if spec.shape == "steady"
                    else {"burst": args.burst, "clients": args.clients}),
        "messages_in": {"residents": len(planned),
                        "staff": sum(1 for p in posts if p.channel == "wecom_app"),
                        "queries": sum(1 for p in posts if p.kind == "查询"),
                        "total": len(posts)},
        "residents_by_kind": dict(Counter(p.kind for p in planned)),
        "residents_by_channel": dict(Counter(p.channel for p in planned)),
        "answered": dict(sorted(Counter(str(p.status) for p in posts).items())),
        "retried": sum(1 for p in posts if p.attempts > 1),
        "stored": stored_n, "handled": handled_n, "failed": failed_n,
        "outcomes": dict(outcomes.most_common()),
        "tickets": len(stored.tickets),
        "tickets_by_category": dict(Counter(t.category for t in stored.tickets)),
        "follows": len(stored.follows),
        "outbox": dict(Counter(o.status for o in stored.outbox)),
        "outbox_tried_more_than_once": sum(1 for o in stored.outbox if (o.attempts or 0) > 1),
        "received_by_fakes": dict(Counter(r.kind for r in records)),
        "intake_s": intake_s, "intake_per_s": intake_rate,
        "handling_s": handling_s, "handled_per_s": handled_rate,
        "handled_in_window": handled_window,
        "ratio_handled_to_intake": (handled_rate / intake_rate
                                    if handled_rate and intake_rate else None),
        "handled_by_last_answer": handled_by_last_answer,
        "backlog_at_last_answer": intake_n - handled_by_last_answer,
        "drain_s": drain_s,
        "drain_per_s": ((handled_window - handled_by_last_answer) / drain_s
                        if drain_s > 0 else None),
        "reply_ms": spread(all_replies),
        "reply_ms_by_sender": {k: spread(v) for k, v in sorted(reply_ms.items())},
        "push_ms": spread(push_ms),
        "lost": dict(lost), "lost_total": sum(lost.values()), "lost_examples": examples[:10],
        "doubled": dict(doubled), "doubled_total": sum(doubled.values()),
        "settled": settled, "wall_s": wall,
        "last_handled_s": max((at for at, _ in handled_at), default=t0) - t0,
        "last_received_s": max((r.at for r in records), default=t0) - t0,
        "gridbot_cores": cpu / wall if wall > 0 else None,
        "gridbot_cpu_s": cpu,
        "handled_per_gridbot_cpu_s": handled_n / cpu if cpu > 0 else None,
        "bench_cores": own / wall if wall > 0 else None,
        "loadavg_before": list(load_before), "loadavg_after": list(os.getloadavg()),
        "server_log": {"errors": sum(len(x.errors) for x in logs),
                       "tracebacks": sum(x.tracebacks for x in logs),
                       "database_locked": sum(x.locked for x in logs),
                       "first_errors": [e[:200] for x in logs for e in x.errors][:5]},
    }
    if spec.shape == "burst" and last_answered is not None:
        at = reply_of.get(id(last_answered))
        result["burst"] = {
            "posted_s": intake_s,
            "last_message_kind": last_answered.kind,
            "last_message_reply_s": (at - last_answered.answered_at
                                     if at is not None and last_answered.answered_at else None),
            "last_reply_after_last_answer_s": (last_reply_at - t_post_end
                                               if last_reply_at else None),
        }
    return result


def _ms(value: float | None) -> str:
    return "-" if value is None else (f"{value / 1000:.1f}s" if value >= 10_000 else
                                      f"{value:.0f}ms")


def _num(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def describe(r: dict[str, Any]) -> str:
    m = r["messages_in"]
    lines = [
        f"  in: {m['total']} ({m['residents']} residents {r['residents_by_kind']}, "
        f"{r['residents_by_channel']}; {m['staff']} staff commands, {m['queries']} 查询)",
        f"  answered {r['answered']} (retried {r['retried']}); stored {r['stored']}, "
        f"handled {r['handled']} (failed {r['failed']}); decisions {r['outcomes']}",
        f"  tickets {r['tickets']} {r['tickets_by_category']}, follows {r['follows']}; "
        f"outbox {r['outbox']} ({r['outbox_tried_more_than_once']} tried more than once); "
        f"fakes received {r['received_by_fakes']}",
        f"  intake {_num(r['intake_per_s'])}/s over {r['intake_s']:.1f}s; handled "
        f"{_num(r['handled_per_s'])}/s over {r['handling_s']:.1f}s; ratio handled/intake "
        f"{_num(r['ratio_handled_to_intake'], 2)}",
        f"  handled {r['handled_by_last_answer']} by the last answer (backlog "
        f"{r['backlog_at_last_answer']}), then {_num(r['drain_per_s'])}/s for "
        f"{r['drain_s']:.1f}s",
    ]
    rep = r["reply_ms"]
    by = "; ".join(f"{k} p50 {_ms(v['p50'])} p99 {_ms(v['p99'])} (n {v['n']})"
                   for k, v in r["reply_ms_by_sender"].items())
    lines.append(f"  message → reply p50 {_ms(rep['p50'])}, p99 {_ms(rep['p99'])}, max "
                 f"{_ms(rep['max'])} (n {rep['n']}: {by})")
    push = r["push_ms"]
    lines.append(f"  message → task card p50 {_ms(push['p50'])}, p99 {_ms(push['p99'])}, "
                 f"max {_ms(push['max'])} (n {push['n']})")
    if "burst" in r:
        b = r["burst"]
        lines.append(
            f"  burst posted in {b['posted_s']:.1f}s; its last message ({b['last_message_kind']})"
            f" replied {_num(b['last_message_reply_s'], 1)}s after its answer; the last reply "
            f"came {_num(b['last_reply_after_last_answer_s'], 1)}s after the last answer")
    lines.append(f"  lost {r['lost_total']} {r['lost'] or ''}; doubled {r['doubled_total']} "
                 f"{r['doubled'] or ''}; {'settled' if r['settled'] else 'NOT SETTLED'} "
                 f"after {r['wall_s']:.1f}s (last message handled at {r['last_handled_s']:.1f}s,"
                 f" last reply or push received at {r['last_received_s']:.1f}s)")
    lines.extend(f"    {e}" for e in r["lost_examples"][:5])
    log = r["server_log"]
    lines.append(
        f"  gridbot used {_num(r['gridbot_cores'], 2)} cores ({r['gridbot_cpu_s']:.0f} CPU s, "
        f"{_num(r['handled_per_gridbot_cpu_s'])} messages handled per CPU s), this process "
        f"{_num(r['bench_cores'], 2)}; load average {r['loadavg_before'][0]:.1f} → "
        f"{r['loadavg_after'][0]:.1f}; server logs: {log['errors']} errors, "
        f"{log['tracebacks']} tracebacks, {log['database_locked']} 'database is locked'")
    window = r["handling_window_cpu_s_by_role"]
    lines.append(
        f"  while handling (to the residents' last message, {r['handling_s']:.1f}s): "
        f"{r['handled_in_window']} handled, {sum(window.values()):.1f} CPU s, "
        f"{_num(r['handled_per_cpu_s_while_handling'])} messages handled per CPU s")
    if r.get("split"):
        roles = r["gridbot_cpu_s_by_role"]
        lines.append("  by role: " + "; ".join(
            f"{role} {seconds:.1f} CPU s ({_num(r['messages_in']['total'] / seconds if role == 'web' else r['handled'] / seconds)} messages per CPU s)"
            for role, seconds in roles.items() if seconds > 0))
        lines.append("  by role while handling: " + "; ".join(
            f"{role} {seconds:.1f} CPU s" + ("" if role == "web" else
                                             f" ({_num(r['handled_in_window'] / seconds)} handled per CPU s)")
            for role, seconds in window.items() if seconds > 0))
    lines.extend(f"    {e}" for e in log["first_errors"][:3])
    return "\n".join(lines)


def table(runs: Sequence[dict[str, Any]]) -> str:
    head = (f"{'database':<11}{'proc':>4} {'shape':<7}{'in':>6}{'handled':>8}{'intake/s':>9}"
            f"{'handled/s':>10}{'ratio':>6}{'p50':>8}{'p99':>8}{'max':>8}{'last':>7}"
            f"{'lost':>5}{'doubled':>8}")
    lines = [head]
    for r in runs:
        if "error" in r:
            lines.append(f"{r['database']:<11}{r['processes']:>4} {r['shape']:<7}  "
                         f"failed: {r['error'][:80]}")
            continue
        last = r.get("burst", {}).get("last_message_reply_s")
        proc = f"{r['processes']}+{r['processes']}" if r.get("split") else str(r["processes"])
        lines.append(
            f"{r['database']:<11}{proc:>4} {r['shape']:<7}{r['messages_in']['total']:>6}"
            f"{r['handled']:>8}{_num(r['intake_per_s']):>9}{_num(r['handled_per_s']):>10}"
            f"{_num(r['ratio_handled_to_intake'], 2):>6}{_ms(r['reply_ms']['p50']):>8}"
            f"{_ms(r['reply_ms']['p99']):>8}{_ms(r['reply_ms']['max']):>8}"
            f"{(_num(last, 1) + 's') if last is not None else '-':>7}{r['lost_total']:>5}"
            f"{r['doubled_total']:>8}")
    return "\n".join(lines)


# ---------------------------------------------------------------- the whole benchmark


def environment() -> dict[str, Any]:
    cpu = platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                                  timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    return {"cpu": cpu, "cpu_count": os.cpu_count(), "loadavg": list(os.getloadavg()),
            "python": platform.python_version(), "platform": platform.platform(),
            "commit": git("rev-parse", "--short", "HEAD"),
            "modified": [line[3:] for line in git("status", "--porcelain").splitlines()
                         if not line.startswith("??")]}


def specs(args: argparse.Namespace) -> tuple[list[Spec], list[str]]:
    out, skipped = [], []
    for database in args.database:
        for n in args.processes:
            if database == "sqlite" and n > 1:
                skipped.append(f"sqlite ×{n}: SQLite is one process's database")
                continue
            if database == "sqlite" and args.split:
                skipped.append(f"sqlite ×{n} split: web and worker processes share Redis, "
                               "which the SQLite runs go without")
                continue
            for shape in args.shape:
                out.append(Spec(database, n, shape, args.split))
    return out, skipped


async def benchmark(args: argparse.Namespace, workdir: Path, keep: list[Any],
                    say: Any) -> dict[str, Any]:
    from nlu import get_model

    await asyncio.to_thread(get_model, workdir / "var" / "models")  # trained once, copied
    estate = Estate(workdir, history=not args.no_history)
    keep.append(estate)
    todo, skipped = specs(args)
    for note in skipped:
        say(f"skipped {note}")
    runs: list[dict[str, Any]] = []
    for index, spec in enumerate(todo, start=1):
        say(f"\n== {spec.label}: " + (f"{args.rate}/s for {args.seconds}s"
                                      if spec.shape == "steady" else
                                      f"{args.burst} messages from {args.clients} clients"))
        try:
            result = await run_one(spec, args, estate, workdir, index, keep)
        except (RuntimeError, OSError, subprocess.SubprocessError, aiohttp.ClientError,
                TimeoutError) as exc:
            say(f"  run failed: {exc}")
            runs.append({"database": spec.database, "processes": spec.processes,
                         "shape": spec.shape, "error": str(exc)})
            continue
        say(describe(result))
        runs.append(result)
    say("\n" + table(runs))
    return {"runs": runs, "skipped": skipped}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    def names(allowed: Sequence[str]) -> Any:
        def parse(text: str) -> list[str]:
            values = [v.strip() for v in text.split(",") if v.strip()]
            wrong = [v for v in values if v not in allowed]
            if not values or wrong:
                raise argparse.ArgumentTypeError(f"choose from {', '.join(allowed)}")
            return values
        return parse

    def counts(text: str) -> list[int]:
        try:
            values = [int(v) for v in text.split(",") if v.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError("numbers separated by commas") from None
        if not values or not all(1 <= v <= 16 for v in values):
            raise argparse.ArgumentTypeError("between 1 and 16 processes")
        return values

    parser = argparse.ArgumentParser(
        description="Post a realistic mix of signed, encrypted group messages and staff "
                    "commands to gridbot serve processes; print how fast they are handled, "
                    "message → reply latency and the ratio to the intake rate.")
    parser.add_argument("--database", type=names(("sqlite", "postgresql")),
                        default=["sqlite", "postgresql"],
                        help="sqlite, postgresql or both, comma-separated (both)")
    parser.add_argument("--processes", type=counts, default=[1, 2, 4],
                        help="gridbot processes per run, comma-separated (1,2,4; SQLite: 1)")
    parser.add_argument("--shape", type=names(("steady", "burst")), default=["steady", "burst"],
                        help="steady, burst or both (both)")
    parser.add_argument("--rate", type=float, default=200.0,
                        help="residents' messages a second in a steady run (200)")
    parser.add_argument("--seconds", type=float, default=10.0,
                        help="length of a steady run in seconds (10)")
    parser.add_argument("--burst", type=int, default=3000, help="messages in a burst (3000)")
    parser.add_argument("--clients", type=int, default=16,
                        help="clients posting residents' messages (16)")
    parser.add_argument("--staff-clients", type=int, default=4,
                        help="clients posting staff commands and queries (4)")
    parser.add_argument("--oa-share", type=float, default=0.1,
                        help="share of residents writing to the Official Account (0.1)")
    parser.add_argument("--settle-timeout", type=float, default=300.0,
                        help="seconds to wait, after the last post, for every message to be "
                             "handled and every reply sent (300)")
    parser.add_argument("--seed", type=int, default=20261129, help="seed of the mix")
    parser.add_argument("--split", action="store_true",
                        help="PostgreSQL: N `--role web` processes taking the posts and N "
                             "`--role worker` processes handling and sending, instead of N "
                             "`--role all`; prints each role's CPU")
    parser.add_argument("--no-history", action="store_true",
                        help="load the demo estate without last month's tickets")
    parser.add_argument("--json", metavar="FILE", help="save the results as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the work directory and logs")
    parser.add_argument("--serve-fakes", metavar="PORT_FILE", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not 1 <= args.rate <= 100_000 or not 1 <= args.seconds <= 3600:
        parser.error("--rate must be 1..100000 and --seconds 1..3600")
    if not 1 <= args.burst <= 1_000_000 or not 1 <= args.clients <= 512 \
            or not 1 <= args.staff_clients <= 64:
        parser.error("--burst 1..1000000, --clients 1..512, --staff-clients 1..64")
    if not 0 <= args.oa_share <= 1 or not 1 <= args.settle_timeout <= 7200:
        parser.error("--oa-share 0..1, --settle-timeout 1..7200")
    return args


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def cleanup(keep: Sequence[Any]) -> None:
    """Synchronous last resort: stop whatever a run left (processes, fakes, Redis, PostgreSQL)."""
    for thing in reversed(keep):
        with contextlib.suppress(Exception):
            if hasattr(thing, "close") and hasattr(thing, "alive"):
                thing.close()  # GridbotProcess
            elif isinstance(thing, Fakes):
                thing.stop()
            elif hasattr(thing, "stop") and hasattr(thing, "binary"):
                thing.stop()  # PrivateRedis
            elif isinstance(thing, Estate):
                thing.close()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve_fakes:
        return serve_fakes(Path(args.serve_fakes))

    def say(text: str) -> None:
        print(text, flush=True)

    env = environment()
    say(f"gridbot pipeline benchmark on {env['cpu']} ({env['cpu_count']} CPUs, load "
        f"{env['loadavg'][0]:.1f} {env['loadavg'][1]:.1f} {env['loadavg'][2]:.1f}; a shared "
        f"machine), Python {env['python']}, code {env['commit']}"
        + (f" with {len(env['modified'])} modified files" if env["modified"] else ""))
    signal.signal(signal.SIGTERM, _terminate)
    workdir = Path(tempfile.mkdtemp(prefix="gridbot-pipeline-"))
    keep: list[Any] = []
    result: dict[str, Any] | None = None
    try:
        result = asyncio.run(benchmark(args, workdir, keep, say))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        print(f"pipeline: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        cleanup(keep)
        if args.keep:
            print(f"work directory kept: {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
        if args.json and result is not None:
            settings = {k: v for k, v in vars(args).items() if k not in ("json", "serve_fakes")}
            Path(args.json).write_text(json.dumps(
                {"environment": env, "settings": settings, **result}, ensure_ascii=False,
                indent=2, default=str))
            print(f"results saved to {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
