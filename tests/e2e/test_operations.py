"""Operating gridbot: /metrics on web and worker processes (names present and moving with a
message, a send, a duplicate, a refusal, a deadline), /livez and /readyz (503 while the
database or Redis is away), the metrics token, JSON log lines without message contents, and
WeCom's 30 app messages a minute to one member held in the outbox without counting tries."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select, update

from bot.app import create_app
from bot.channels import wechat_side
from bot.config import Settings
from bot.logs import configure
from bot.ratelimit import MemoryRateLimiter
from bot.runtime import Runtime
from storage.models import OutboxMessage
from tests.e2e.conftest import ADMIN_TOKEN, Spine
from tests.e2e.streets import move_clocks

TRAPPED = "3号楼电梯坏了，有人被困在里面出不来，快来人！"

#: Every family the README promises (counters without their _total).
FAMILIES = (
    "gridbot_messages_in", "gridbot_messages_duplicate", "gridbot_messages_refused",
    "gridbot_messages_handled", "gridbot_messages_failed", "gridbot_messages_retried",
    "gridbot_handling_seconds", "gridbot_batch_size", "gridbot_nlu_confidence",
    "gridbot_escalations", "gridbot_timers_fired", "gridbot_work_taken_over", "gridbot_sends",
    "gridbot_sends_held", "gridbot_outbox_pending", "gridbot_outbox_oldest_pending_seconds",
    "gridbot_outbox_dead", "gridbot_inbound_waiting", "gridbot_inbound_oldest_waiting_seconds",
    "gridbot_metrics_database_ok", "gridbot_process", "process_resident_memory_bytes",
)
FACILITIES = ("电梯坏了", "楼道灯不亮了", "门禁刷不开", "下水道堵了", "墙皮脱落了")


class Scrape:
    """One /metrics answer, parsed with prometheus-client's own parser."""

    def __init__(self, text: str) -> None:
        self.samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
        self.families: set[str] = set()
        for family in text_string_to_metric_families(text):
            self.families.add(family.name)
            for sample in family.samples:
                self.samples[(sample.name, frozenset(sample.labels.items()))] = sample.value

    def names(self) -> set[str]:
        return {name for name, _ in self.samples}

    def __call__(self, name: str, **labels: str) -> float:
        """The sum of `name`'s samples whose labels include `labels` (0 when none)."""
        wanted = set(labels.items())
        return sum(value for (n, have), value in self.samples.items()
                   if n == name and wanted <= have)


async def scrape(client: TestClient, headers: dict[str, str] | None = None) -> Scrape:
    response = await client.get("/metrics", headers=headers or {})
    assert response.status == 200, await response.text()
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return Scrape(await response.text())


async def handle_without_sending(spine: Spine) -> None:
    """Handle what is stored, leaving the outbox rows waiting."""
    await spine.runtime.processor.process_many(await spine.runtime.processor.pending())


