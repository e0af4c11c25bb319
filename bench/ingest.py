"""Ingest benchmark: how fast gridbot takes in Official Account messages, next to WeRoBot.

    .venv/bin/python bench/ingest.py [--messages 5000] [--concurrency 16] [--rounds 3]
                                     [--database-url URL] [--werobot-sessions] [--json]

Posts N signed, AES-encrypted (safe mode) Official Account text messages to gridbot's
`POST /wechat` and, in the same run, the same messages to a WeRoBot bot served by waitress
(sessions off, answering each text; bench/werobot_app.py). The two alternate for several
rounds and the summary takes medians, because a shared machine is noisy.

gridbot answers `success` only after the message is committed to its database (group
commit); WeRoBot stores nothing. After each gridbot leg the benchmark checks that every
message answered 200 is in `inbound_messages`, then waits until gridbot has processed the
backlog (NLU, tickets, replies through a local fake of the Official Account API) so that
the next leg has the machine to itself.

Throughput is messages answered correctly per second of wall time; time-to-answer runs from
sending the request to reading the whole response, as seen by this process (on the same
machine, so it includes the load generator's own queueing).

Everything runs on 127.0.0.1; every loop is bounded in count and time; the servers started
here are stopped at the end, also on an error or Ctrl-C.
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
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlencode

import aiohttp
from yarl import URL

from bot.channels.wechat_side import (
    decrypt_xml_reply,
    oa_text_fields,
    official_account_request,
    official_account_verify_query,
)

THIS = Path(__file__).resolve()
ROOT = THIS.parents[1]
HERE = THIS.parent

# The Official Account both servers stand in for. The AES key is the example from WeChat's docs.
TOKEN = "gridbot-bench-token"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
APPID = "wxgridbotoa"  # what the fake API (tests/fakes/wecom_server.py) knows
APP_SECRET = "oa-app-secret"
OA_ACCOUNT = "gh_3f2a9c81d0e7"
CORP_ID = "wwgridbotcorp"
CORP_SECRET = "wecom-app-secret"
AGENT_ID = "1000002"
ADMIN_TOKEN = "bench-admin-token"

GRIDBOT_TARGET_RATE = 1000.0  # messages/s on SQLite
GRIDBOT_TARGET_P99_MS = 50.0
WARMUP_MESSAGES = 200
REQUEST_TIMEOUT = 30.0
START_TIMEOUT = 180.0
RESIDENTS = 600
MAX_LIFETIME_S = 6 * 3600.0  # helper servers give up even if nobody stops them

_FACILITY_TEXTS = (
    "{b}号楼电梯又坏了，停在{f}楼不动，老人上不去",
    "{b}栋{u}单元的楼道灯坏了好几天了，晚上黑漆漆的",
    "{b}号楼{f}楼水管漏水，楼下天花板都湿了，麻烦尽快派人来看看",
    "{b}号楼门禁刷卡没反应，外卖员天天在门口等",
    "我家厨房下水道堵了，{b}号楼{u}单元{f}0{u}，物业能来通一下吗",
    "{b}号楼顶楼渗水，下雨天墙皮一块块往下掉",
    "{b}栋地下车库的道闸抬不起来了，车都堵在外面",
    "{b}号楼单元门的对讲机坏了，按了没声音",
    "{b}号楼楼下的井盖松了，踩上去咣当响，小孩跑来跑去很危险",
    "{b}号楼{u}单元消防栓的玻璃碎了，也没人管",
)
_COMPLAINT_TEXTS = (
    "{b}号楼楼下烧烤摊晚上十二点还在营业，油烟大又吵，睡不着觉",
    "{b}号楼{f}楼有人天天半夜装修，电钻声吵死了",
    "小区里遛狗不牵绳，{b}号楼门口全是狗屎，没人管吗",
    "{b}栋楼道里堆满了杂物和纸箱，消防通道都堵了",
    "{b}号楼旁边垃圾桶好几天没清了，臭得不行，苍蝇乱飞",
    "有人在{b}号楼楼下的绿地上种菜，还泼粪，味道太大了",
    "{b}号楼门口的共享单车乱停，轮椅都过不去",
)
_DISPUTE_TEXTS = (
    "楼上{f}01的邻居天天往阳台外面晾衣服，水滴到我家窗台上，说了也不听",
    "{b}号楼{u}单元的邻居把电动车推进楼道充电，我们劝了还吵起来了",
    "我和对门因为鞋柜放在公共走廊的事吵了好几次，想请网格员来调解一下",
    "楼下说我家漏水要我赔钱，可我家根本没漏，{b}号楼{f}楼，能不能来评评理",
)
_WISH_TEXTS = (
    "{b}号楼有位独居的老人腿脚不便，想请志愿者帮忙每周买一次菜",
    "希望小区里能多装几个长椅，老人散步走累了没地方坐",
    "孩子放学没人接，能不能在{b}号楼附近搞个四点半课堂",
    "能不能在{b}号楼门口加个无障碍坡道，推轮椅太难了",
)
_CHATTER_TEXTS = (
    "你好，请问物业办公室几点上班？",
    "谢谢你们昨天这么快就修好了！",
    "请问这个月的物业费在哪里交",
    "小区的快递柜放在哪里了",
    "收到，辛苦了",
    "在吗",
)


@dataclass
class Message:
    """One Official Account text message; encrypted afresh before each leg."""

    msg_id: int
    openid: str
    text: str


@dataclass
class Leg:
    """One pass of all of a round's messages against one server."""

    server: str
    round: int
    sent: int = 0
    ok: int = 0
    non_200: int = 0
    wrong_body: int = 0
    errors: int = 0
    unsent: int = 0
    wall_s: float = 0.0
    rate: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    server_cores: float | None = None
    client_cores: float | None = None
    statuses: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    # gridbot legs: the durability check and the processing afterwards
    stored: int | None = None
    stored_of_answered: int | None = None
    processed_done: int | None = None
    processed_failed: int | None = None
    processed_s: float | None = None  # after the leg, until no stored message was waiting
    drain_s: float | None = None  # after the leg, until the outbox had tried every row too
    drained: bool | None = None
    processing_rate: float | None = None  # messages handled per second, leg start to handled


