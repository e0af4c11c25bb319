"""Two gridbot processes on one PostgreSQL and one Redis: messages spread over both are
each handled once, and a ticket whose accept deadline passed while no process ran is
escalated once — not once by each process."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime

from storage.demo import demo_yaml

from . import ledger as ledger_
from .load import matters, post
from .services import run_cli

MESSAGES = 400
ACCEPT_WITHIN = 10  # seconds: the accept deadline of the org file below
FIRST_ESCALATION = 5  # a deadline fires within about a second of its time


async def _over_two_processes(pg_url, redis_server, fakes, gridbot, messages, what: str):
    """`messages` posted to two gridbot processes at once, and once they settled, what
    came of them: (the load's report, the ledger, whether it settled)."""
    first = await gridbot(pg_url, redis_server.url, name="first", start=False)
    second = await gridbot(pg_url, redis_server.url, name="second", start=False)
    await asyncio.gather(first.start(), second.start())
    report = await post([first.url, second.url], messages, concurrency=16)
    print(report.summary())
    settled, waited = await ledger_.settle(pg_url, fakes.bridge, fakes.wecom, timeout=90,
                                           expect_stored=len(report.accepted))
    ledger = await ledger_.count(pg_url, messages, fakes.bridge, fakes.wecom,
                                 logs=[first.log(), second.log()])
    print(ledger.report(f"{len(messages)} {what} over two processes "
                        f"({'settled' if settled else 'NOT settled'} after {waited:.1f}s)"))
    for server in (first, second):
        print(f"{server.name} log:", ledger_.read_log(server.log()).summary())
    return report, ledger, settled


async def test_two_processes_share_the_load(pg_url, redis_server, fakes, gridbot):
    report, ledger, settled = await _over_two_processes(
        pg_url, redis_server, fakes, gridbot, matters(MESSAGES), "messages")
    assert report.statuses() == {200: MESSAGES}, report.summary()
    assert ledger.lost_count == 0 and ledger.doubled_count == 0, ledger.problems()
    assert settled


async def test_a_bridge_answering_too_late_gets_each_reply_once(pg_url, redis_server, fakes,
                                                               gridbot):
    """The bridge takes the first replies but answers them only after gridbot stopped
    waiting (a receiver stalled under load): those are sent again under their delivery id,
    which the bridge recognises, and every resident still hears once."""
    stalled = 8
    fakes.bridge.hang_next(stalled, seconds=6.0)
    report, ledger, settled = await _over_two_processes(
        pg_url, redis_server, fakes, gridbot, matters(100), "messages, the bridge stalled")
    assert report.statuses() == {200: 100}, report.summary()
    assert ledger.lost_count == 0 and ledger.doubled_count == 0, ledger.problems()
    assert settled
    timed_out = ledger.counts.get("outbox rows whose receiver did not answer in time", "")
    assert timed_out.startswith(f"{stalled} "), ledger.report()
    assert len(fakes.bridge.duplicates) == stalled, ledger.report()


async def test_reports_naming_their_building_from_unknown_chats_make_one_ticket_each(
        pg_url, redis_server, fakes, gridbot):
    """Residents report from chats gridbot knows no building of, naming the building: the
    reports of one matter in one building, spread over two processes at once, open one
    ticket and follow it — the named building is locked while each is decided."""
    messages = [replace(m, chat_id=f"elsewhere{n}@chatroom")
                for n, m in enumerate(matters(96, buildings=range(1, 7), facilities=2))]
    report, ledger, settled = await _over_two_processes(
        pg_url, redis_server, fakes, gridbot, messages, "messages from unknown chats")
    assert report.statuses() == {200: len(messages)}, report.summary()
    assert ledger.lost_count == 0 and ledger.doubled_count == 0, ledger.problems()
    assert settled
    assert ledger.counts["tickets"] == 6 * 2  # one per building and matter; the rest follow


def quick_accept_org(directory) -> str:
    text = demo_yaml()
    old = "accept: {emergency: 10m, normal: 2h}"
    assert old in text, "the demo's SLA table changed shape"
    path = directory / "org.yaml"
    path.write_text(text.replace(
        old, f"accept: {{emergency: {ACCEPT_WITHIN}s, normal: {ACCEPT_WITHIN}s}}"))
    return str(path)


async def test_two_processes_escalate_an_overdue_ticket_once(pg_url, redis_server, fakes,
                                                             gridbot, workdir, tmp_path):
    await asyncio.to_thread(run_cli, {"GRIDBOT_DATABASE_URL": pg_url}, "org", "import",
                            quick_accept_org(tmp_path), cwd=workdir)
    # One process opens the tickets, then stops before their accept deadline.
    opener = await gridbot(pg_url, redis_server.url, name="opener")
    messages = matters(48, buildings=range(1, 49), facilities=1)
    report = await post([opener.url], messages, concurrency=16)
    settled, _ = await ledger_.settle(pg_url, fakes.bridge, fakes.wecom, timeout=30, quiet=0.5)
    await opener.stop()
    snap = await ledger_.snapshot(pg_url)
    tickets = [t.id for t in snap.tickets]
    print(report.summary(), f"; {len(tickets)} tickets; opener stopped")
    assert settled and len(tickets) == len(messages)

    # Both processes start after every accept deadline has passed.
    engine_due = await _latest_accept_due(pg_url)
    await asyncio.sleep(max(0.0, (engine_due - datetime.now(UTC)).total_seconds() + 0.5))
    left = await gridbot(pg_url, redis_server.url, name="left", start=False)
    right = await gridbot(pg_url, redis_server.url, name="right", start=False)
    await asyncio.gather(left.start(), right.start())
    started = time.monotonic()

    async def escalated() -> Counter[int]:
        snap = await ledger_.snapshot(pg_url)
        return Counter(e.ticket_id for e in snap.events if e.kind == "escalated")

    async def some_escalated() -> bool:
        return bool(await escalated())

    async def all_escalated() -> bool:
        return len(await escalated()) >= len(tickets)

    await ledger_.until(some_escalated, FIRST_ESCALATION)
    first_after = time.monotonic() - started
    await ledger_.until(all_escalated, 10)
    settled, _ = await ledger_.settle(pg_url, fakes.bridge, fakes.wecom, timeout=20, quiet=3)

    counts = await escalated()
    accept_pushes = ledger_.text_pushes(fakes.wecom, "超过接单时限")
    resolve_pushes = ledger_.text_pushes(fakes.wecom, "超过办结时限")
    print(f"first escalation {first_after:.1f}s after both were up; escalations per ticket "
          f"{dict(Counter(counts[t] for t in tickets))}; pushes 超过接单时限 "
          f"{sum(accept_pushes.values())}, 超过办结时限 {sum(resolve_pushes.values())}")
    for server in (left, right):
        print(f"{server.name} log:", ledger_.read_log(server.log()).summary())

    assert counts, f"no ticket escalated within {FIRST_ESCALATION}s"
    never = [t for t in tickets if counts[t] == 0]
    twice = {t: counts[t] for t in tickets if counts[t] > 1}
    assert not never and not twice, f"never escalated: {never}; escalated more than once: {twice}"
    assert all(accept_pushes[t] == 1 for t in tickets), (
        f"accept-deadline pushes per ticket: {dict(accept_pushes)}")
    assert not resolve_pushes, (
        f"resolve deadline (not passed) pushed for tickets {sorted(resolve_pushes)}")


async def _latest_accept_due(db_url: str) -> datetime:
    from sqlalchemy import func, select

    from storage.models import Ticket

    engine = ledger_.reader(db_url)
    try:
        async with engine.connect() as c:
            return (await c.execute(select(func.max(Ticket.accept_due_at)))).scalar_one()
    finally:
        await engine.dispose()