async def test_metrics_move_with_messages_sends_and_deadlines(spine: Spine):
    before = await scrape(spine.client)  # no token: /metrics is for Prometheus
    assert set(FAMILIES) <= before.families
    assert before("gridbot_process", role="web") == 1
    assert before("gridbot_metrics_database_ok") == 1

    response = await spine.bridge_say(TRAPPED, msg_id="ops-1")
    assert response.status == 200
    assert (await spine.bridge_say(TRAPPED, msg_id="ops-1")).status == 200  # WeChat's retry
    bad = wechat_side.bridge_request("not-the-secret", {
        "msg_id": "ops-2", "chat_id": "b3@chatroom", "sender_id": "wxid_res1", "text": "hi",
        "sent_at": int(time.time())})
    assert (await spine.client.post("/bridge", data=bad[1], headers=bad[0])).status == 403
    stored = await scrape(spine.client)
    assert stored("gridbot_messages_in_total", channel="bridge") == \
        before("gridbot_messages_in_total", channel="bridge") + 1
    assert stored("gridbot_messages_duplicate_total", channel="bridge") == \
        before("gridbot_messages_duplicate_total", channel="bridge") + 1
    assert stored("gridbot_messages_refused_total", channel="bridge", status="403") == \
        before("gridbot_messages_refused_total", channel="bridge", status="403") + 1
    assert stored("gridbot_inbound_waiting") == 1
    assert stored("gridbot_inbound_oldest_waiting_seconds") >= 0

    await handle_without_sending(spine)
    handled = await scrape(spine.client)
    assert handled("gridbot_messages_handled_total") == before("gridbot_messages_handled_total") + 1
    assert handled("gridbot_messages_handled_total", outcome="ticket_created") == \
        before("gridbot_messages_handled_total", outcome="ticket_created") + 1
    assert handled("gridbot_handling_seconds_count") == before("gridbot_handling_seconds_count") + 1
    assert handled("gridbot_batch_size_count") == before("gridbot_batch_size_count") + 1
    assert handled("gridbot_nlu_confidence_count", intent="repair_request") == \
        before("gridbot_nlu_confidence_count", intent="repair_request") + 1
    assert handled("gridbot_inbound_waiting") == 0
    # The ticket's push to the worker and the group's answer wait in the outbox.
    assert handled("gridbot_outbox_pending") >= 2
    assert handled("gridbot_outbox_oldest_pending_seconds") >= 0

    await spine.settle()
    sent = await scrape(spine.client)
    assert sent("gridbot_outbox_pending") == 0
    assert sent("gridbot_outbox_oldest_pending_seconds") == 0
    for transport in ("bridge", "wecom_app"):
        assert sent("gridbot_sends_total", transport=transport, result="sent") > \
            before("gridbot_sends_total", transport=transport, result="sent")

    # Nobody accepts within the accept deadline: the timer fires and the ticket escalates.
    move_clocks(spine, timedelta(hours=2, minutes=5))
    await spine.settle()
    later = await scrape(spine.client)
    assert later("gridbot_timers_fired_total", kind="accept_due") == \
        before("gridbot_timers_fired_total", kind="accept_due") + 1
    assert later("gridbot_escalations_total", source="timer") == \
        before("gridbot_escalations_total", source="timer") + 1

    async with spine.runtime.sessions() as session, session.begin():
        row_id = (await session.execute(select(OutboxMessage.id).limit(1))).scalar_one()
        await session.execute(update(OutboxMessage).where(OutboxMessage.id == row_id)
                              .values(status="dead"))
    assert (await scrape(spine.client))("gridbot_outbox_dead") == 1


async def test_sends_that_fail_are_counted_as_retries(spine: Spine):
    before = await scrape(spine.client)
    spine.bridge.fail_next(1, status=503)
    await spine.bridge_say(TRAPPED)
    await spine.runtime.processor.process_many(await spine.runtime.processor.pending())
    await spine.runtime.outbox.run_once()
    after = await scrape(spine.client)
    assert after("gridbot_sends_total", transport="bridge", result="retry") == \
        before("gridbot_sends_total", transport="bridge", result="retry") + 1
    assert after("gridbot_outbox_pending") >= 1


async def test_a_worker_process_serves_its_probes_and_metrics(spine: Spine, nlu_model: Any):
    worker = Runtime(spine.settings, nlu_loader=lambda: nlu_model)
    app = create_app(worker, workers=True, web_routes=False, token=ADMIN_TOKEN)
    async with TestClient(TestServer(app)) as client:
        assert (await client.get("/livez")).status == 200
        ready = await client.get("/readyz")
        assert ready.status == 200
        assert await ready.json() == {"ready": True, "checks": {"database": "ok", "nlu": "ok"}}
        assert (await client.get("/healthz")).status == 200
        assert (await client.get("/api/v1/tickets", headers=spine.auth)).status == 404
        before = await scrape(client)
        assert before("gridbot_process", role="worker") == 1

        await spine.bridge_say(TRAPPED)  # the web process stores it ...
        await worker.drain()  # ... the worker handles it and sends
        after = await scrape(client)
        assert after("gridbot_messages_handled_total") == \
            before("gridbot_messages_handled_total") + 1
        assert after("gridbot_outbox_pending") == 0
        assert len(spine.group_posts()) == 1


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_readiness_fails_while_the_database_and_redis_are_away(tmp_path: Path):
    port = closed_port()
    settings = Settings(database_url=f"postgresql+asyncpg://gridbot@127.0.0.1:{port}/gridbot",
                        redis_url=f"redis://127.0.0.1:{port}/0", var_dir=tmp_path,
                        admin_token=ADMIN_TOKEN, simulator=False)
    app = create_app(Runtime(settings), workers=False, token=ADMIN_TOKEN)
    async with TestClient(TestServer(app)) as client:
        started = time.monotonic()
        live = await client.get("/livez")
        assert live.status == 200 and await live.json() == {"ok": True}
        ready = await client.get("/readyz")
        assert ready.status == 503
        assert await ready.json() == {"ready": False, "checks": {
            "database": "unreachable", "redis": "unreachable"}}
        assert (await client.get("/healthz")).status == 503
        figures = await scrape(client)  # the scrape still answers, and says what it lacks
        assert figures("gridbot_metrics_database_ok") == 0
        assert "gridbot_outbox_pending" not in figures.names()
        assert time.monotonic() - started < 8  # each check is bounded in time