@dataclass
class Server:
    name: str
    url: str  # where messages are posted, without the query
    kind: str  # "gridbot" or "werobot"
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid if self.proc is not None else 0

    def check_alive(self) -> None:
        """Raise RuntimeError (with the end of its log) when the server has exited."""
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(
                f"{self.name} (pid {self.proc.pid}) exited with {self.proc.returncode}; "
                f"the end of its log:\n{log_tail(self.log_path)}"
            )


# -- messages ---------------------------------------------------------------------------------


def resident_texts(rng: random.Random) -> Iterator[str]:
    """An endless, varied stream of what residents write to a community's Official Account."""
    pools = (
        (_FACILITY_TEXTS, 4),
        (_COMPLAINT_TEXTS, 3),
        (_DISPUTE_TEXTS, 1),
        (_WISH_TEXTS, 1),
        (_CHATTER_TEXTS, 1),
    )
    templates = [t for pool, weight in pools for t in pool for _ in range(weight)]
    tails = ("", "", "", "，谢谢", "！", "，急！", "[捂脸]", "，麻烦了", "。")
    while True:
        text = rng.choice(templates).format(
            b=rng.randint(1, 24), u=rng.randint(1, 4), f=rng.randint(2, 26)
        )
        yield text + rng.choice(tails)


def make_messages(count: int, first_msg_id: int, rng: random.Random) -> list[Message]:
    texts = resident_texts(rng)
    return [
        Message(
            first_msg_id + i,
            f"oBench{rng.randrange(RESIDENTS):04d}Xq7Kp2Lm9Nw4Rt6Vy",
            next(texts),
        )
        for i in range(count)
    ]


def encrypt_messages(messages: Sequence[Message]) -> list[tuple[str, bytes]]:
    """Each message as WeChat would push it in safe mode: (query string, XML body)."""
    now = int(time.time())
    out = []
    for m in messages:
        fields = oa_text_fields(m.openid, m.text, msg_id=m.msg_id, create_time=now,
                                to_user=OA_ACCOUNT)
        query, body = official_account_request(TOKEN, AES_KEY, APPID, fields, timestamp=now)
        out.append((urlencode(query), body))
    return out


# -- processes --------------------------------------------------------------------------------


