"""Web and worker processes scale apart: web processes take the callbacks and store the
messages, worker processes handle them and send; they hand each other the work through
Redis. Nothing is lost or doubled across the split."""

from __future__ import annotations

import asyncio
import subprocess

import aiohttp

from . import ledger as ledger_
from .load import matters, post
from .services import gridbot_command


async def test_web_and_worker_processes_split_the_work(pg_url, redis_server, fakes, gridbot):
    web = await gridbot(pg_url, redis_server.url, name="web", role="web", start=False)
    workers = [await gridbot(pg_url, redis_server.url, name=f"worker-{n}", role="worker",
                             start=False) for n in (1, 2)]
    await asyncio.gather(web.start(), *(w.start() for w in workers))
    async with aiohttp.ClientSession() as session:
        async with session.post(workers[0].url + "/bridge", data=b"{}") as answer:
            assert answer.status == 404  # a worker takes no callbacks
        async with session.get(workers[0].url + "/healthz") as answer:
            assert answer.status == 200
    messages = matters(300)
    report = await post([web.url], messages, concurrency=16)
    settled, waited = await ledger_.settle(pg_url, fakes.bridge, fakes.wecom, timeout=60,
                                           expect_stored=len(report.accepted))
    ledger = await ledger_.count(pg_url, messages, fakes.bridge, fakes.wecom,
                                 logs=[w.log() for w in workers])
    print(ledger.report(f"one web process, two workers ({waited:.1f}s)"))
    handled_by = {w.name: "took over" in w.log() or "processing" in w.log() for w in workers}
    print("worker logs:", {w.name: ledger_.read_log(w.log()).summary() for w in workers},
          handled_by)

    assert report.statuses() == {200: 300}, report.summary()
    assert settled and ledger.lost_count == 0 and ledger.doubled_count == 0, ledger.problems()
    assert "processing" not in web.log().lower() or not ledger_.read_log(web.log()).errors


def test_a_split_role_needs_redis(workdir, tmp_path):
    env_run = subprocess.run(
        [*gridbot_command("serve", "--role", "web", "--no-migrate")],
        env={"PATH": "/usr/bin:/bin", "GRIDBOT_DATABASE_URL":
             f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", "GRIDBOT_VAR_DIR": str(tmp_path)},
        capture_output=True, text=True, timeout=60, cwd=workdir)
    assert env_run.returncode == 2 and "GRIDBOT_REDIS_URL" in env_run.stderr
