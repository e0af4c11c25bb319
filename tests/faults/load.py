"""Messages whose outcome is known, and a load generator that posts them as a group-chat
bridge would and records every answer.

Every message is a clear repair request naming its building, from a sender of its own, in
that building's bridge group of the demo estate (`b{n}@chatroom`). gridbot must answer each
one with exactly one ticket or one follow (a second report of the same facility in the same
building joins the first ticket), and exactly one reply @-mentioning its sender.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bot.channels import wechat_side
from bot.channels.bridge import SIGNATURE_HEADER, TIMESTAMP_HEADER, Bridge

BRIDGE_SECRET = "faults-bridge-secret"

# Each names its building and one facility; the NLU recognises every one of them as a
# repair request with that facility in all 96 buildings (checked by the conftest).
MATTERS = (
    "{n}号楼电梯坏了，困了人",
    "{n}号楼楼道灯不亮了",
    "{n}号楼门禁刷不开",
    "{n}号楼水管爆了在漏水",
    "{n}号楼下水道堵了",
    "{n}号楼的对讲机坏了没人修",
    "{n}号楼楼顶漏水了",
    "{n}号楼停电了",
)
BUILDINGS = tuple(range(1, 97))

_runs = itertools.count(1)


@dataclass
class Answer:
    status: int  # 0: no HTTP answer (connection refused, reset, timeout)
    body: Any
    seconds: float
    at: float


@dataclass
class Message:
    msg_id: str
    chat_id: str
    sender_id: str
    sender_name: str
    text: str
    building: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    raw_text: str | None = None  # JSON text for "text" written verbatim (escapes, NUL…)
    answers: list[Answer] = field(default_factory=list)
    target: int = 0  # which server it went to, when there are several

    @property
    def status(self) -> int | None:
        return self.answers[-1].status if self.answers else None

    @property
    def accepted(self) -> bool:
        """Answered 2xx (by any attempt): gridbot promised to handle it."""
        return any(200 <= a.status < 300 for a in self.answers)

    @property
    def duplicate(self) -> bool | None:
        for a in self.answers:
            if 200 <= a.status < 300 and isinstance(a.body, dict):
                return bool(a.body.get("duplicate"))
        return None

    def payload(self) -> dict[str, Any]:
        return {"msg_id": self.msg_id, "chat_id": self.chat_id, "chat_name": None,
                "sender_id": self.sender_id, "sender_name": self.sender_name,
                "text": self.text, "sent_at": int(time.time()), "mentions_bot": False,
                **self.extra}

    def request(self, secret: str = BRIDGE_SECRET) -> tuple[dict[str, str], bytes]:
        """Headers and body of a signed POST /bridge, stamped now."""
        payload = self.payload()
        if self.raw_text is None:
            return wechat_side.bridge_request(secret, payload)
        payload["text"] = _RAW
        body = json.dumps(payload, ensure_ascii=False).replace(
            f'"{_RAW}"', '"' + self.raw_text + '"').encode("utf-8")
        timestamp = int(time.time())
        return {"Content-Type": "application/json",
                TIMESTAMP_HEADER: str(timestamp),
                SIGNATURE_HEADER: Bridge(secret).sign(body, timestamp)}, body


_RAW = "@@raw-text@@"


def matters(count: int, *, buildings: Sequence[int] = BUILDINGS, tag: str | None = None,
            facilities: int = len(MATTERS)) -> list[Message]:
    """`count` repair requests spread over `buildings`, each from a new sender.

    Message i goes to building buildings[i % len] and names facility (i // len) % facilities,
    so the first report of a facility in a building opens a ticket and later ones follow it.
    """
    tag = tag or f"{next(_runs)}{uuid.uuid4().hex[:6]}"
    out = []
    for i in range(count):
        n = buildings[i % len(buildings)]
        template = MATTERS[(i // len(buildings)) % facilities]
        out.append(Message(
            msg_id=f"{tag}-{i}", chat_id=f"b{n}@chatroom", sender_id=f"wxid_{tag}_{i}",
            sender_name=f"居民{tag}{i}", text=template.format(n=n), building=n,
        ))
    return out


@dataclass
class LoadReport:
    messages: list[Message]
    seconds: float

    def statuses(self) -> Counter[int]:
        return Counter(m.status for m in self.messages if m.status is not None)

    @property
    def accepted(self) -> list[Message]:
        return [m for m in self.messages if m.accepted]

    def summary(self) -> str:
        answers = [a for m in self.messages for a in m.answers]
        times = sorted(a.seconds for a in answers) or [0.0]
        p = lambda q: times[min(len(times) - 1, int(q * len(times)))]  # noqa: E731
        return (f"posted {len(self.messages)} messages ({len(answers)} requests) in "
                f"{self.seconds:.1f}s: final answers {dict(sorted(self.statuses().items()))}, "
                f"latency p50 {p(0.5) * 1000:.0f} ms, p99 {p(0.99) * 1000:.0f} ms, "
                f"max {times[-1] * 1000:.0f} ms")


async def post(
    targets: Sequence[str] | Callable[[Message], str],
    messages: Sequence[Message],
    *,
    concurrency: int = 16,
    retry: bool = False,
    retry_for: float = 60.0,
    retry_pause: float = 0.5,
    timeout: float = 10.0,
    rate: float | None = None,
    secret: str = BRIDGE_SECRET,
) -> LoadReport:
    """POST every message to `<target>/bridge` from `concurrency` clients at once.

    `targets` is a list of base URLs (message i goes to targets[i % len]) or a function
    choosing one. With `rate`, messages are released at that many per second instead of all
    at once. With `retry`, a message answered 5xx or not at all is posted again after
    `retry_pause` seconds, as WeChat and bridges do, for up to `retry_for` seconds.
    """
    if callable(targets):
        choose = targets
    else:
        urls = list(targets)

        def choose(m: Message) -> str:
            return urls[m.target % len(urls)]

        for index, m in enumerate(messages):
            m.target = index % len(urls)

    queue: asyncio.Queue[Message] = asyncio.Queue()
    started = time.monotonic()
    give_up_at = started + retry_for + (len(messages) / rate if rate else 0.0)

    async def feed() -> None:
        for index, m in enumerate(messages):
            if rate:
                await asyncio.sleep(max(0.0, started + index / rate - time.monotonic()))
            queue.put_nowait(m)

    pending = len(messages)
    done = asyncio.Event()
    if not messages:
        done.set()

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal pending
        while not done.is_set():
            try:
                m = await asyncio.wait_for(queue.get(), 0.1)
            except TimeoutError:
                continue
            headers, body = m.request(secret)
            t0 = time.monotonic()
            try:
                async with session.post(choose(m) + "/bridge", data=body, headers=headers,
                                        timeout=aiohttp.ClientTimeout(total=timeout)) as r:
                    text = await r.text()
                    try:
                        parsed: Any = json.loads(text)
                    except ValueError:
                        parsed = text
                    m.answers.append(Answer(r.status, parsed, time.monotonic() - t0, time.time()))
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                m.answers.append(Answer(0, repr(exc), time.monotonic() - t0, time.time()))
            status = m.answers[-1].status
            if retry and (status == 0 or status >= 500) and time.monotonic() < give_up_at:
                await asyncio.sleep(retry_pause)
                queue.put_nowait(m)
                continue
            pending -= 1
            if pending == 0:
                done.set()

    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(feed(), *(client(session) for _ in range(concurrency)))
    return LoadReport(list(messages), time.monotonic() - started)