class Processes:
    """The subprocesses this benchmark starts; `stop_all` ends every one of them."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._running: list[tuple[str, subprocess.Popen[bytes], IO[bytes]]] = []

    def start(self, name: str, argv: Sequence[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = (self.workdir / f"{name}.log").open("wb")
        proc = subprocess.Popen(
            list(argv), cwd=self.workdir, env=env, stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )
        self._running.append((name, proc, log))
        return proc

    def log_path(self, name: str) -> Path:
        return self.workdir / f"{name}.log"

    def stop_all(self) -> None:
        for _name, proc, _log in self._running:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10.0
        for _name, proc, log in self._running:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=5.0)
            log.close()
        self._running.clear()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def log_tail(path: Path | None, lines: int = 30) -> str:
    if path is None or not path.is_file():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process (Linux /proc), None where unavailable."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def gridbot_command() -> list[str]:
    script = Path(sys.executable).parent / "gridbot"
    if script.is_file():
        return [str(script)]
    found = shutil.which("gridbot")
    return [found] if found else [sys.executable, "-m", "bot.cli"]


def base_env() -> dict[str, str]:
    """This process's environment without any GRIDBOT_* setting of the caller's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDBOT_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def gridbot_env(database_url: str, var_dir: Path, port: int, api_base: str) -> dict[str, str]:
    env = base_env()
    env.update({
        "GRIDBOT_DATABASE_URL": database_url,
        "GRIDBOT_VAR_DIR": str(var_dir),
        "GRIDBOT_HOST": "127.0.0.1",
        "GRIDBOT_PORT": str(port),
        "GRIDBOT_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "GRIDBOT_ADMIN_TOKEN": ADMIN_TOKEN,
        "GRIDBOT_SIMULATOR": "0",
        "GRIDBOT_WECHAT_TOKEN": TOKEN,
        "GRIDBOT_WECHAT_AES_KEY": AES_KEY,
        "GRIDBOT_WECHAT_APPID": APPID,
        "GRIDBOT_WECHAT_SECRET": APP_SECRET,
        "GRIDBOT_WECHAT_API_BASE": api_base,
        # Pushes to grid workers (demo estate) go to the same fake, as WeCom app messages.
        "GRIDBOT_WECOM_CORP_ID": CORP_ID,
        "GRIDBOT_WECOM_AGENT_ID": AGENT_ID,
        "GRIDBOT_WECOM_SECRET": CORP_SECRET,
        "GRIDBOT_WECOM_API_BASE": api_base,
    })
    return env


def run_gridbot_command(args: Sequence[str], env: dict[str, str], cwd: Path) -> None:
    done = subprocess.run(
        [*gridbot_command(), *args], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
        capture_output=True, text=True, timeout=START_TIMEOUT, check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"gridbot {' '.join(args)} failed:\n{done.stdout}{done.stderr}")


def wait_for_file(path: Path, proc: subprocess.Popen[bytes], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.is_file() and (text := path.read_text().strip()):
            return text
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    raise RuntimeError(f"{path.name} did not appear within {timeout:.0f} s")


# -- the fake Official Account / WeCom API (runs in its own process) ---------------------------


def serve_fake_api(port_file: Path) -> int:
    """Serve tests/fakes' FakeWeCom on a random port until the parent process goes away."""
    sys.path.insert(0, str(ROOT))
    from aiohttp import web

    from tests.fakes.wecom_server import MESSAGE_SEND, OA_CUSTOM_SEND, FakeWeCom

    class BenchFake(FakeWeCom):
        """Counts what it accepted and keeps only recent records, so memory stays flat."""

        def __init__(self) -> None:
            super().__init__(corp_id=CORP_ID, corp_secret=CORP_SECRET, agent_id=int(AGENT_ID),
                             appid=APPID, app_secret=APP_SECRET)
            self.accepted: Counter[str] = Counter()

        def routes(self) -> list[web.RouteDef]:
            return [*super().routes(), web.get("/_bench/stats", self._stats)]

        def _record(self, request: web.Request, data: dict[str, Any]) -> dict[str, Any]:
            entry = super()._record(request, data)
            self.accepted[request.path] += 1
            if len(self.messages) > 2000:
                del self.messages[:1000]
            if len(self.requests) > 2000:
                del self.requests[:1000]
            return entry

        async def _stats(self, request: web.Request) -> web.Response:
            return web.json_response({
                "oa_custom_send": self.accepted[OA_CUSTOM_SEND],
                "wecom_message_send": self.accepted[MESSAGE_SEND],
                "accepted": sum(self.accepted.values()),
            })

    async def run() -> None:
        parent = os.getppid()
        fake = BenchFake()
        await fake.start()
        await asyncio.to_thread(port_file.write_text, str(fake.port))
        try:
            for _ in range(int(MAX_LIFETIME_S)):
                if os.getppid() != parent:
                    break
                await asyncio.sleep(1.0)
        finally:
            await fake.close()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())
    return 0


