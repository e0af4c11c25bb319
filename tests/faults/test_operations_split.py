"""Operating split processes: a web process and a worker on one PostgreSQL and Redis, with
JSON logs. Each serves its own /metrics and probes; the web process counts what came in,
the worker what it handled and sent, and every line each of them wrote is a JSON object
without a message's words. (Several workers sharing the work: test_roles, test_takeover.)"""

from __future__ import annotations

import asyncio
import json

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from . import ledger as ledger_
from .load import matters, post

MESSAGES = 60


async def figures(session: aiohttp.ClientSession, url: str) -> dict[tuple[str, str], float]:
    """(name, labels as text) → value, from one scrape."""
    async with session.get(url + "/metrics") as answer:
        assert answer.status == 200
        text = await answer.text()
    return {(s.name, json.dumps(s.labels, sort_keys=True)): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def total(scrape: dict[tuple[str, str], float], name: str, **labels: str) -> float:
    wanted = set(labels.items())
    return sum(value for (n, text), value in scrape.items()
               if n == name and wanted <= set(json.loads(text).items()))


async def test_web_and_workers_each_serve_metrics_probes_and_json_logs(
        pg_url, redis_server, fakes, gridbot):
    web = await gridbot(pg_url, redis_server.url, name="web", role="web", start=False)
    workers = [await gridbot(pg_url, redis_server.url, name="worker", role="worker",
                             start=False)]
    for process in (web, *workers):
        process.env["GRIDBOT_LOG_FORMAT"] = "json"
    await asyncio.gather(web.start(), *(w.start() for w in workers))

    messages = matters(MESSAGES)
    report = await post([web.url], messages, concurrency=8)
    assert report.statuses() == {200: MESSAGES}, report.summary()
    settled, _ = await ledger_.settle(pg_url, fakes.bridge, fakes.wecom, timeout=60,
                                      expect_stored=MESSAGES)
    assert settled

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        for process in (web, *workers):
            async with session.get(process.url + "/livez") as answer:
                assert answer.status == 200
            async with session.get(process.url + "/readyz") as answer:
                checks = (await answer.json())["checks"]
                assert answer.status == 200, checks
            expected = {"database": "ok", "redis": "ok"}
            if process.role == "worker":
                expected["nlu"] = "ok"
            assert checks == expected
        on_web = await figures(session, web.url)
        on_workers = [await figures(session, w.url) for w in workers]

    assert total(on_web, "gridbot_process", role="web") == 1
    assert total(on_web, "gridbot_messages_in_total", channel="bridge") == MESSAGES
    assert total(on_web, "gridbot_messages_handled_total") == 0  # a web process handles none
    for scrape in on_workers:
        assert total(scrape, "gridbot_process", role="worker") == 1
        assert total(scrape, "gridbot_messages_in_total") == 0  # a worker takes no callbacks
        assert total(scrape, "gridbot_outbox_pending") == 0
    assert sum(total(s, "gridbot_messages_handled_total") for s in on_workers) == MESSAGES
    assert sum(total(s, "gridbot_handling_seconds_count") for s in on_workers) == MESSAGES
    assert sum(total(s, "gridbot_sends_total", transport="bridge", result="sent")
               for s in on_workers) >= 1

    await asyncio.gather(web.stop(), *(w.stop() for w in workers))
    for process in (web, *workers):
        lines = [line for line in process.log().splitlines()
                 if line.strip() and not line.startswith("---- gridbot-faults:")]
        assert lines, process.name
        for line in lines:
            entry = json.loads(line)  # every line the process wrote
            assert {"time", "level", "logger", "message"} <= entry.keys()
        text = process.log()
        assert all(m.text not in text for m in messages)