async def test_the_web_process_is_ready_with_its_database(spine: Spine):
    ready = await spine.client.get("/readyz")
    assert ready.status == 200
    assert await ready.json() == {"ready": True, "checks": {"database": "ok"}}


async def test_metrics_can_ask_for_a_token(tmp_path: Path):
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'gridbot.db'}",
                        var_dir=tmp_path, metrics_token="scrape-me", simulator=False)
    from storage.migrate import upgrade_sync

    await asyncio.to_thread(upgrade_sync, settings.database_url)
    app = create_app(Runtime(settings), workers=False, token=ADMIN_TOKEN)
    async with TestClient(TestServer(app)) as client:
        assert (await client.get("/metrics")).status == 401
        wrong = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        assert (await client.get("/metrics", headers=wrong)).status == 401
        figures = await scrape(client, {"Authorization": "Bearer scrape-me"})
        assert figures("gridbot_metrics_database_ok") == 1
        assert (await client.get("/livez")).status == 200  # the probes need no token


# -- JSON logs ----------------------------------------------------------------------------------

@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    """gridbot's own logging set up for JSON at DEBUG into a buffer; pytest's restored after."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    buffer = io.StringIO()
    configure("json", verbose=True, stream=buffer, force=True)
    try:
        yield buffer
    finally:
        for handler in root.handlers[:]:
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)


def test_gridbot_run_inside_a_program_with_logging_keeps_its_handlers():
    """`gridbot` commands called in-process (the tests, another program) leave a root logger
    that already has handlers alone, as logging.basicConfig does: no handler bound to a
    stream that is later closed."""
    root = logging.getLogger()
    before = root.handlers[:]
    assert before  # pytest's own
    assert configure("json") is None
    assert root.handlers == before


async def test_json_log_lines_parse_and_carry_no_message_text(spine: Spine,
                                                              json_logs: io.StringIO):
    words = "7号楼水管爆了在漏水，我电话13912345678"
    spine.bridge.fail_next(1, status=503)  # a send that fails is logged with its fields
    await spine.bridge_say(words, chat="b3@chatroom")
    bad = wechat_side.bridge_request("not-the-secret", {
        "msg_id": "ops-json", "chat_id": "b3@chatroom", "sender_id": "wxid_res1",
        "text": words, "sent_at": int(time.time())})
    await spine.client.post("/bridge", data=bad[1], headers=bad[0])
    await spine.runtime.processor.process_many(await spine.runtime.processor.pending())
    await spine.runtime.outbox.run_once()
    try:
        raise RuntimeError("a traceback")
    except RuntimeError:
        logging.getLogger("gridbot.test").exception("an error with its traceback")

    lines = json_logs.getvalue().splitlines()
    assert lines
    entries = [json.loads(line) for line in lines]  # every line is one JSON object
    for entry in entries:
        assert {"time", "level", "logger", "message"} <= entry.keys()
        assert entry["time"].endswith("Z")
    text = json_logs.getvalue()
    for secret in ("水管爆了", "13912345678", "7号楼"):
        assert secret not in text
    retried = [e for e in entries if e.get("outbox_id") is not None]
    assert retried and retried[0]["transport"] == "bridge" and retried[0]["level"] == "WARNING"
    assert any(e["logger"] == "gridbot.channels" and "refused bridge" in e["message"]
               for e in entries)
    [error] = [e for e in entries if e["logger"] == "gridbot.test"]
    assert error["level"] == "ERROR" and "RuntimeError: a traceback" in error["exception"]


# -- WeCom's limit for app messages to one member -------------------------------------------------

async def test_app_messages_to_one_member_keep_to_wecoms_rate_without_counting_tries(
        spine: Spine):
    limit, window = 3, 1.5
    spine.runtime.outbox.app_limiter = MemoryRateLimiter(limit, window)
    before = await scrape(spine.client)
    for n, problem in enumerate(FACILITIES):  # five tasks for the same worker at once
        await spine.bridge_say(f"3号楼{problem}", sender=f"wxid_r{n}")
    await spine.runtime.processor.process_many(await spine.runtime.processor.pending())
    await spine.runtime.outbox.run_once()
    cards = [p for p in spine.pushes() if p["touser"] == "zhangwg"]
    assert len(cards) == limit  # the rest wait for the window, in the outbox
    async with spine.runtime.sessions() as session:
        rows = (await session.execute(select(OutboxMessage).where(
            OutboxMessage.transport == "wecom_app"))).scalars().all()
    waiting = [r for r in rows if r.status == "pending"]
    assert len(waiting) == 5 - limit and {r.attempts for r in waiting} == {0}
    assert (await scrape(spine.client))("gridbot_sends_held_total", transport="wecom_app") > \
        before("gridbot_sends_held_total", transport="wecom_app")

    deadline = time.monotonic() + 10
    while len([p for p in spine.pushes() if p["touser"] == "zhangwg"]) < 5:
        assert time.monotonic() < deadline, "the held messages were never sent"
        await spine.runtime.outbox.run_once()
        await asyncio.sleep(0.05)
    at = [m["at"] for m in spine.wecom.delivered
          if m["path"] == "/cgi-bin/message/send" and m["json"]["touser"] == "zhangwg"]
    assert at[limit] - at[0] >= window - 0.01  # never more than `limit` within a window
    async with spine.runtime.sessions() as session:
        rows = (await session.execute(select(OutboxMessage).where(
            OutboxMessage.transport == "wecom_app"))).scalars().all()
    assert {r.status for r in rows} == {"sent"} and {r.attempts for r in rows} == {1}


# -- a real `gridbot serve` -----------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]


def spawn_gridbot(env: dict[str, str], output: Path, cwd: Path) -> subprocess.Popen[bytes]:
    """`gridbot serve` of this tree, its stdout and stderr into `output`."""
    with open(output, "wb") as log:
        return subprocess.Popen([sys.executable, "-m", "bot.cli", "serve"], env=env,
                                stdout=log, stderr=subprocess.STDOUT, cwd=cwd)


async def test_gridbot_serve_writes_json_lines_and_serves_its_probes(tmp_path: Path,
                                                                    nlu_model: Any):
    from nlu.service import ACTIVE

    nlu_model.save(tmp_path / "models" / ACTIVE)  # so that the process trains nothing
    port = closed_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("GRIDBOT_")},
           "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1",
           "GRIDBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'gridbot.db'}",
           "GRIDBOT_PORT": str(port), "GRIDBOT_VAR_DIR": str(tmp_path),
           "GRIDBOT_ADMIN_TOKEN": ADMIN_TOKEN, "GRIDBOT_SIMULATOR": "0",
           "GRIDBOT_LOG_FORMAT": "json"}
    output = tmp_path / "gridbot.log"
    process = spawn_gridbot(env, output, tmp_path)
    try:
        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
            deadline = time.monotonic() + 60
            while "gridbot serving on" not in output.read_text():
                assert process.poll() is None and time.monotonic() < deadline, \
                    output.read_text()
                await asyncio.sleep(0.02)
            # Said once the port takes connections: a newcomer's browser finds it there.
            async with session.get(base + "/livez") as answer:
                assert answer.status == 200
            while True:
                assert process.poll() is None, output.read_text()
                try:
                    async with session.get(base + "/readyz") as answer:
                        if answer.status == 200:
                            assert (await answer.json())["checks"] == {
                                "database": "ok", "nlu": "ok"}
                            break
                except aiohttp.ClientError:
                    pass
                assert time.monotonic() < deadline, output.read_text()
                await asyncio.sleep(0.1)
            async with session.get(base + "/metrics") as answer:
                figures = Scrape(await answer.text())
            assert figures("gridbot_process", role="all") == 1
            assert figures("gridbot_metrics_database_ok") == 1
    finally:
        process.terminate()
        await asyncio.to_thread(process.wait, 15)
    lines = output.read_text().splitlines()
    entries = [json.loads(line) for line in lines]  # stdout and stderr: JSON lines only
    messages = [e["message"] for e in entries]
    assert any(m.startswith("gridbot serving on") for m in messages), messages
    assert "role: all" in messages


# -- the proxy in another container ---------------------------------------------------------------

def test_sign_in_sees_the_client_behind_a_trusted_proxy():
    """In Compose the proxy is another container: its X-Forwarded-For names the client only
    when GRIDBOT_TRUSTED_PROXIES lists it, so one guesser cannot hold back everyone."""
    from types import SimpleNamespace
    from unittest import mock

    from aiohttp import web
    from aiohttp.test_utils import make_mocked_request

    from bot.appkeys import RUNTIME
    from bot.auth.routes import client_address

    settings = Settings.from_env({"GRIDBOT_TRUSTED_PROXIES": "172.30.0.10"}, dotenv=Path("-"))
    app = web.Application()
    app[RUNTIME] = SimpleNamespace(settings=settings)  # type: ignore[assignment]

    def seen(peer: str, forwarded: str = "198.51.100.9, 203.0.113.7") -> str:
        transport = mock.Mock()
        transport.get_extra_info.return_value = (peer, 40000)
        request = make_mocked_request("POST", "/auth/login", app=app, transport=transport,
                                      headers={"X-Forwarded-For": forwarded})
        return client_address(request)

    assert seen("172.30.0.10") == "203.0.113.7"  # the address the proxy saw
    assert seen("127.0.0.1") == "203.0.113.7"  # a proxy on this machine, as before
    assert seen("172.30.0.11") == "172.30.0.11"  # anyone else cannot claim an address
    with pytest.raises(ValueError, match="GRIDBOT_TRUSTED_PROXIES"):
        Settings.from_env({"GRIDBOT_TRUSTED_PROXIES": "the-proxy"}, dotenv=Path("-"))


def test_the_readme_names_every_metric_gridbot_serves():
    from bot import metrics

    served = {name for name in (f.name for f in metrics.REGISTRY.collect())
              if name.startswith("gridbot_")}
    served |= {"gridbot_metrics_database_ok", "gridbot_outbox_pending",
               "gridbot_outbox_oldest_pending_seconds", "gridbot_outbox_dead",
               "gridbot_inbound_waiting", "gridbot_inbound_oldest_waiting_seconds"}
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Scaling out"):readme.index("## Security and failure")]
    named = {re.sub(r"_(total|bucket|count|sum)$", "", n)
             for n in re.findall(r"\bgridbot_[a-z_]+", section)}
    assert served <= named, served - named
    assert named <= served, named - served


async def test_a_backlog_is_handled_a_full_batch_to_a_transaction(spine: Spine):
    """Messages that arrived together are handled as many to a transaction as a worker reads
    from the work queue at once, also on SQLite while more are still arriving (its intake
    shares the one writer with them): a batch costs about as much whatever it holds."""
    from bot.workqueue import READ_AT_ONCE

    count = READ_AT_ONCE + READ_AT_ONCE // 2
    before = await scrape(spine.client)
    for n in range(count):
        response = await spine.bridge_say(f"今天天气不错，出去走走{n}", sender=f"wxid_backlog{n}",
                                          msg_id=f"backlog-{n}")
        assert response.status == 200
    await spine.settle()  # at once: the last message came in a moment ago
    after = await scrape(spine.client)
    assert after("gridbot_messages_handled_total") - \
        before("gridbot_messages_handled_total") == count
    assert after("gridbot_batch_size_count") - before("gridbot_batch_size_count") == 2
    assert after("gridbot_batch_size_sum") - before("gridbot_batch_size_sum") == count