# -- the load ---------------------------------------------------------------------------------


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values (0.0 when there are none)."""
    if not sorted_values:
        return 0.0
    rank = max(1, min(len(sorted_values), math.ceil(fraction * len(sorted_values))))
    return sorted_values[rank - 1]


def _answer_ok(kind: str, body: bytes) -> bool:
    if kind == "gridbot":
        return body == b"success"
    return body.startswith(b"<xml>") and b"<Encrypt>" in body


async def run_leg(
    server: Server,
    round_no: int,
    requests: Sequence[tuple[str, bytes]],
    msg_ids: Sequence[int],
    concurrency: int,
    timeout_s: float,
) -> tuple[Leg, list[int], list[bytes]]:
    """Post every request once with `concurrency` workers; the ids answered correctly and a
    few reply bodies come back with the figures."""
    leg = Leg(server.name, round_no)
    urls = [URL(f"{server.url}?{query}", encoded=True) for query, _ in requests]
    headers = {"Content-Type": "text/xml; charset=utf-8"}
    latencies: list[float] = []
    answered: list[int] = []
    samples: list[bytes] = []
    statuses: Counter[str] = Counter()
    indexes = iter(range(len(requests)))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s

    async def worker(session: aiohttp.ClientSession) -> None:
        for i in indexes:  # shared: each index goes to exactly one worker
            if loop.time() > deadline:
                leg.unsent += 1
                continue
            leg.sent += 1
            began = time.perf_counter()
            try:
                async with session.post(urls[i], data=requests[i][1], headers=headers) as resp:
                    body = await resp.read()
                    status = resp.status
            except (aiohttp.ClientError, TimeoutError) as exc:
                leg.errors += 1
                statuses[type(exc).__name__] += 1
                continue
            latencies.append((time.perf_counter() - began) * 1000.0)
            statuses[str(status)] += 1
            if status != 200:
                leg.non_200 += 1
            elif not _answer_ok(server.kind, body):
                leg.wrong_body += 1
            else:
                leg.ok += 1
                answered.append(msg_ids[i])
                if len(samples) < 3:
                    samples.append(body)

    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    connector = aiohttp.TCPConnector(limit=concurrency)
    cpu_before = cpu_seconds(server.pid) if server.pid else None
    own_before = time.process_time()
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        began = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        leg.wall_s = time.perf_counter() - began
    own_used = time.process_time() - own_before
    cpu_after = cpu_seconds(server.pid) if server.pid else None
    if cpu_before is not None and cpu_after is not None and leg.wall_s > 0:
        leg.server_cores = (cpu_after - cpu_before) / leg.wall_s
    if leg.wall_s > 0:
        leg.client_cores = own_used / leg.wall_s
        leg.rate = leg.ok / leg.wall_s
    latencies.sort()
    leg.p50_ms = percentile(latencies, 0.50)
    leg.p99_ms = percentile(latencies, 0.99)
    leg.max_ms = latencies[-1] if latencies else 0.0
    leg.statuses = dict(statuses)
    return leg, answered, samples


# -- gridbot's database -----------------------------------------------------------------------


class Database:
    """Read-only looks into gridbot's database: sqlite3 for SQLite, SQLAlchemy otherwise."""

    def __init__(self, url: str) -> None:
        from sqlalchemy.engine import make_url

        parsed = make_url(url)
        self.sqlite_path = parsed.database if parsed.get_backend_name() == "sqlite" else None
        self._engine: Any = None
        if self.sqlite_path is None:
            from storage.db import create_engine

            self._engine = create_engine(url, pool_size=1, max_overflow=0)

    @property
    def is_sqlite(self) -> bool:
        return self.sqlite_path is not None

    def _sqlite(self, sql: str) -> list[tuple[Any, ...]]:
        assert self.sqlite_path is not None
        conn = sqlite3.connect(f"file:{self.sqlite_path}?mode=ro", uri=True, timeout=30.0)
        try:
            return list(conn.execute(sql).fetchall())
        finally:
            conn.close()

    async def rows(self, sql: str) -> list[tuple[Any, ...]]:
        if self._engine is None:
            return await asyncio.to_thread(self._sqlite, sql)
        from sqlalchemy import text

        async with self._engine.connect() as conn:
            return [tuple(r) for r in (await conn.execute(text(sql))).all()]

    async def by_status(self, msg_ids: Sequence[int]) -> Counter[str]:
        """Status of the stored rows among `msg_ids` (the ids are our own integers)."""
        found: Counter[str] = Counter()
        for start in range(0, len(msg_ids), 500):
            chunk = ",".join(f"'{int(i)}'" for i in msg_ids[start:start + 500])
            for status, count in await self.rows(
                "SELECT status, count(*) FROM inbound_messages "
                f"WHERE channel = 'wechat' AND msg_id IN ({chunk}) GROUP BY status"
            ):
                found[str(status)] += int(count)
        return found

    async def backlog(self) -> tuple[int, int]:
        """(inbound messages not yet handled, outbox rows never tried yet)."""
        inbound = await self.rows(
            "SELECT count(*) FROM inbound_messages WHERE status IN ('received', 'processing')"
        )
        outbox = await self.rows(
            "SELECT count(*) FROM outbox WHERE status = 'pending' AND attempts = 0"
        )
        return int(inbound[0][0]), int(outbox[0][0])

    async def close(self) -> None:
        if self._engine is not None:
            await self._engine.dispose()


async def drain(db: Database, server: Server, timeout_s: float) -> tuple[bool, float, float]:
    """Wait until gridbot has handled every stored message and tried every outbox row:
    (drained, seconds until the messages were handled, seconds until the outbox was too)."""
    began = time.monotonic()
    handled_at: float | None = None
    while (elapsed := time.monotonic() - began) < timeout_s:
        server.check_alive()
        inbound, outbox = await db.backlog()
        if inbound == 0 and handled_at is None:
            handled_at = elapsed
        if inbound == 0 and outbox == 0:
            return True, elapsed, elapsed
        await asyncio.sleep(0.25)
    elapsed = time.monotonic() - began
    return False, elapsed if handled_at is None else handled_at, elapsed


# -- orchestration ----------------------------------------------------------------------------


async def wait_until_up(
    session: aiohttp.ClientSession, url: str | URL, proc: subprocess.Popen[bytes], name: str,
    expect: str | None = None,
) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode} while starting")
        try:
            async with session.get(url) as resp:
                text = await resp.text()
                if resp.status == 200 and (expect is None or text == expect):
                    return
        except (aiohttp.ClientError, TimeoutError):
            pass
        await asyncio.sleep(0.2)
    raise RuntimeError(f"{name} did not come up within {START_TIMEOUT:.0f} s")


async def fake_stats(api_base: str) -> dict[str, int]:
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
            async with session.get(f"{api_base}/_bench/stats") as resp:
                return dict(await resp.json())
    except (aiohttp.ClientError, TimeoutError, ValueError):
        return {}


def check_werobot_samples(samples: Sequence[bytes]) -> str | None:
    """Open a few of WeRoBot's encrypted replies; a reason when one is not a proper reply."""
    for body in samples:
        try:
            xml = decrypt_xml_reply(TOKEN, AES_KEY, APPID, body)
        except (ValueError, KeyError) as exc:
            return f"a reply did not decrypt: {exc}"
        if "<MsgType><![CDATA[text]]></MsgType>" not in xml:
            return "a reply is not a text message"
    return None


def exceptions_in_log(path: Path | None) -> Counter[str]:
    """The exceptions a server logged (the last line of each traceback), counted."""
    found: Counter[str] = Counter()
    if path is None or not path.is_file():
        return found
    for line in path.read_text(errors="replace").splitlines():
        name, sep, _ = line.partition(": ")
        if sep and not name.startswith((" ", "\t")) and name.endswith(("Error", "Exception")):
            found[line.strip()[:120]] += 1
    return found


def _top(found: Counter[str]) -> str:
    return "; ".join(f"{n} x {text}" for text, n in found.most_common(3)) or "none"


def absolute_database_url(url: str) -> str:
    """gridbot runs in the work directory: make a relative SQLite path absolute first."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return url
    if database.startswith("file:") or Path(database).is_absolute():
        return url
    return parsed.set(database=str(Path(database).resolve())).render_as_string(
        hide_password=False)


async def benchmark(args: argparse.Namespace, procs: Processes, workdir: Path) -> dict[str, Any]:
    if args.database_url:
        database_url = absolute_database_url(args.database_url)
    else:
        database_url = f"sqlite+aiosqlite:///{workdir / 'gridbot.db'}"
    python = sys.executable

    # The fake Official Account / WeCom API that gridbot's replies go to.
    port_file = workdir / "fake-api.port"
    fake = procs.start("fake-api", [python, str(THIS),
                                    "--serve-fake-api", str(port_file)], base_env())
    api_base = f"http://127.0.0.1:{await asyncio.to_thread(wait_for_file, port_file, fake, 60.0)}"

    # gridbot
    gb_port = free_port()
    env = gridbot_env(database_url, workdir / "var", gb_port, api_base)
    await asyncio.to_thread(run_gridbot_command, ["migrate"], env, workdir)
    if not args.no_demo:
        await asyncio.to_thread(run_gridbot_command, ["demo", "--if-empty"], env, workdir)
    gridbot_proc = procs.start("gridbot", [*gridbot_command(), "serve", "--no-migrate"], env)
    gridbot = Server("gridbot", f"http://127.0.0.1:{gb_port}/wechat", "gridbot",
                     gridbot_proc, procs.log_path("gridbot"))

    # WeRoBot, and optionally WeRoBot with its default SQLite sessions
    wr_env = base_env()
    wr_env.update({"BENCH_WECHAT_TOKEN": TOKEN, "BENCH_WECHAT_AES_KEY": AES_KEY,
                   "BENCH_WECHAT_APPID": APPID})
    werobot_app = str(HERE / "werobot_app.py")
    servers = [gridbot]
    starting = [(gridbot, gridbot_proc, f"http://127.0.0.1:{gb_port}/healthz", None)]
    variants = [("werobot", None)]
    if args.werobot_sessions:
        variants.append(("werobot-sessions", str(workdir / "werobot_session.sqlite3")))
    for name, sessions in variants:
        port = free_port()
        argv = [python, werobot_app, "--port", str(port), "--threads", str(args.werobot_threads)]
        if sessions:
            argv += ["--sessions", sessions]
        proc = procs.start(name, argv, wr_env)
        server = Server(name, f"http://127.0.0.1:{port}/", "werobot", proc,
                        procs.log_path(name))
        servers.append(server)
        query = official_account_verify_query(TOKEN, echostr="bench-echo")
        starting.append((server, proc, URL(f"{server.url}?{urlencode(query)}", encoded=True),
                         "bench-echo"))

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        for server, proc, url, expect in starting:
            try:
                await wait_until_up(session, url, proc, server.name, expect)
            except RuntimeError as exc:
                raise RuntimeError(f"{exc}\n{log_tail(server.log_path)}") from None

    db = Database(database_url)
    rng = random.Random(args.seed)
    next_msg_id = (int(time.time()) << 24) + rng.randrange(1 << 20)
    leg_timeout = args.leg_timeout or 60.0 + args.messages / 50.0
    legs: list[Leg] = []
    out = sys.stderr if args.json else sys.stdout

    def say(text: str) -> None:
        print(text, file=out, flush=True)

    try:
        # Warm-up: connections, lazy imports, token fetches, the org map cache. Not counted.
        warm = make_messages(WARMUP_MESSAGES, next_msg_id, rng)
        next_msg_id += len(warm)
        for server in servers:
            requests = encrypt_messages(warm)
            await run_leg(server, 0, requests, [m.msg_id for m in warm], args.concurrency,
                          leg_timeout)
        await drain(db, gridbot, args.drain_timeout)

        say(f"{'round':>5}  {'server':<17}{'sent':>6}{'ok':>7}{'bad':>5}{'msg/s':>9}"
            f"{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'srv cpu':>9}{'cli cpu':>9}  after")
        for round_no in range(1, args.rounds + 1):
            messages = make_messages(args.messages, next_msg_id, rng)
            next_msg_id += len(messages)
            msg_ids = [m.msg_id for m in messages]
            shift = (round_no - 1) % len(servers)
            for server in servers[shift:] + servers[:shift]:
                requests = encrypt_messages(messages)  # fresh timestamps, same messages
                before = await fake_stats(api_base) if server is gridbot else {}
                leg, answered, samples = await run_leg(
                    server, round_no, requests, msg_ids, args.concurrency, leg_timeout
                )
                server.check_alive()
                legs.append(leg)
                bad = leg.non_200 + leg.wrong_body + leg.errors + leg.unsent
                if server is gridbot:
                    stored = await db.by_status(answered)
                    leg.stored_of_answered = sum(stored.values())
                    leg.stored = sum((await db.by_status(msg_ids)).values())
                    after_text = f"stored {leg.stored_of_answered} of {leg.ok} answered"
                else:
                    problem = check_werobot_samples(samples)
                    if problem:
                        leg.notes.append(problem)
                    after_text = "; ".join(leg.notes) or "replies decrypt"
                    if server.name == "werobot-sessions":
                        after_text += (f"; exceptions in its log so far: "
                                       f"{_top(exceptions_in_log(server.log_path))}")
                say(f"{round_no:>5}  {leg.server:<17}{leg.sent:>6}{leg.ok:>7}{bad:>5}"
                    f"{leg.rate:>9.0f}{leg.p50_ms:>9.1f}{leg.p99_ms:>9.1f}{leg.max_ms:>9.1f}"
                    f"{_cores(leg.server_cores):>9}{_cores(leg.client_cores):>9}  {after_text}")
                if bad:
                    say(f"{'':>7}answers: {leg.statuses}, unsent {leg.unsent}")
                if server is gridbot:
                    leg.drained, leg.processed_s, leg.drain_s = await drain(
                        db, gridbot, args.drain_timeout)
                    final = await db.by_status(msg_ids)
                    leg.processed_done = final.get("done", 0)
                    leg.processed_failed = final.get("failed", 0)
                    handled = leg.processed_done + leg.processed_failed
                    leg.processing_rate = handled / (leg.wall_s + leg.processed_s)
                    after = await fake_stats(api_base)
                    sent_out = after.get("accepted", 0) - before.get("accepted", 0)
                    say(f"{'':>7}then gridbot handled {leg.processed_done} (failed "
                        f"{leg.processed_failed}) {leg.processed_s:.1f} s after the leg "
                        f"({leg.processing_rate:.0f} msg/s from the leg's start), and its "
                        f"outbox sent {sent_out} replies/pushes to the fake API "
                        + (f"{leg.drain_s:.1f} s after the leg" if leg.drained else
                           f"but had NOT DRAINED after {leg.drain_s:.0f} s"))
    finally:
        await db.close()

    return summarize(args, legs, servers, database_url, db.is_sqlite, say)


def _cores(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def summarize(
    args: argparse.Namespace, legs: Sequence[Leg], servers: Sequence[Server], database_url: str,
    sqlite: bool, say: Any,
) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for server in servers:
        mine = [leg for leg in legs if leg.server == server.name]
        if not mine:
            continue
        summary[server.name] = {
            "rate_median": statistics.median(leg.rate for leg in mine),
            "p50_ms_median": statistics.median(leg.p50_ms for leg in mine),
            "p99_ms_median": statistics.median(leg.p99_ms for leg in mine),
            "sent": sum(leg.sent for leg in mine),
            "ok": sum(leg.ok for leg in mine),
            "failed": sum(leg.non_200 + leg.wrong_body + leg.errors + leg.unsent
                          for leg in mine),
        }
    say("")
    say(f"{'medians':<18}{'msg/s':>9}{'p50 ms':>9}{'p99 ms':>9}   answered ok / sent")
    for name, s in summary.items():
        say(f"{name:<18}{s['rate_median']:>9.0f}{s['p50_ms_median']:>9.1f}"
            f"{s['p99_ms_median']:>9.1f}   {s['ok']} / {s['sent']}")
    g, w = summary.get("gridbot"), summary.get("werobot")
    if g and w and w["rate_median"] > 0:
        summary["ratio_gridbot_to_werobot"] = g["rate_median"] / w["rate_median"]
        per_round = [
            a.rate / b.rate
            for a in legs if a.server == "gridbot"
            for b in legs if b.server == "werobot" and b.round == a.round and b.rate > 0
        ]
        summary["ratio_per_round_median"] = statistics.median(per_round) if per_round else None
        say(f"throughput ratio gridbot / WeRoBot: {summary['ratio_gridbot_to_werobot']:.2f} "
            f"(median of the per-round ratios: {summary['ratio_per_round_median']:.2f})")
    gridbot_legs = [leg for leg in legs if leg.server == "gridbot"]
    stored = sum(leg.stored_of_answered or 0 for leg in gridbot_legs)
    answered = sum(leg.ok for leg in gridbot_legs)
    summary["gridbot_stored_of_answered"] = [stored, answered]
    say(f"gridbot stored {stored} of {answered} answered")
    rates = [leg.processing_rate for leg in gridbot_legs if leg.processing_rate is not None]
    if rates:
        summary["gridbot_processing_rate_median"] = statistics.median(rates)
        say(f"gridbot handled the stored messages (NLU, tickets, outbox rows) at a median "
            f"{summary['gridbot_processing_rate_median']:.0f} msg/s, leg start to last handled")
    if g:
        met = g["rate_median"] >= GRIDBOT_TARGET_RATE and g["p99_ms_median"] < GRIDBOT_TARGET_P99_MS
        summary["gridbot_target_met"] = met
        where = "SQLite" if sqlite else "this database"
        say(f"target on {where} (>= {GRIDBOT_TARGET_RATE:.0f} msg/s, p99 < "
            f"{GRIDBOT_TARGET_P99_MS:.0f} ms): {'met' if met else 'MISSED'}")
    ws = summary.get("werobot-sessions")
    if ws:
        found = exceptions_in_log(
            next(s.log_path for s in servers if s.name == "werobot-sessions"))
        ws["exceptions_in_log"] = dict(found)
        say(f"WeRoBot with SQLite sessions: {ws['failed']} of {ws['sent']} requests failed or "
            f"got no reply; exceptions in its log: {_top(found)}")
    return {
        "environment": environment(),
        "settings": {
            "messages": args.messages, "concurrency": args.concurrency, "rounds": args.rounds,
            "database_url": database_url, "werobot_threads": args.werobot_threads,
            "werobot_sessions": args.werobot_sessions,
        },
        "legs": [asdict(leg) for leg in legs],
        "summary": summary,
    }


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "-"


def environment() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "loadavg": load,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "sqlite": sqlite3.sqlite_version,
        "versions": {d: _version(d) for d in ("gridbot", "aiohttp", "SQLAlchemy", "aiosqlite",
                                              "WeRoBot", "waitress", "bottle", "cryptography")},
    }


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Post encrypted Official Account messages to gridbot and to WeRoBot; "
                    "print throughput and time-to-answer."
    )
    parser.add_argument("--messages", type=int, default=5000, help="messages per leg (5000)")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight (16)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds, each with one leg per server in alternating order (3)")
    parser.add_argument("--database-url", help="gridbot's database (a fresh SQLite file)")
    parser.add_argument("--werobot-sessions", action="store_true",
                        help="also run WeRoBot with its default SQLite session storage")
    parser.add_argument("--werobot-threads", type=int, default=16,
                        help="waitress worker threads for WeRoBot (16)")
    parser.add_argument("--no-demo", action="store_true",
                        help="do not load the demo estate into gridbot's database")
    parser.add_argument("--leg-timeout", type=float, default=0.0,
                        help="seconds a leg may take (60 + messages/50)")
    parser.add_argument("--drain-timeout", type=float, default=600.0,
                        help="seconds to wait for gridbot to process a leg's messages (600)")
    parser.add_argument("--seed", type=int, default=20240601, help="seed for the texts")
    parser.add_argument("--keep", action="store_true", help="keep the work directory and logs")
    parser.add_argument("--json", action="store_true",
                        help="print the results as JSON on stdout (the tables go to stderr)")
    parser.add_argument("--serve-fake-api", metavar="PORT_FILE", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_fake_api is None:
        for name in ("messages", "concurrency", "rounds", "werobot_threads"):
            value = getattr(args, name)
            if not 1 <= value <= 1_000_000:
                parser.error(f"--{name.replace('_', '-')} must be between 1 and 1000000")
    return args


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve_fake_api:
        return serve_fake_api(Path(args.serve_fake_api))

    env = environment()
    out = sys.stderr if args.json else sys.stdout
    print(f"gridbot ingest benchmark: {args.messages} messages x {args.rounds} rounds, "
          f"concurrency {args.concurrency}, WeRoBot on waitress with {args.werobot_threads} "
          f"threads", file=out)
    print(f"machine: {env['cpu']}, {env['cpu_count']} CPUs, load {env['loadavg']}; "
          f"Python {env['python']}, SQLite {env['sqlite']}; "
          + ", ".join(f"{k} {v}" for k, v in env["versions"].items()), file=out, flush=True)

    signal.signal(signal.SIGTERM, _terminate)
    workdir = Path(tempfile.mkdtemp(prefix="gridbot-bench-"))
    procs = Processes(workdir)
    try:
        result = asyncio.run(benchmark(args, procs, workdir))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        print(f"bench: {exc}", file=sys.stderr)
        for name in ("gridbot", "werobot", "werobot-sessions", "fake-api"):
            tail = log_tail(procs.log_path(name), 15)
            if tail:
                print(f"--- {name}.log (end) ---\n{tail}", file=sys.stderr)
        return 1
    finally:
        procs.stop_all()
        if args.keep:
            print(f"work directory kept: {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
